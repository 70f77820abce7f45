"""Inbound endpoints. For now the website chat's plain JSON endpoint; Meta webhooks come next.

A message is accepted (202) only once Kafka has acknowledged it; if the broker cannot
take it the caller gets 503 and must retry, so no accepted message can be lost.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from shared import topics
from shared.events import Envelope, InboundMessageReceived, MessageContent
from shared.http import ApiError
from shared.kafka import publish

router = APIRouter(prefix="/v1/webchat", tags=["website chat"])
PUBLISH_TIMEOUT_S = 10.0


class WebchatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    visitor_id: str = Field(min_length=1, max_length=200, description="Stable id of the visitor")
    message_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="Client id, for safe retries"
    )
    text: str = Field(min_length=1, max_length=4000)
    visitor_name: str | None = Field(default=None, max_length=200)
    locale: str | None = Field(
        default=None, max_length=16, pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z]{2,4})?$"
    )


class Accepted(BaseModel):
    message_id: str
    accepted_at: datetime


@router.post("/{public_key}/messages", status_code=202, response_model=Accepted)
async def post_message(public_key: str, body: WebchatMessage, request: Request) -> Accepted:
    service = request.app.state.service
    channel = request.app.state.channels.get(public_key)
    if channel is None or channel.channel_type != "webchat":
        raise ApiError(404, "unknown_channel", "No connected website chat has this key.")
    now = datetime.now(UTC)
    message_id = body.message_id or str(uuid.uuid4())
    inbound = InboundMessageReceived(
        channel_id=uuid.UUID(channel.channel_id),
        channel_type="webchat",
        channel_message_id=message_id,
        visitor_external_id=body.visitor_id,
        visitor_name=body.visitor_name,
        locale=body.locale,
        content=MessageContent(kind="text", text=body.text),
        received_at=now,
    )
    envelope = Envelope.wrap(inbound, tenant_id=uuid.UUID(channel.tenant_id), occurred_at=now)
    try:
        await asyncio.wait_for(
            publish(service.broker, topics.INBOUND_MESSAGES, [envelope]), PUBLISH_TIMEOUT_S
        )
    except Exception:
        raise ApiError(
            503, "broker_unavailable", "The message could not be stored; please retry."
        ) from None
    return Accepted(message_id=message_id, accepted_at=now)
