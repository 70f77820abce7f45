"""End users, channels and presence (the parts of SPEC §3.1.2 and §3.1.5 the first slice needs)."""

from __future__ import annotations

import asyncio
import uuid

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy import func, select

from services.conversation.api.deps import Caller, caller, role_in, service
from services.conversation.api.schemas import (
    ChannelOut,
    EndUserOut,
    NewChannel,
    NewEndUser,
    Page,
    PresenceUpdate,
)
from services.conversation.bootstrap import ConversationService
from services.conversation.domain.directory import DirectoryError
from services.conversation.store import tables as t
from shared.events import HANDLING_ROLES
from shared.http import ApiError

router = APIRouter(prefix="/v1", tags=["administration"])
administrator = role_in("administrator")


@router.post("/users", status_code=201, response_model=EndUserOut)
async def create_user(
    body: NewEndUser,
    who: Caller = Depends(administrator),
    svc: ConversationService = Depends(service),
) -> EndUserOut:
    email = str(body.email).lower()
    with svc.engine.connect() as conn:
        taken = conn.execute(
            select(t.end_users.c.user_id).where(
                t.end_users.c.tenant_id == str(who.tenant_id), t.end_users.c.email == email
            )
        ).first()
        known_channels = set(
            conn.scalars(
                select(t.channels.c.channel_id).where(t.channels.c.tenant_id == str(who.tenant_id))
            )
        )
    if taken:
        raise ApiError(409, "email_taken", "Another end user of this tenant has that email.")
    unknown = [str(c) for c in body.channel_ids if str(c) not in known_channels]
    if unknown:
        raise ApiError(422, "unknown_channel", "No such channel.", {"channel_ids": unknown})
    if body.role not in HANDLING_ROLES and (body.languages or body.channel_ids or body.competences):
        raise ApiError(
            422, "skills_not_allowed", "Only administrators, managers and agents get skills."
        )

    def create() -> uuid.UUID:
        user_id = svc.directory.create_end_user(
            who.tenant_id,
            body.first_name,
            body.last_name,
            email,
            body.role,
            body.mother_tongue,
            languages=body.languages,
            channel_ids=body.channel_ids,
            competences=body.competences,
            capacity=body.capacity,
        )
        if body.password:
            svc.security.set_password(str(who.tenant_id), str(user_id), body.password)
        return user_id

    try:
        user_id = await asyncio.to_thread(create)
    except DirectoryError as exc:
        raise ApiError(422, "invalid_user", str(exc)) from None
    svc.changed()
    await svc.projector.catch_up()
    return _user(svc, who.tenant_id, user_id)


@router.get("/users", response_model=Page[EndUserOut])
async def list_users(
    offset: int = Query(0, ge=0),
    limit: int = Query(50, ge=1, le=200),
    who: Caller = Depends(administrator),
    svc: ConversationService = Depends(service),
) -> Page[EndUserOut]:
    scope = t.end_users.c.tenant_id == str(who.tenant_id)
    with svc.engine.connect() as conn:
        total = conn.scalar(select(func.count()).select_from(t.end_users).where(scope)) or 0
        rows = conn.execute(
            select(t.end_users)
            .where(scope)
            .order_by(t.end_users.c.last_name, t.end_users.c.user_id)
            .offset(offset)
            .limit(limit)
        ).all()
    return Page[EndUserOut](
        items=[EndUserOut.model_validate(r, from_attributes=True) for r in rows],
        total=total,
        offset=offset,
        limit=limit,
    )


def _user(svc: ConversationService, tenant_id: uuid.UUID, user_id: uuid.UUID) -> EndUserOut:
    with svc.engine.connect() as conn:
        row = conn.execute(
            select(t.end_users).where(
                t.end_users.c.tenant_id == str(tenant_id), t.end_users.c.user_id == str(user_id)
            )
        ).first()
    if row is None:
        raise ApiError(404, "not_found", "No such end user.")
    return EndUserOut.model_validate(row, from_attributes=True)


@router.post("/channels", status_code=201, response_model=ChannelOut)
async def connect_channel(
    body: NewChannel,
    who: Caller = Depends(administrator),
    svc: ConversationService = Depends(service),
) -> ChannelOut:
    channel_id = await asyncio.to_thread(
        svc.directory.connect_channel, who.tenant_id, body.channel_type, body.name
    )
    svc.changed()
    await svc.projector.catch_up()
    with svc.engine.connect() as conn:
        row = conn.execute(
            select(t.channels).where(t.channels.c.channel_id == str(channel_id))
        ).one()
    return ChannelOut.model_validate(row, from_attributes=True)


@router.get("/channels", response_model=list[ChannelOut])
async def list_channels(
    who: Caller = Depends(caller), svc: ConversationService = Depends(service)
) -> list[ChannelOut]:
    with svc.engine.connect() as conn:
        rows = conn.execute(
            select(t.channels)
            .where(t.channels.c.tenant_id == str(who.tenant_id))
            .order_by(t.channels.c.name)
        ).all()
    return [ChannelOut.model_validate(r, from_attributes=True) for r in rows]


@router.put("/me/presence", status_code=204, tags=["conversations"])
async def set_presence(
    body: PresenceUpdate, who: Caller = Depends(caller), svc: ConversationService = Depends(service)
) -> Response:
    if who.role not in HANDLING_ROLES:
        raise ApiError(403, "forbidden_for_role", "Analysts do not take conversations.")
    try:
        await asyncio.to_thread(
            svc.directory.set_presence, who.tenant_id, who.user_id, body.presence
        )
    except DirectoryError as exc:
        raise ApiError(409, "inactive_user", str(exc)) from None
    svc.changed()
    await svc.projector.catch_up()
    return Response(status_code=204)
