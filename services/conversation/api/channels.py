"""Channels (SPEC §3.1.5): the supported types, connecting and disconnecting, out-of-office."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Response

from services.conversation.api.deps import Caller, allowed, command, run, service
from services.conversation.api.schemas import (
    AllowedOrigins,
    ChannelOut,
    ChannelTypeOut,
    NewChannel,
    OutOfOffice,
)
from services.conversation.bootstrap import ConversationService
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


async def _load(
    svc: ConversationService, tenant_id: uuid.UUID, channel_id: uuid.UUID
) -> ChannelOut:
    row = await run(svc.queries.channel, tenant_id, channel_id)
    return ChannelOut.model_validate(row, from_attributes=True)


@router.get("/types", response_model=list[ChannelTypeOut], summary="Supported channel types")
async def channel_types(_who: Caller = Depends(administration)) -> list[ChannelTypeOut]:
    return CHANNEL_TYPES


@router.get("", response_model=list[ChannelOut])
async def list_channels(
    who: Caller = Depends(administration), svc: ConversationService = Depends(service)
) -> list[ChannelOut]:
    rows = await run(svc.queries.channels, who.tenant_id)
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
    elif body.credentials is not None or body.external_id is not None:
        raise ApiError(422, "credentials_not_used", "The website chat takes no credentials.")
    channel_id = await command(
        svc,
        svc.administration.connect_channel,
        who.tenant_id,
        body.channel_type,
        body.name,
        body.external_id,
        sealed,
        body.out_of_office_message,
        body.allowed_origins,
    )
    return await _load(svc, who.tenant_id, channel_id)


@router.put("/{channel_id}/allowed-origins", response_model=ChannelOut)
async def set_allowed_origins(
    channel_id: uuid.UUID,
    body: AllowedOrigins,
    who: Caller = Depends(administration),
    svc: ConversationService = Depends(service),
) -> ChannelOut:
    """The websites (scheme://host[:port]) whose pages may open this website chat."""
    await command(
        svc,
        svc.administration.set_allowed_origins,
        who.tenant_id,
        channel_id,
        body.allowed_origins,
    )
    return await _load(svc, who.tenant_id, channel_id)


@router.get("/{channel_id}", response_model=ChannelOut)
async def get_channel(
    channel_id: uuid.UUID,
    who: Caller = Depends(administration),
    svc: ConversationService = Depends(service),
) -> ChannelOut:
    return await _load(svc, who.tenant_id, channel_id)


@router.put("/{channel_id}/out-of-office", response_model=ChannelOut)
async def set_out_of_office(
    channel_id: uuid.UUID,
    body: OutOfOffice,
    who: Caller = Depends(administration),
    svc: ConversationService = Depends(service),
) -> ChannelOut:
    """The message sent to visitors who write outside office hours (null: none)."""
    await command(
        svc, svc.administration.set_out_of_office, who.tenant_id, channel_id, body.message
    )
    return await _load(svc, who.tenant_id, channel_id)


@router.delete("/{channel_id}", status_code=204)
async def disconnect_channel(
    channel_id: uuid.UUID,
    who: Caller = Depends(administration),
    svc: ConversationService = Depends(service),
) -> Response:
    await command(svc, svc.administration.disconnect_channel, who.tenant_id, channel_id)
    return Response(status_code=204)
