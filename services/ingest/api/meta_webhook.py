"""The Meta webhook: one URL for every page and WhatsApp number of the app.

Meta sends every subscribed page (and WhatsApp number) of an app to the one callback URL
configured in the app, so the channel is found from the payload: ``entry[].id`` (the page
id) for Messenger and Page comments, ``metadata.phone_number_id`` for WhatsApp; each is a
connected channel's ``external_id``.

- ``GET /v1/meta/webhook?hub.mode=subscribe&hub.verify_token=...&hub.challenge=...``
  echoes the challenge when the verify token is that of a connected Meta channel.
- ``POST /v1/meta/webhook`` must be ``application/json``, as Meta sends it (415 otherwise),
  and signed (``X-Hub-Signature-256``) with the app secret of every channel it names;
  otherwise 401 ``signature_invalid`` and nothing is produced: the same answer for a
  missing or wrong signature, an unknown page and a body that is not JSON, so a prober
  learns nothing about which pages are connected. 200 means every message in it is on Kafka (acks=all); if the broker cannot take them the answer is 503 and Meta retries.
  A message with files is recorded in ingest's database instead, and published with its
  files once they are fetched, after the answer (:mod:`services.ingest.consumers.meta_media`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from prometheus_client import Counter
from pydantic import BaseModel

from services.ingest.consumers.meta_media import DeferredMedia, held
from services.ingest.domain.meta import (
    ChannelRef,
    Event,
    MalformedWebhook,
    MediaRef,
    StatusUpdate,
    VisitorMessage,
    channels_named,
    parse_webhook,
)
from services.ingest.domain.meta_signature import signature_valid
from services.ingest.store import channels as store
from shared import topics
from shared.events import (
    DeliveryStatusReported,
    Envelope,
    InboundMessageReceived,
)
from shared.http import ApiError
from shared.kafka import publish

log = logging.getLogger(__name__)
WEBHOOKS = Counter("interact_meta_webhooks_total", "Meta webhook POSTs, by answer.", ["outcome"])
router = APIRouter(prefix="/v1/meta", tags=["meta"])
PUBLISH_TIMEOUT_S = 10.0
#: Meta batches up to 1000 updates; a sane ceiling, not a limit it hits (app.state.body_limits).
MAX_BODY_BYTES = 3_000_000
#: The one answer to every forged or unverifiable POST (docs/security.md, T6).
FORGED = ApiError(
    401, "signature_invalid", "X-Hub-Signature-256 is missing or does not match the body."
)
#: HMAC key of the check when no named channel is known (the same work as a real check).
UNKNOWN_SECRET = secrets.token_hex(32)
#: Event ids derived from the channel's ids: a replayed webhook makes the very same event.
EVENT_NAMESPACE = uuid.UUID("6f1c9a52-3c1e-4f5e-9f5e-0a7d3b1c2e11")


class Received(BaseModel):
    messages: int
    statuses: int


@router.get(
    "/webhook",
    response_class=PlainTextResponse,
    summary="Webhook verification (Meta's subscribe handshake)",
)
async def verify(
    request: Request,
    mode: str = Query("", alias="hub.mode", max_length=50),
    verify_token: str = Query("", alias="hub.verify_token", max_length=500),
    challenge: str = Query("", alias="hub.challenge", max_length=500),
) -> PlainTextResponse:
    if mode != "subscribe" or not verify_token or not challenge:
        raise ApiError(400, "not_a_verification", "Expected hub.mode=subscribe with a token.")
    channels: store.MetaChannels = request.app.state.meta_channels
    if not await asyncio.to_thread(channels.verify_token_known, verify_token):
        raise ApiError(403, "verify_token_mismatch", "No connected channel has this verify token.")
    return PlainTextResponse(challenge)


@router.post("/webhook", response_model=Received, summary="Meta webhook events")
async def receive(request: Request) -> Received:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        WEBHOOKS.labels("unsupported_media_type").inc()
        raise ApiError(
            415,
            "unsupported_media_type",
            "A Meta webhook body is application/json.",
            {"content_type": media_type or None},
        )
    raw = await request.body()  # at most MAX_BODY_BYTES: shared.http.GuardBody refused more
    signature = request.headers.get("x-hub-signature-256") or ""
    # Nothing about the body or its pages is answered before the signature holds: the
    # channels named are looked up only for their app secrets, and a missing signature, a
    # wrong one, an unknown page or a body that is not JSON all get the one FORGED answer,
    # after the same HMAC work (a dummy secret when no channel is known).
    body = _json_object(raw)
    channels = await asyncio.to_thread(_channels, request, body) if body is not None else {}
    valid = {ref for ref, ch in channels.items() if signature_valid(raw, signature, ch.app_secret)}
    if not channels:
        signature_valid(raw, signature, UNKNOWN_SECRET)
    if not valid:
        outcome = "signature_missing" if not signature else "signature_mismatch"
        WEBHOOKS.labels("unknown_channel" if signature and not channels else outcome).inc()
        raise FORGED
    try:
        events = parse_webhook(body)
    except MalformedWebhook as exc:
        WEBHOOKS.labels("malformed").inc()
        raise ApiError(400, "malformed_webhook", f"Not a Meta webhook body: {exc}") from None
    if not signed_by_all(raw, signature, channels, events):  # signed for one, speaks for another
        WEBHOOKS.labels("signature_mismatch").inc()
        raise FORGED
    sent = await asyncio.to_thread(_sent, request, channels, events)
    every = envelopes_for(events, channels, sent, datetime.now(UTC))
    envelopes, with_files = held(every, _media_of(channels, events))
    deferred: DeferredMedia | None = getattr(request.app.state, "deferred_media", None)
    if deferred is None:  # no blob store: the messages go without their files
        envelopes = every
    elif with_files:  # accepted once recorded; fetched and published after the answer
        await asyncio.to_thread(deferred.record, with_files)
    try:
        await asyncio.wait_for(
            publish(request.app.state.service.broker, topics.INBOUND_MESSAGES, envelopes),
            getattr(request.app.state, "meta_publish_timeout_s", PUBLISH_TIMEOUT_S),
        )
    except Exception:
        WEBHOOKS.labels("broker_unavailable").inc()
        log.warning("webhook not stored; Meta will retry", exc_info=True)
        raise ApiError(503, "broker_unavailable", "Not stored; please retry.") from None
    WEBHOOKS.labels("accepted").inc()
    statuses = sum(1 for e in every if e.type == DeliveryStatusReported.__name__)
    return Received(messages=len(every) - statuses, statuses=statuses)


def signed_by_all(
    raw: bytes,
    signature: str,
    channels: dict[ChannelRef, store.MetaChannel],
    events: list[Event],
) -> bool:
    """Signed with the app secret of every channel that has events here (and of one at least:
    a page connected for one use only is still named for both)."""
    with_events = {e.channel for e in events} & channels.keys()
    valid = {ref for ref, ch in channels.items() if signature_valid(raw, signature, ch.app_secret)}
    return bool(valid) and with_events <= valid


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def _media_of(
    channels: dict[ChannelRef, store.MetaChannel], events: list[Event]
) -> dict[tuple[uuid.UUID, str], tuple[MediaRef, ...]]:
    """The files still at Meta of each message that has some (by channel and message id)."""
    return {
        (channels[e.channel].channel_id, e.channel_message_id[:512]): e.media
        for e in events
        if isinstance(e, VisitorMessage) and e.media and e.channel in channels
    }


def _channels(request: Request, body: dict[str, Any]) -> dict[ChannelRef, store.MetaChannel]:
    """The connected channels named in the body (for their app secrets)."""
    lookup: store.MetaChannels = request.app.state.meta_channels
    return {
        ref: ch
        for ref in channels_named(body)
        if (ch := lookup.by_external_id(ref.channel_type, ref.external_id)) is not None
    }


def _sent(
    request: Request, channels: dict[ChannelRef, store.MetaChannel], events: list[Event]
) -> dict[tuple[ChannelRef, str], store.SentMessage]:
    """Which status updates are about messages we sent."""
    lookup: store.MetaChannels = request.app.state.meta_channels
    sent: dict[tuple[ChannelRef, str], store.SentMessage] = {}
    for ref, ch in channels.items():
        ids = [
            e.channel_message_id for e in events if isinstance(e, StatusUpdate) and e.channel == ref
        ]
        found = store.sent_by_channel_ids(lookup.engine, ch.channel_id, ids)
        sent |= {(ref, cmid): s for cmid, s in found.items()}
    return sent


def envelopes_for(
    events: list[Event],
    channels: dict[ChannelRef, store.MetaChannel],
    sent: dict[tuple[ChannelRef, str], store.SentMessage],
    now: datetime,
) -> list[Envelope]:
    """Visitor messages of connected channels (their files still at Meta: see
    :mod:`.deferred`), and status updates of messages we sent."""
    out: list[Envelope] = []
    for e in events:
        channel = channels.get(e.channel)
        if channel is None:
            continue
        if isinstance(e, VisitorMessage):
            inbound = InboundMessageReceived(
                channel_id=channel.channel_id,
                channel_type=channel.channel_type,  # type: ignore[arg-type]
                channel_message_id=e.channel_message_id[:512],
                visitor_external_id=e.visitor_external_id[:512],
                visitor_name=e.visitor_name,
                content=e.content,
                received_at=e.sent_at or now,
            )
            key = f"in:{channel.channel_id}:{e.channel_message_id}"
            out.append(_wrap(inbound, channel.tenant_id, key, now))
        elif (ours := sent.get((e.channel, e.channel_message_id))) is not None:
            status = DeliveryStatusReported(
                conversation_id=uuid.UUID(ours.conversation_id),
                message_id=uuid.UUID(ours.message_id),
                status=e.status,
                channel_message_id=e.channel_message_id,
                error=e.error,
                at=e.at or now,
            )
            key = f"status:{channel.channel_id}:{e.channel_message_id}:{e.status}"
            out.append(_wrap(status, uuid.UUID(ours.tenant_id), key, now))
    return out


def _wrap(payload: Any, tenant_id: uuid.UUID, key: str, now: datetime) -> Envelope:
    return Envelope.wrap(
        payload,
        tenant_id=tenant_id,
        event_id=uuid.uuid5(EVENT_NAMESPACE, key),
        occurred_at=now,
    )
