"""The website chat's plain JSON endpoint (Meta webhooks: ``meta_webhook.py``).

A message is accepted (202) only once Kafka has acknowledged it; if the broker cannot
take it the caller gets 503 and must retry, so no accepted message can be lost. The
widget itself talks over the socket of ``api/webchat.py``; this endpoint is
for servers and scripts, and for browsers it applies the same allowed origins.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from services.ingest.api.webchat import own_origin, public_host
from services.ingest.application import webchat
from shared.http import ApiError, client_address, rate_limited

router = APIRouter(prefix="/v1/webchat", tags=["website chat"])


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


@router.post(
    "/{public_key}/messages",
    status_code=202,
    response_model=Accepted,
    responses={429: {"description": "Too many messages from this visitor, address or site"}},
)
async def post_message(public_key: str, body: WebchatMessage, request: Request) -> Accepted:
    """A visitor message by plain HTTP; ``message_id`` makes retries safe. A request with an
    ``Origin`` header (a browser) must come from one of the channel's allowed origins."""
    chat = request.app.state.webchat
    here = own_origin(request.url.scheme, public_host(request.headers))
    channel = await webchat.channel_for_page(
        chat.channels, public_key, request.headers.get("origin"), here
    )
    verdict = await chat.limits.message(public_key, body.visitor_id, client_address(request))
    if not verdict.allowed:
        raise rate_limited(verdict.retry_after, "Too many messages; send again later.")
    message_id = body.message_id or str(uuid.uuid4())
    try:
        accepted_at = await webchat.receive_visitor_message(
            chat.broker,
            channel,
            visitor_id=body.visitor_id,
            client_id=message_id,
            text=body.text,
            visitor_name=body.visitor_name,
            locale=body.locale,
        )
    except webchat.BrokerUnavailable:
        raise ApiError(
            503, "broker_unavailable", "The message could not be stored; please retry."
        ) from None
    return Accepted(message_id=message_id, accepted_at=accepted_at)
