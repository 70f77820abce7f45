"""The visitors' mailboxes on SQLite and PostgreSQL: numbering, idempotence, tenant scope,
and the poller that wakes sockets for replies stored by another replica."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from services.ingest.api.webchat_hub import Hub
from services.ingest.application import webchat as application
from services.ingest.consumers.webchat import apply_batch
from services.ingest.store import webchat as store
from shared import events as ev
from shared.kafka import Delivery
from shared.readmodel import make_engine
from tests.support.databases import BOTH, database_for


@pytest.fixture(params=BOTH)
def engine(request, tmp_path) -> Engine:  # type: ignore[no-untyped-def]
    url = database_for(request, "webchat", f"sqlite:///{tmp_path / 'ingest.sqlite'}")
    engine = make_engine(url)
    store.metadata.create_all(engine)
    yield engine
    engine.dispose()


def delivery(payload: ev.Payload, tenant: uuid.UUID, event_id: uuid.UUID | None = None) -> Delivery:
    envelope = ev.Envelope.wrap(payload, tenant_id=tenant, event_id=event_id)
    return Delivery(envelope, payload, "test:0:0")


def reply(channel: uuid.UUID, visitor: str, text: str, message_id: uuid.UUID | None = None):  # type: ignore[no-untyped-def]
    return ev.OutboundMessageRequested(
        conversation_id=uuid.uuid4(),
        message_id=message_id or uuid.uuid4(),
        channel_id=channel,
        channel_type="webchat",
        visitor_external_id=visitor,
        author="agent",
        content=ev.MessageContent(text=text),
        requested_at=datetime.now(UTC),
    )


def connected(channel: uuid.UUID, key: str, origins: list[str]) -> ev.ChannelConnected:
    return ev.ChannelConnected(
        channel_id=channel,
        channel_type="webchat",
        name="Website",
        public_key=key,
        allowed_origins=origins,
    )


def test_replies_are_numbered_per_visitor_once_and_scoped_by_tenant(engine):
    tenant, other_tenant = uuid.uuid4(), uuid.uuid4()
    channel, other_channel = uuid.uuid4(), uuid.uuid4()
    first = reply(channel, "visitor-a", "one")
    batch = [
        delivery(connected(channel, f"key-{channel.hex[:8]}", ["https://shop.example"]), tenant),
        delivery(connected(other_channel, f"key-{other_channel.hex[:8]}", []), other_tenant),
        delivery(first, tenant),
        delivery(reply(channel, "visitor-b", "for b"), tenant),
        delivery(first, tenant),  # redelivered within the batch
        delivery(reply(channel, "visitor-a", "two"), tenant),
        delivery(reply(other_channel, "visitor-a", "other tenant"), other_tenant),
    ]
    stored = apply_batch(engine, batch)
    assert [(m.visitor_id, m.seq, m.text) for m in stored] == [
        ("visitor-a", 1, "one"),
        ("visitor-b", 1, "for b"),
        ("visitor-a", 1, "one"),
        ("visitor-a", 2, "two"),
        ("visitor-a", 1, "other tenant"),
    ]
    # The whole batch again (a rewind after a crash): nothing new, same numbers.
    again = apply_batch(engine, batch)
    assert [(m.message_id, m.seq) for m in again] == [(m.message_id, m.seq) for m in stored]

    with engine.connect() as conn:
        mine = store.channel_by_key(conn, f"key-{channel.hex[:8]}")
        theirs = store.channel_by_key(conn, f"key-{other_channel.hex[:8]}")
    assert mine is not None and theirs is not None
    assert mine.allowed_origins == ("https://shop.example",)
    assert [m.text for m in store.mailbox_after(engine, mine, "visitor-a", 0)] == ["one", "two"]
    assert [m.text for m in store.mailbox_after(engine, mine, "visitor-a", 1)] == ["two"]
    assert [m.text for m in store.mailbox_after(engine, theirs, "visitor-a", 0)] == ["other tenant"]
    assert store.last_seq(engine, mine, "visitor-a") == 2
    assert store.last_seq(engine, mine, "nobody") == 0
    # A channel row carrying another tenant's id sees nothing of this mailbox.
    forged = store.WebchatChannel(
        channel_id=str(channel), tenant_id=str(other_tenant), public_key="x", allowed_origins=()
    )
    assert store.mailbox_after(engine, forged, "visitor-a", 0) == []


def test_origins_change_and_disconnection_hide_the_channel(engine):
    tenant, channel = uuid.uuid4(), uuid.uuid4()
    key = f"key-{channel.hex[:8]}"
    apply_batch(engine, [delivery(connected(channel, key, []), tenant)])
    apply_batch(
        engine,
        [
            delivery(
                ev.ChannelOriginsSet(channel_id=channel, allowed_origins=["https://a.example"]),
                tenant,
            ),
            # Another tenant cannot change this channel's origins.
            delivery(
                ev.ChannelOriginsSet(channel_id=channel, allowed_origins=["https://evil.example"]),
                uuid.uuid4(),
            ),
            # Meta channels are not website chats.
            delivery(
                ev.ChannelConnected(
                    channel_id=uuid.uuid4(), channel_type="messenger", name="M", public_key="meta"
                ),
                tenant,
            ),
        ],
    )
    with engine.connect() as conn:
        assert store.channel_by_key(conn, key).allowed_origins == ("https://a.example",)  # type: ignore[union-attr]
        assert store.channel_by_key(conn, "meta") is None
    apply_batch(engine, [delivery(ev.ChannelDisconnected(channel_id=channel), tenant)])
    with engine.connect() as conn:
        assert store.channel_by_key(conn, key) is None


def test_read_receipts_are_reported_once(engine):
    tenant, channel = uuid.uuid4(), uuid.uuid4()
    key = f"key-{channel.hex[:8]}"
    apply_batch(
        engine,
        [
            delivery(connected(channel, key, []), tenant),
            *(delivery(reply(channel, "v", t), tenant) for t in ("a", "b", "c")),
        ],
    )
    with engine.connect() as conn:
        chan = store.channel_by_key(conn, key)
    assert [m.seq for m in store.mark_read(engine, chan, "v", 2)] == [1, 2]  # type: ignore[arg-type]
    assert [m.seq for m in store.mark_read(engine, chan, "v", 3)] == [3]  # type: ignore[arg-type]
    assert store.mark_read(engine, chan, "v", 3) == []  # type: ignore[arg-type]
    statuses = application.status_events(store.mailbox_after(engine, chan, "v", 0), "read")  # type: ignore[arg-type]
    again = application.status_events(store.mailbox_after(engine, chan, "v", 0), "read")  # type: ignore[arg-type]
    # The same status of the same message has the same event id: deduplicated downstream.
    assert [e.event_id for e in statuses] == [e.event_id for e in again]
    assert {e.payload["status"] for e in statuses} == {"read"}


async def test_the_poller_wakes_sockets_for_replies_stored_elsewhere(engine):
    tenant, channel = uuid.uuid4(), uuid.uuid4()
    hub = Hub(engine, poll_seconds=0.05)
    waiting = hub.register((str(channel), "visitor-a"))
    bystander = hub.register((str(channel), "visitor-b"))
    await hub.poll_once()
    assert not waiting.is_set()
    # Another replica stores a reply: this replica's poll wakes only that visitor's socket.
    await asyncio.to_thread(
        apply_batch, engine, [delivery(reply(channel, "visitor-a", "hi"), tenant)]
    )
    await hub.poll_once()
    assert waiting.is_set() and not bystander.is_set()
    waiting.clear()
    await hub.poll_once()  # nothing new: no wake-up
    assert not waiting.is_set()
    hub.unregister((str(channel), "visitor-a"), waiting)
    hub.unregister((str(channel), "visitor-b"), bystander)
    assert hub.connected == 0


def test_a_reply_no_column_can_hold_is_set_aside_not_retried_forever(engine):
    tenant, channel = uuid.uuid4(), uuid.uuid4()
    with pytest.raises(ev.UnreadableEvent, match="longer than 512"):
        apply_batch(engine, [delivery(reply(channel, "v" * 513, "hi"), tenant)])
    with pytest.raises(ev.UnreadableEvent, match="longer than 64"):
        apply_batch(engine, [delivery(connected(channel, "k" * 65, []), tenant)])
    # Nothing of the failed batch was kept; the next batch goes on.
    assert [m.seq for m in apply_batch(engine, [delivery(reply(channel, "v", "hi"), tenant)])] == [
        1
    ]
