"""Use cases of the website chat: a visitor writes, a reply is put in the visitor's mailbox,
the visitor reads it. Each publishes what follows on Kafka and says when it is safe to ack."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from faststream.kafka import KafkaBroker
from sqlalchemy import Connection

from services.ingest.domain.webchat import origin_allowed
from services.ingest.store import channels as ingest_store
from services.ingest.store import webchat as store
from services.ingest.store import webchat_files as file_store
from shared import events as ev
from shared import topics
from shared.errors import Refusal
from shared.kafka import publish

PUBLISH_TIMEOUT_S = 10.0
#: Status events get ids derived from the message, so a republished status is deduplicated.
_STATUS_IDS = uuid.UUID("6f0b7c3e-2a51-4d1e-9a8e-0bc04a700001")


class BrokerUnavailable(RuntimeError):
    """Kafka did not acknowledge in time: nothing was accepted, the caller must retry."""


class UnknownChannel(Refusal):
    """No connected website chat has the key (a key of a disconnected one included)."""

    kind = "not_found"

    def __init__(self) -> None:
        super().__init__("unknown_channel", "No connected website chat has this key.")


class OriginNotAllowed(Refusal):
    """The page's origin is not one of the channel's allowed origins (``domain.webchat``)."""

    kind = "forbidden"

    def __init__(self) -> None:
        super().__init__("origin_not_allowed", "This website is not allowed to use this chat.")


async def channel_for_page(
    channels: store.ChannelDirectory, public_key: str, origin: str | None, own: str | None
) -> store.WebchatChannel:
    """The connected website chat of ``public_key``, for a request from a page of ``origin``
    (None: not from a browser, so no page to check); ``own`` is ingest's own origin (its demo
    page is always let in)."""
    channel = await channels.lookup(public_key) if len(public_key) <= 64 else None
    if channel is None:
        raise UnknownChannel()
    if origin is not None and not origin_allowed(origin, channel.allowed_origins, own):
        raise OriginNotAllowed()
    return channel


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


def keep_reply(
    conn: Connection, tenant_id: uuid.UUID, reply: ev.OutboundMessageRequested
) -> store.MailboxMessage:
    """A reply to a website-chat visitor goes into the visitor's mailbox, its files beside it;
    returned as stored (new or redelivered: its status is (re)published after the commit)."""
    stored = store.put_in_mailbox(conn, tenant_id, reply)
    file_store.keep_reply_files(conn, tenant_id, reply)
    return stored


def forget_visitor(
    conn: Connection, tenant_id: uuid.UUID, conversation_ids: list[uuid.UUID]
) -> None:
    """A visitor's erasure (docs/data-lifecycle.md): the files of their mailbox, the mailbox,
    and ingest's outcomes and message ids of their conversations."""
    file_store.forget_conversations(conn, tenant_id, conversation_ids)
    store.forget_conversations(conn, tenant_id, conversation_ids)
    ingest_store.forget_conversations(conn, tenant_id, conversation_ids)


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
