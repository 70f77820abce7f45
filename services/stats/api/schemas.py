"""The dashboard API's shapes: the filters every report takes, and the answers."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import Query
from pydantic import BaseModel

from shared.events import ChannelType


class FilterEcho(BaseModel):
    period_from: date
    period_to: date
    bucket: str
    channel: str | None
    time_zone: str


class ReportBody(BaseModel):
    report: str
    filters: FilterEcho
    summary: dict[str, Any]
    breakdown: list[dict[str, Any]]
    series: list[dict[str, Any]]


class ChannelCount(BaseModel):
    channel_type: str
    conversations: int
    assigned: int


class ConversationsPerChannel(BaseModel):
    period_from: date
    period_to: date
    total: int
    channels: list[ChannelCount]


class Asked:
    """The filters every report takes, checked together so a refusal lists every reason."""

    def __init__(
        self,
        period_from: date | None = Query(
            None, alias="from", description="First local day (default: 29 days before 'to')"
        ),
        period_to: date | None = Query(
            None, alias="to", description="Last local day, included (default: today)"
        ),
        bucket: Literal["day", "week", "month"] = Query("day"),
        channel: ChannelType | None = Query(None),
        format: Literal["json", "csv"] = Query("json", description="csv: the series' rows"),
    ) -> None:
        self.period_from, self.period_to = period_from, period_to
        self.bucket, self.channel, self.format = bucket, channel, format
