"""Use cases of the website chat: a visitor writes, a reply is put in the visitor's mailbox,
the visitor reads it. Each publishes what follows on Kafka and says when it is safe to ack."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from faststream.kafka import KafkaBroker
from sqlalchemy import Engine, Table

from services.ingest import store as ingest_store
from services.ingest.webchat import file_store, store
from shared import events as ev
from shared import topics
from shared.kafka import Delivery, publish
from shared.purge import without_purged

PUBLISH_TIMEOUT_S = 10.0
#: Status events get ids derived from the message, so a republished status is deduplicated.
_STATUS_IDS = uuid.UUID("6f0b7c3e-2a51-4d1e-9a8e-0bc04a700001")


class BrokerUnavailable(RuntimeError):
    """Kafka did not acknowledge in time: nothing was accepted, the caller must retry."""


async def receive_visitor_message(
    broker: KafkaBroker,
    channel: store.WebchatChannel,
    *,
    visitor_id: str,
    client_id: str,
    text: str,
    visitor_name: str | None = None,
    locale: str | None = None,
    attachments: list[ev.Attachment] | None = None,
) -> datetime:
    """Publish the visitor's message; returns once Kafka has it (then it may be acked).

    ``client_id`` becomes the channel message id: the conversation service records a
    channel message once, so a resend after a lost ack is not a second message.
    """
    now = datetime.now(UTC)
    inbound = ev.InboundMessageReceived(
        channel_id=uuid.UUID(channel.channel_id),
        channel_type="webchat",
        channel_message_id=client_id,
        visitor_external_id=visitor_id,
        visitor_name=visitor_name,
        locale=locale,
        content=ev.MessageContent(kind="attachment", text=text, attachments=attachments)
        if attachments
        else ev.MessageContent(kind="text", text=text),
        received_at=now,
    )
    envelope = ev.Envelope.wrap(inbound, tenant_id=uuid.UUID(channel.tenant_id), occurred_at=now)
    try:
        # asyncio.timeout, not wait_for: no task wrapped around every publish
        async with asyncio.timeout(PUBLISH_TIMEOUT_S):
            await publish(broker, topics.INBOUND_MESSAGES, [envelope])
    except Exception:
        raise BrokerUnavailable("the message could not be stored") from None
    return now


def wanted(envelope: ev.Envelope) -> bool:
    """The directory's channel events and the replies to website-chat visitors."""
    if envelope.type in store.DIRECTORY_TYPES:
        return True
    if envelope.type == "VisitorErased":
        return True
    return (
        envelope.type == "OutboundMessageRequested"
        and envelope.payload.get("channel_type") == "webchat"
    )


def apply_batch(
    engine: Engine, batch: Sequence[Delivery], purged: Table | None = None
) -> list[store.MailboxMessage]:
    """One transaction for the batch; returns every website-chat reply of the batch as stored
    (new or redelivered: their status is (re)published after the commit). Events of a
    tenant purged before (``purged``: ``shared.purge``) are dropped."""
    stored: list[store.MailboxMessage] = []
    with engine.begin() as conn:
        if purged is not None:
            batch = without_purged(conn, purged, list(batch))
        for delivery in batch:
            payload, tenant_id = delivery.payload, delivery.envelope.tenant_id
            if isinstance(payload, ev.OutboundMessageRequested):
                if payload.channel_type == "webchat":
                    stored.append(store.put_in_mailbox(conn, tenant_id, payload))
                    file_store.keep_reply_files(conn, tenant_id, payload)
            elif isinstance(payload, ev.VisitorErased):  # docs/data-lifecycle.md
                file_store.forget_conversations(conn, tenant_id, payload.conversation_ids)
                store.forget_conversations(conn, tenant_id, payload.conversation_ids)
                ingest_store.forget_conversations(conn, tenant_id, payload.conversation_ids)
            else:
                store.apply_directory(conn, tenant_id, payload)
    return stored


def status_events(
    messages: Sequence[store.MailboxMessage], status: ev.DeliveryStatus
) -> list[ev.Envelope]:
    """``DeliveryStatusReported`` for each message, with a stable event id per status."""
    now = datetime.now(UTC)
    return [
        ev.Envelope.wrap(
            ev.DeliveryStatusReported(
                conversation_id=uuid.UUID(m.conversation_id),
                message_id=uuid.UUID(m.message_id),
                status=status,
                channel_message_id=f"{m.visitor_id}/{m.seq}",
                at=now,
            ),
            tenant_id=uuid.UUID(m.tenant_id),
            event_id=uuid.uuid5(_STATUS_IDS, f"{m.message_id}/{status}"),
            occurred_at=now,
        )
        for m in messages
    ]


async def report(broker: KafkaBroker, envelopes: Sequence[ev.Envelope]) -> None:
    await publish(broker, topics.INBOUND_MESSAGES, envelopes)
