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
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import Engine

from services.stats.api.schemas import (
    Asked,
    ChannelCount,
    ConversationsPerChannel,
    FilterEcho,
    ReportBody,
)
from services.stats.application import reports
from services.stats.store.view import Reader
from shared.access import ACCESS
from shared.auth import Caller, role_in

router = APIRouter(prefix="/v1/stats", tags=["statistics"])
dashboard = role_in(*sorted(ACCESS["statistics"]))
per_end_user = role_in(*sorted(ACCESS["statistics.per_end_user"]))


def _engine(request: Request) -> Engine:
    return request.app.state.service.engine


def _run(
    engine: Engine, name: str, who: Caller, asked: Asked, need_plan: str | None = None
) -> reports.Answer:
    with engine.connect() as conn:
        return reports.answer(
            Reader(conn),
            name,
            str(who.tenant_id),
            asked.period_from,
            asked.period_to,
            asked.bucket,
            asked.channel,
            need_plan,
        )


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
