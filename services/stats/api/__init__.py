"""The statistics dashboard API (SPEC §3.1.9)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import func, select

from services.stats.store import conversation_facts as facts
from shared.auth import Caller, role_in
from shared.http import ApiError

router = APIRouter(prefix="/v1/stats", tags=["statistics"])
dashboard = role_in("administrator", "manager", "analyst")


class ChannelCount(BaseModel):
    channel_type: str
    conversations: int
    assigned: int


class ConversationsPerChannel(BaseModel):
    period_from: datetime | None
    period_to: datetime | None
    total: int
    channels: list[ChannelCount]


@router.get("/conversations/per-channel", response_model=ConversationsPerChannel)
async def conversations_per_channel(
    request: Request,
    period_from: datetime | None = Query(None, alias="from"),
    period_to: datetime | None = Query(None, alias="to"),
    who: Caller = Depends(dashboard),
) -> ConversationsPerChannel:
    """Conversations received per channel (by ``opened_at``), and how many were assigned."""
    if period_from and period_to and period_from > period_to:
        raise ApiError(422, "invalid_period", "'from' must not be after 'to'.")
    scope = [facts.c.tenant_id == str(who.tenant_id)]
    if period_from:
        scope.append(facts.c.opened_at >= period_from)
    if period_to:
        scope.append(facts.c.opened_at < period_to)
    query = (
        select(
            facts.c.channel_type,
            func.count().label("conversations"),
            func.count(facts.c.first_assigned_at).label("assigned"),
        )
        .where(*scope)
        .group_by(facts.c.channel_type)
        .order_by(facts.c.channel_type)
    )
    with request.app.state.service.engine.connect() as conn:
        rows = conn.execute(query).all()
    channels = [ChannelCount(channel_type=r[0], conversations=r[1], assigned=r[2]) for r in rows]
    return ConversationsPerChannel(
        period_from=period_from,
        period_to=period_to,
        total=sum(c.conversations for c in channels),
        channels=channels,
    )
