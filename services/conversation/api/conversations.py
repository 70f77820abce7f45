"""The agent's queue and a conversation's messages (SPEC §3.1.8)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query
from sqlalchemy import and_, func, or_, select

from services.conversation.api.deps import Caller, allowed, service
from services.conversation.api.schemas import ConversationDetail, ConversationOut, MessageOut, Page
from services.conversation.bootstrap import ConversationService
from services.conversation.store import tables as t
from shared.http import ApiError

router = APIRouter(prefix="/v1", tags=["conversations"])
handler = allowed("conversations")


@router.get("/queue", response_model=Page[ConversationOut], summary="My queue")
async def my_queue(
    offset: int = Query(0, ge=0, le=1_000_000),
    limit: int = Query(50, ge=1, le=200),
    who: Caller = Depends(handler),
    svc: ConversationService = Depends(service),
) -> Page[ConversationOut]:
    """Open conversations assigned to me and, when routing is off, the tenant's shared waiting queue."""
    c = t.conversations
    with svc.engine.connect() as conn:
        routing_enabled = conn.scalar(
            select(t.tenants.c.routing_enabled).where(t.tenants.c.tenant_id == str(who.tenant_id))
        )
        mine = and_(
            c.c.assignee_id == str(who.user_id), c.c.status.in_(("assigned", "in_progress"))
        )
        shared = and_(c.c.assignee_id.is_(None), c.c.status == "waiting")
        scope = and_(
            c.c.tenant_id == str(who.tenant_id), mine if routing_enabled else or_(mine, shared)
        )
        total = conn.scalar(select(func.count()).select_from(c).where(scope)) or 0
        rows = conn.execute(
            select(c)
            .where(scope)
            .order_by(c.c.opened_at, c.c.conversation_id)
            .offset(offset)
            .limit(limit)
        ).all()
    return Page[ConversationOut](
        items=[ConversationOut.model_validate(r, from_attributes=True) for r in rows],
        total=total,
        offset=offset,
        limit=limit,
    )


@router.get("/conversations/{conversation_id}", response_model=ConversationDetail)
async def conversation_detail(
    conversation_id: uuid.UUID,
    who: Caller = Depends(handler),
    svc: ConversationService = Depends(service),
) -> ConversationDetail:
    c, m = t.conversations, t.messages
    with svc.engine.connect() as conn:
        row = conn.execute(
            select(c).where(
                c.c.conversation_id == str(conversation_id), c.c.tenant_id == str(who.tenant_id)
            )
        ).first()
        if row is None:
            raise ApiError(404, "not_found", "No such conversation.")
        messages = conn.execute(
            select(m)
            .where(m.c.conversation_id == str(conversation_id))
            .order_by(m.c.at, m.c.message_id)
        ).all()
    detail = ConversationOut.model_validate(row, from_attributes=True).model_dump()
    return ConversationDetail(
        **detail, messages=[MessageOut.model_validate(r, from_attributes=True) for r in messages]
    )
