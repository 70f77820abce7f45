"""Channels (SPEC §3.1.5): the supported types, connecting and disconnecting, out-of-office."""

from __future__ import annotations

import asyncio
import uuid

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select

from services.conversation.api.deps import Caller, allowed, service
from services.conversation.api.schemas import (
    AllowedOrigins,
    ChannelOut,
    ChannelTypeOut,
    NewChannel,
    OutOfOffice,
)
from services.conversation.bootstrap import ConversationService
from services.conversation.domain.directory import ACCOUNT_KINDS, AccountConnectedElsewhere
from services.conversation.store import tables as t
from shared.http import ApiError
from shared.secrets import seal

router = APIRouter(prefix="/v1/channels", tags=["channels"])
administration = allowed("administration")

CHANNEL_TYPES = [
    ChannelTypeOut(
        channel_type="messenger",
        name="Facebook Messenger",
        needs_credentials=True,
        needs_option=None,
    ),
    ChannelTypeOut(
        channel_type="page_comments",
        name="Facebook Page comments",
        needs_credentials=True,
        needs_option=None,
    ),
    ChannelTypeOut(
        channel_type="whatsapp", name="WhatsApp", needs_credentials=True, needs_option=None
    ),
    ChannelTypeOut(
        channel_type="webchat", name="Website chat", needs_credentials=False, needs_option="sdk"
    ),
]
META = {c.channel_type for c in CHANNEL_TYPES if c.needs_credentials}


def _load(svc: ConversationService, tenant_id: uuid.UUID, channel_id: uuid.UUID) -> ChannelOut:
    with svc.engine.connect() as conn:
        row = conn.execute(
            select(t.channels).where(
                t.channels.c.tenant_id == str(tenant_id), t.channels.c.channel_id == str(channel_id)
            )
        ).first()
    if row is None:
        raise ApiError(404, "not_found", "No such channel.")
    return ChannelOut.model_validate(row, from_attributes=True)


@router.get("/types", response_model=list[ChannelTypeOut], summary="Supported channel types")
async def channel_types(_who: Caller = Depends(administration)) -> list[ChannelTypeOut]:
    return CHANNEL_TYPES


@router.get("", response_model=list[ChannelOut])
async def list_channels(
    who: Caller = Depends(administration), svc: ConversationService = Depends(service)
) -> list[ChannelOut]:
    with svc.engine.connect() as conn:
        rows = conn.execute(
            select(t.channels)
            .where(t.channels.c.tenant_id == str(who.tenant_id))
            .order_by(t.channels.c.name, t.channels.c.channel_id)
        ).all()
    return [ChannelOut.model_validate(r, from_attributes=True) for r in rows]


@router.post("", status_code=201, response_model=ChannelOut)
async def connect_channel(
    body: NewChannel,
    who: Caller = Depends(administration),
    svc: ConversationService = Depends(service),
) -> ChannelOut:
    """Meta channels need the page or phone number id and credentials; the website chat needs
    the SDK option. Credentials are sealed at once and never shown again."""
    sealed = None
    if body.channel_type in META:
        if body.external_id is None or body.credentials is None:
            raise ApiError(
                422,
                "credentials_required",
                "Meta channels need external_id (page or phone number id) and credentials.",
            )
        sealed = seal(
            body.credentials.model_dump(), svc.settings.channel_secrets_key.get_secret_value()
        )
        if body.allowed_origins:
            raise ApiError(422, "origins_not_used", "Only the website chat has allowed origins.")
    else:
        if body.credentials is not None or body.external_id is not None:
            raise ApiError(422, "credentials_not_used", "The website chat takes no credentials.")
        if not svc.directory.tenant(who.tenant_id).sdk_option:
            raise ApiError(
                403, "option_required", "The website chat needs the SDK option.", {"option": "sdk"}
            )
    try:
        _account_free_in_view(svc, who.tenant_id, body.channel_type, body.external_id)
        channel_id = await asyncio.to_thread(
            svc.directory.connect_channel,
            who.tenant_id,
            body.channel_type,
            body.name,
            body.external_id,
            sealed,
        )
    except AccountConnectedElsewhere as exc:
        raise _connected_elsewhere(exc) from None
    if body.out_of_office_message:
        await asyncio.to_thread(
            svc.directory.set_out_of_office, who.tenant_id, channel_id, body.out_of_office_message
        )
    if body.allowed_origins:
        await asyncio.to_thread(
            svc.directory.set_allowed_origins, who.tenant_id, channel_id, body.allowed_origins
        )
    await svc.after_change()
    return _load(svc, who.tenant_id, channel_id)


def _connected_elsewhere(exc: AccountConnectedElsewhere) -> ApiError:
    """409 that never names another tenant; the caller's own channel is named."""
    own = {"channel_id": str(exc.channel_id)} if exc.channel_id else None
    return ApiError(
        409,
        "account_connected_elsewhere",
        "This page or phone number is already connected in another channel; disconnect it"
        " there first.",
        own,
    )


def _account_free_in_view(
    svc: ConversationService, tenant_id: uuid.UUID, channel_type: str, external_id: str | None
) -> None:
    """Channels connected before accounts were claimed have no claim: the view says whether
    one of them uses the account (the claim in the directory decides for everything since)."""
    kind = ACCOUNT_KINDS.get(channel_type)
    if kind is None or external_id is None:
        return
    ch = t.channels.c
    same_kind = [c for c, k in ACCOUNT_KINDS.items() if k == kind]
    with svc.engine.connect() as conn:
        rows = conn.execute(
            select(ch.channel_id, ch.tenant_id, ch.channel_type).where(
                ch.external_id == external_id,
                ch.channel_type.in_(same_kind),
                ch.connected.is_(True),
            )
        ).all()
    for row in rows:
        if row.tenant_id != str(tenant_id):
            raise AccountConnectedElsewhere()
        if row.channel_type == channel_type:
            raise AccountConnectedElsewhere(uuid.UUID(row.channel_id))


@router.put("/{channel_id}/allowed-origins", response_model=ChannelOut)
async def set_allowed_origins(
    channel_id: uuid.UUID,
    body: AllowedOrigins,
    who: Caller = Depends(administration),
    svc: ConversationService = Depends(service),
) -> ChannelOut:
    """The websites (scheme://host[:port]) whose pages may open this website chat."""
    if _load(svc, who.tenant_id, channel_id).channel_type != "webchat":
        raise ApiError(422, "origins_not_used", "Only the website chat has allowed origins.")
    await asyncio.to_thread(
        svc.directory.set_allowed_origins,
        who.tenant_id,
        channel_id,
        sorted(set(body.allowed_origins)),
    )
    await svc.after_change()
    return _load(svc, who.tenant_id, channel_id)


@router.get("/{channel_id}", response_model=ChannelOut)
async def get_channel(
    channel_id: uuid.UUID,
    who: Caller = Depends(administration),
    svc: ConversationService = Depends(service),
) -> ChannelOut:
    return _load(svc, who.tenant_id, channel_id)


@router.put("/{channel_id}/out-of-office", response_model=ChannelOut)
async def set_out_of_office(
    channel_id: uuid.UUID,
    body: OutOfOffice,
    who: Caller = Depends(administration),
    svc: ConversationService = Depends(service),
) -> ChannelOut:
    """The message sent to visitors who write outside office hours (null: none)."""
    _load(svc, who.tenant_id, channel_id)
    await asyncio.to_thread(
        svc.directory.set_out_of_office, who.tenant_id, channel_id, body.message
    )
    await svc.after_change()
    return _load(svc, who.tenant_id, channel_id)


@router.delete("/{channel_id}", status_code=204)
async def disconnect_channel(
    channel_id: uuid.UUID,
    who: Caller = Depends(administration),
    svc: ConversationService = Depends(service),
) -> Response:
    if not _load(svc, who.tenant_id, channel_id).connected:
        raise ApiError(409, "already_disconnected", "The channel is already disconnected.")
    await asyncio.to_thread(svc.directory.disconnect_channel, who.tenant_id, channel_id)
    await svc.after_change()
    return Response(status_code=204)
