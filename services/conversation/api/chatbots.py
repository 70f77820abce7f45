"""Chatbot settings (SPEC §3.2.1, Bot plan): which bot answers first on which channel.

Supported platforms: a generic webhook bot (JSON in, JSON out) and Rasa's REST channel.
Anything else is refused with 422; a tenant outside the Bot plan gets 403.
"""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Depends, Response
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from services.conversation.api.deps import Caller, allowed, command, require_plan, run, service
from services.conversation.bootstrap import ConversationService
from shared.http import ApiError
from shared.outbound import OutboundPolicy, RefusedDestination
from shared.secrets import seal

router = APIRouter(prefix="/v1/chatbots", tags=["chatbot settings"])
administration = allowed("administration")


class ChatbotIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platform: Literal["webhook", "rasa"]
    url: AnyHttpUrl = Field(description="Webhook URL, or Rasa's .../webhooks/rest/webhook")
    token: str | None = Field(default=None, min_length=8, max_length=500)


class ChatbotOut(BaseModel):
    channel_id: uuid.UUID
    channel_name: str
    platform: str
    url: str


async def _rows(svc: ConversationService, tenant_id: uuid.UUID) -> list[ChatbotOut]:
    rows = await run(svc.queries.chatbots, tenant_id)
    return [
        ChatbotOut(
            channel_id=r.channel_id,
            channel_name=r.name,
            platform=r.chatbot_platform,
            url=r.chatbot_url,
        )
        for r in rows
    ]


@router.get("", response_model=list[ChatbotOut])
async def list_chatbots(
    who: Caller = Depends(administration), svc: ConversationService = Depends(service)
) -> list[ChatbotOut]:
    await require_plan(svc, who.tenant_id, "chatbot")
    return await _rows(svc, who.tenant_id)


@router.put("/{channel_id}", response_model=ChatbotOut)
async def connect_chatbot(
    channel_id: uuid.UUID,
    body: ChatbotIn,
    who: Caller = Depends(administration),
    svc: ConversationService = Depends(service),
) -> ChatbotOut:
    await require_plan(svc, who.tenant_id, "chatbot")
    await run(svc.administration.bot_may_serve, who.tenant_id, channel_id)
    try:
        await OutboundPolicy.from_settings(svc.settings).check(str(body.url), unresolved_ok=True)
    except RefusedDestination as refused:
        raise ApiError(
            422, "destination_not_allowed", f"This bot URL is refused: {refused}."
        ) from None
    sealed = (
        seal({"token": body.token}, svc.settings.channel_secrets_key.get_secret_value())
        if body.token
        else None
    )
    await command(
        svc,
        svc.directory.connect_chatbot,
        who.tenant_id,
        channel_id,
        body.platform,
        str(body.url),
        sealed,
    )
    return next(b for b in await _rows(svc, who.tenant_id) if b.channel_id == channel_id)


@router.delete("/{channel_id}", status_code=204)
async def disconnect_chatbot(
    channel_id: uuid.UUID,
    who: Caller = Depends(administration),
    svc: ConversationService = Depends(service),
) -> Response:
    await require_plan(svc, who.tenant_id, "chatbot")
    await command(svc, svc.directory.disconnect_chatbot, who.tenant_id, channel_id)
    return Response(status_code=204)
