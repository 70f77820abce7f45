"""The statistics dashboard API (SPEC §3.1.9): tabs for conversations, messages, end users.

Every report takes the same filters: ``from`` and ``to`` (local days in the tenant's time
zone, both included; default: the last 30 days), ``bucket`` (day, week or month) and
``channel``. The answer holds the summary, a breakdown and the series, all folded from
one query; ``format=csv`` exports the series' rows. The tenant always comes from the login.
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import Engine, select

from services.stats.application import reports
from services.stats.domain.buckets import InvalidFilters, period, today_in, zone
from services.stats.store import tenants
from shared.access import ACCESS
from shared.auth import Caller, role_in
from shared.events import ChannelType
from shared.http import ApiError

router = APIRouter(prefix="/v1/stats", tags=["statistics"])
dashboard = role_in(*sorted(ACCESS["statistics"]))
per_end_user = role_in(*sorted(ACCESS["statistics.per_end_user"]))


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


def _engine(request: Request) -> Engine:
    return request.app.state.service.engine


def _tenant(engine: Engine, tenant_id: str) -> tuple[str, str | None]:
    with engine.connect() as conn:
        row = conn.execute(
            select(tenants.c.time_zone, tenants.c.plan).where(tenants.c.tenant_id == tenant_id)
        ).first()
    return (row[0], row[1]) if row else ("UTC", None)


def _run(engine: Engine, name: str, who: Caller, asked: Asked, need_plan: str | None = None):  # type: ignore[no-untyped-def]
    tenant_id = str(who.tenant_id)
    time_zone, plan = _tenant(engine, tenant_id)
    if need_plan and plan != need_plan:
        raise ApiError(
            403, "plan_required", f"This needs the {need_plan} plan.", {"plan": need_plan}
        )
    try:
        asked_period = period(
            asked.period_from, asked.period_to, asked.bucket, today_in(zone(time_zone))
        )
    except InvalidFilters as exc:
        raise ApiError(422, "invalid_filters", str(exc), exc.reasons) from None
    filters = reports.Filters(tenant_id, asked_period, asked.channel)
    with engine.connect() as conn:
        report = reports.REPORTS[name](conn, filters)
    return report, filters, time_zone


async def _answer(request: Request, name: str, who: Caller, asked: Asked, **kw: Any) -> Any:
    report, filters, time_zone = await asyncio.to_thread(
        _run, _engine(request), name, who, asked, **kw
    )
    if asked.format == "csv":
        return Response(
            _csv(report),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{report.name}-'
                f'{filters.period.first_day}-{filters.period.last_day}.csv"'
            },
        )
    return ReportBody(
        report=report.name,
        filters=FilterEcho(
            period_from=filters.period.first_day,
            period_to=filters.period.last_day,
            bucket=filters.period.bucket,
            channel=filters.channel,
            time_zone=time_zone,
        ),
        summary=report.summary,
        breakdown=report.breakdown,
        series=report.series,
    )


def _csv(report: reports.Report) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=report.columns, extrasaction="ignore")
    writer.writeheader()
    for row in report.series:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


_CSV = {
    200: {
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "The report (JSON), or its series as CSV with format=csv",
    }
}


@router.get("/conversations", response_model=ReportBody, responses=_CSV)
async def conversations(
    request: Request, asked: Asked = Depends(), who: Caller = Depends(dashboard)
) -> Any:
    """Conversations received per channel; first response, queue wait and handling times."""
    return await _answer(request, "conversations", who, asked)


@router.get("/conversations/per-channel", response_model=ConversationsPerChannel)
async def conversations_per_channel(
    request: Request, asked: Asked = Depends(), who: Caller = Depends(dashboard)
) -> ConversationsPerChannel:
    """Conversations received per channel and how many were assigned (the short form)."""
    report, filters, _tz = await asyncio.to_thread(
        _run, _engine(request), "conversations", who, asked
    )
    channels = [
        ChannelCount(
            channel_type=r["channel_type"], conversations=r["conversations"], assigned=r["assigned"]
        )
        for r in report.breakdown
    ]
    return ConversationsPerChannel(
        period_from=filters.period.first_day,
        period_to=filters.period.last_day,
        total=report.summary["conversations"],
        channels=channels,
    )


@router.get("/conversations/per-hour", response_model=ReportBody, responses=_CSV)
async def conversations_per_hour(
    request: Request, asked: Asked = Depends(), who: Caller = Depends(dashboard)
) -> Any:
    """Conversations by the local hour of day they opened in."""
    return await _answer(request, "per-hour", who, asked)


@router.get("/conversations/per-topic", response_model=ReportBody, responses=_CSV)
async def conversations_per_topic(
    request: Request, asked: Asked = Depends(), who: Caller = Depends(dashboard)
) -> Any:
    """Conversations per topic they were archived under."""
    return await _answer(request, "per-topic", who, asked)


@router.get("/messages", response_model=ReportBody, responses=_CSV)
async def messages_per_conversation(
    request: Request, asked: Asked = Depends(), who: Caller = Depends(dashboard)
) -> Any:
    """Messages per conversation: average, median and distribution."""
    return await _answer(request, "messages", who, asked)


@router.get("/end-users", response_model=ReportBody, responses=_CSV)
async def conversations_per_end_user(
    request: Request, asked: Asked = Depends(), who: Caller = Depends(per_end_user)
) -> Any:
    """Conversations per end user (not for Analysts, SPEC §3)."""
    return await _answer(request, "per-end-user", who, asked)


@router.get("/bot", response_model=ReportBody, responses=_CSV)
async def bot_containment(
    request: Request, asked: Asked = Depends(), who: Caller = Depends(dashboard)
) -> Any:
    """Bot containment and handover wait (Bot plan)."""
    return await _answer(request, "bot", who, asked, need_plan="bot")
