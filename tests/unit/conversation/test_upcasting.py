"""Events stored before a field existed still load: the aggregates get their defaults from
``__init__``, the events their missing fields from the upcasters (``class_version`` 2), and
what is published and projected from them is what it was (services/conversation/domain).

The old events are written as the code of their time wrote them: the current events with
the later fields and the ``class_version`` taken out of the stored state.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent
from sqlalchemy import create_engine, select

from services.conversation.application.contracts import to_envelopes
from services.conversation.application.conversations import Conversations
from services.conversation.application.directory import Directory
from services.conversation.domain.conversation import Conversation, ConversationError
from services.conversation.domain.directory import Channel, Tenant
from services.conversation.store import tables as t
from services.conversation.store.projection import Projector

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
ANN = uuid.UUID("00000000-0000-4000-8000-00000000000a")
BOB = uuid.UUID("00000000-0000-4000-8000-00000000000b")

#: Event class -> the fields its events did not have at version 1.
LATER_FIELDS: dict[type, tuple[str, ...]] = {
    Conversation.Opened: ("bot_active",),
    Conversation.Queued: ("decision_id",),
    Conversation.Assigned: ("by_user_id", "decision_id", "reasons"),
    Conversation.Closed: ("closed_by",),
    Tenant.SettingsChanged: ("attachment_max_bytes",),
    Channel.Connected: ("external_id", "sealed_credentials"),
}


def store_as_version_1(app: Application, *aggregates: Aggregate) -> None:
    """Record the aggregates' pending events in the shape the old code stored them."""
    stored = []
    for aggregate in aggregates:
        for domain_event in aggregate.collect_events():
            record = app.mapper.to_stored_event(domain_event)
            state = app.mapper.transcoder.decode(record.state)
            dropped = LATER_FIELDS.get(type(domain_event), ())
            if dropped:
                assert state.pop("class_version") == 2
            for name in dropped:
                state.pop(name)
            assert "class_version" not in state
            stored.append(
                StoredEvent(
                    originator_id=record.originator_id,
                    originator_version=record.originator_version,
                    topic=record.topic,
                    state=app.mapper.transcoder.encode(state),
                )
            )
    app.recorder.insert_events(stored)


def stored_state(app: Application, aggregate_id: uuid.UUID) -> list[dict[str, Any]]:
    return [app.mapper.transcoder.decode(s.state) for s in app.recorder.select_events(aggregate_id)]


@pytest.fixture
def conversations() -> Iterator[Conversations]:
    app = Conversations(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield app
    app.close()


@pytest.fixture
def directory() -> Iterator[Directory]:
    app = Directory(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield app
    app.close()


def opened(tenant_id: uuid.UUID) -> Conversation:
    visitor_id = uuid.uuid4()
    return Conversation(
        tenant_id=tenant_id,
        channel_id=uuid.uuid4(),
        channel_type="webchat",
        visitor_id=visitor_id,
        sequence=1,
        language="nl",
        required_competences=[],
        opened_at=T0,
    )


def test_an_old_conversation_loads_with_the_later_state_at_its_defaults(
    conversations: Conversations,
) -> None:
    tenant_id = uuid.uuid4()
    old = opened(tenant_id)
    store_as_version_1(conversations, old)
    assert "bot_active" not in stored_state(conversations, old.id)[0]

    loaded = conversations.conversation(tenant_id, old.id)
    assert loaded.status == "waiting"
    assert loaded.handover is None
    assert loaded.decisions == set()
    assert loaded.queued_at is None
    assert loaded.routable_since is None
    assert loaded.assignment is None

    # It behaves as a conversation opened now: routing queues it once, a redelivered
    # decision changes nothing, the next decision assigns it.
    first, second = uuid.uuid4(), uuid.uuid4()
    assert loaded.accept_routing(None, T0 + timedelta(seconds=1), decision_id=first)
    assert not loaded.accept_routing(None, T0 + timedelta(seconds=2), decision_id=first)
    assert not loaded.accept_routing(None, T0 + timedelta(seconds=2), decision_id=uuid.uuid4())
    assert loaded.accept_routing(ANN, T0 + timedelta(seconds=3), decision_id=second)
    assert loaded.status == "assigned" and loaded.assignee_id == ANN
    conversations.save(loaded)
    # What the new code writes carries the version, so it is not upcast again.
    assert {s.get("class_version") for s in stored_state(conversations, old.id)[1:]} == {2}


def test_old_routing_and_closing_events_load_and_publish_with_their_defaults(
    conversations: Conversations,
) -> None:
    tenant_id = uuid.uuid4()
    old = opened(tenant_id)
    old.accept_routing(None, T0 + timedelta(seconds=1))  # Queued, no decision id
    old.accept_routing(ANN, T0 + timedelta(seconds=2))  # Assigned, no reasons
    old.close(T0 + timedelta(minutes=5), by=ANN)  # Closed, with no closed_by once stored
    store_as_version_1(conversations, old)

    events = list(conversations.events.get(old.id))
    assert [type(e).__name__ for e in events] == ["Opened", "Queued", "Assigned", "Closed"]
    opened_event, queued, assigned, closed = events
    assert opened_event.bot_active is False
    assert queued.decision_id is None
    assert (assigned.by_user_id, assigned.decision_id, assigned.reasons) == (None, None, None)
    assert closed.closed_by is None

    loaded = conversations.conversation(tenant_id, old.id)
    assert loaded.status == "closed" and loaded.assignee_id == ANN
    assert loaded.queued_at == T0 + timedelta(seconds=1)
    assert loaded.assignment == {
        "assigned_by": "routing",
        "by_user_id": None,
        "at": (T0 + timedelta(seconds=2)).isoformat(),
        "reasons": None,
    }
    with pytest.raises(ConversationError):
        loaded.close(T0 + timedelta(minutes=6))
    loaded.archive(["billing"], T0 + timedelta(minutes=7))
    assert loaded.status == "archived"

    published = [to_envelopes(e)[0].payload for e in events]
    assert published[0]["bot_active"] is False
    assert published[2]["by_user_id"] is None
    assert published[3]["closed_by"] is None


def test_an_old_directory_loads_and_projects_with_the_later_fields_at_their_defaults(
    directory: Directory, conversations: Conversations
) -> None:
    tenant = Tenant(
        name="Acme",
        plan="bot",
        sdk_option=False,
        minimum_end_users=0,
        contract_start=None,
        time_zone="Europe/Brussels",
        default_language="nl",
        routing_enabled=True,
        default_capacity=5,
    )
    tenant.change_settings(False, ["nl", "fr"], 3)
    channel = Channel(tenant_id=tenant.id, channel_type="webchat", name="Site", public_key="pk-old")
    store_as_version_1(directory, tenant, channel)
    assert "attachment_max_bytes" not in stored_state(directory, tenant.id)[1]
    assert "external_id" not in stored_state(directory, channel.id)[0]

    loaded_tenant = directory.tenant(tenant.id)
    assert loaded_tenant.attachment_max_bytes is None
    assert (loaded_tenant.routing_enabled, loaded_tenant.languages) == (False, ["nl", "fr"])
    loaded_channel = directory.channel(tenant.id, channel.id)
    assert (loaded_channel.external_id, loaded_channel.sealed_credentials) == (None, None)
    assert loaded_channel.allowed_origins == []
    assert loaded_channel.chatbot is None
    with pytest.raises(LookupError):
        loaded_channel.disconnect_chatbot()
    # Settings changed by the new code keep what the old events said.
    directory.change_settings(tenant.id, True, ["nl"], 4, attachment_max_bytes=1_000_000)
    assert directory.tenant(tenant.id).attachment_max_bytes == 1_000_000

    engine = create_engine("sqlite://")
    t.metadata.create_all(engine)
    Projector(engine, [directory, conversations]).catch_up_now()
    with engine.connect() as conn:
        row = conn.execute(select(t.channels).where(t.channels.c.channel_id == str(channel.id)))
        projected = row.mappings().one()
        tenants = conn.execute(select(t.tenants.c.attachment_max_bytes)).scalars().all()
    assert projected["external_id"] is None and projected["allowed_origins"] == []
    assert tenants == [1_000_000]


# --- the events of release 90f08a5, as it stored them -----------------------------------

RELEASE_EVENTS = Path(__file__).parents[2] / "fixtures" / "release_90f08a5" / "events.json"


def load_release_events(directory: Directory, conversations: Conversations) -> dict[str, uuid.UUID]:
    """The release's stored events (``make_events.py``) in today's stores; the id of the
    first aggregate of each kind, by class name."""
    records = json.loads(RELEASE_EVENTS.read_text())
    for log, app in (("directory", directory), ("conversations", conversations)):
        app.recorder.insert_events(
            [
                StoredEvent(
                    originator_id=uuid.UUID(r["originator_id"]),
                    originator_version=r["originator_version"],
                    topic=r["topic"],
                    state=r["state"].encode(),
                )
                for r in records
                if r["log"] == log
            ]
        )
    ids: dict[str, uuid.UUID] = {}
    for r in records:
        kind = r["topic"].split(":")[1].split(".")[0]
        ids.setdefault(kind, uuid.UUID(r["originator_id"]))
    return ids


def test_the_release_s_stored_events_load_publish_and_project(
    directory: Directory, conversations: Conversations
) -> None:
    ids = load_release_events(directory, conversations)
    tenant_id = ids["Tenant"]

    tenant = directory.tenant(tenant_id)
    assert (tenant.languages, tenant.default_capacity) == (["nl", "fr"], 3)
    assert tenant.attachment_max_bytes is None
    channel = directory.channel(tenant_id, ids["Channel"])
    assert channel.allowed_origins == ["https://acme.example"]
    assert channel.chatbot == {
        "platform": "webhook",
        "url": "https://bot.acme.example",
        "sealed_token": None,
    }
    assert directory.end_user(tenant_id, ids["EndUser"]).first_name == "Ann"

    conversation = conversations.conversation(tenant_id, ids["Conversation"])
    assert conversation.status == "archived" and conversation.topics == ["billing"]
    assert conversation.assignee_id == ids["EndUser"]
    assert len(conversation.decisions) == 2
    assert conversation.queued_at == T0 + timedelta(seconds=1)
    assert conversation.routable_since is None
    assert conversation.assignment is not None
    assert conversation.assignment["reasons"]["tie_break"] == "idle"
    visitor = conversations.repository.get(ids["Visitor"])
    assert visitor.open_conversation_id is None and visitor.next_sequence == 2
    assert visitor.earlier_message_ids == {"m-1"} and visitor.profile == {}

    # Every event is published as it was: no field missing, none in the wrong shape.
    published = [
        envelope.type
        for app, aggregate_id in (
            (directory, tenant_id),
            (directory, ids["Channel"]),
            (conversations, ids["Conversation"]),
        )
        for domain_event in app.events.get(aggregate_id)
        for envelope in to_envelopes(domain_event)
    ]
    assert published == [
        "TenantCreated",
        "TenantSettingsChanged",
        "ChannelConnected",
        "ChannelOriginsSet",
        "ChatbotConnected",
        "ConversationOpened",
        "MessageReceived",
        "ConversationQueued",
        "ConversationAssigned",
        "ConversationTaken",
        "MessageSent",
        "OutboundMessageRequested",
        "ConversationClosed",
        "ConversationArchived",
    ]

    engine = create_engine("sqlite://")
    t.metadata.create_all(engine)
    Projector(engine, [directory, conversations]).catch_up_now()
    with engine.connect() as conn:
        row = conn.execute(
            select(t.conversations.c.status, t.conversations.c.topics).where(
                t.conversations.c.conversation_id == str(ids["Conversation"])
            )
        ).one()
        origins = conn.scalar(
            select(t.channels.c.allowed_origins).where(
                t.channels.c.channel_id == str(ids["Channel"])
            )
        )
    assert (row.status, row.topics) == ("archived", ["billing"])
    assert origins == ["https://acme.example"]
