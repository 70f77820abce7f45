"""The Conversations application on in-memory (POPO) persistence: inbound batches, close, routing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from services.conversation.application.conversations import Conversations, Inbound, Routed
from services.conversation.application.directory import ChannelContext
from services.conversation.domain.conversation import Conversation, Visitor
from shared.events import ConversationRouted, InboundMessageReceived, MessageContent

TENANT = uuid.UUID("a0000000-0000-4000-8000-000000000001")
OTHER_TENANT = uuid.UUID("a0000000-0000-4000-8000-000000000002")
CHANNEL = uuid.UUID("c0000000-0000-4000-8000-000000000001")
ANN = uuid.UUID("00000000-0000-4000-8000-00000000000a")
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

DEFAULT_LANGUAGES = {TENANT: "nl", OTHER_TENANT: "fr"}


@pytest.fixture
def app() -> Iterator[Conversations]:
    application = Conversations(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield application
    application.close()


def inbound(
    visitor: str,
    channel_message_id: str,
    second: int = 0,
    *,
    tenant_id: uuid.UUID = TENANT,
    locale: str | None = None,
) -> Inbound:
    return Inbound(
        tenant_id,
        InboundMessageReceived(
            channel_id=CHANNEL,
            channel_type="webchat",
            channel_message_id=channel_message_id,
            visitor_external_id=visitor,
            visitor_name=visitor.title(),
            locale=locale,
            content=MessageContent(text=f"{visitor}:{channel_message_id}"),
            received_at=T0 + timedelta(seconds=second),
        ),
    )


def plain_channel(tenant_id: uuid.UUID, _channel_id: uuid.UUID, _at: datetime) -> ChannelContext:
    return ChannelContext(DEFAULT_LANGUAGES[tenant_id], bot_connected=False, out_of_office=None)


def receive(app: Conversations, *batch: Inbound) -> int:
    return app.receive_inbound(batch, plain_channel)


def notifications(app: Conversations) -> int:
    return app.recorder.max_notification_id() or 0


def visitor_of(app: Conversations, external_id: str, tenant_id: uuid.UUID = TENANT) -> Visitor:
    visitor = app.repository.get(Visitor.create_id(tenant_id, CHANNEL, external_id))
    assert isinstance(visitor, Visitor)
    return visitor


def open_conversation(app: Conversations, external_id: str, tenant_id: uuid.UUID = TENANT):
    visitor = visitor_of(app, external_id, tenant_id)
    assert visitor.open_conversation_id is not None
    return app.conversation(tenant_id, visitor.open_conversation_id)


# --- inbound messages -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("batches", "recorded", "messages"),
    [
        pytest.param([[("v1", "a")]], [1], {"v1": {"a"}}, id="first-message"),
        pytest.param(
            [[("v1", "a"), ("v1", "b"), ("v1", "c")]],
            [3],
            {"v1": {"a", "b", "c"}},
            id="one-visitor-one-batch",
        ),
        pytest.param(
            [[("v1", "a"), ("v2", "b"), ("v1", "c"), ("v3", "d")]],
            [4],
            {"v1": {"a", "c"}, "v2": {"b"}, "v3": {"d"}},
            id="one-conversation-per-visitor",
        ),
        pytest.param(
            [[("v1", "a")], [("v1", "b")], [("v2", "c"), ("v1", "d")]],
            [1, 1, 2],
            {"v1": {"a", "b", "d"}, "v2": {"c"}},
            id="later-batches-join-the-open-conversation",
        ),
        pytest.param(
            [[("v1", "a"), ("v1", "a"), ("v1", "b"), ("v1", "a")]],
            [2],
            {"v1": {"a", "b"}},
            id="duplicate-in-the-same-batch",
        ),
        pytest.param(
            [[("v1", "a"), ("v2", "b")], [("v1", "a"), ("v2", "b")], [("v2", "b"), ("v2", "c")]],
            [2, 0, 1],
            {"v1": {"a"}, "v2": {"b", "c"}},
            id="duplicates-in-later-batches",
        ),
    ],
)
def test_receive_inbound_opens_one_conversation_per_visitor_and_records_each_message_once(
    app: Conversations,
    batches: list[list[tuple[str, str]]],
    recorded: list[int],
    messages: dict[str, set[str]],
) -> None:
    results = [
        receive(app, *(inbound(v, m, i) for i, (v, m) in enumerate(batch))) for batch in batches
    ]
    assert results == recorded

    for external_id, expected in messages.items():
        visitor = visitor_of(app, external_id)
        assert visitor.conversation_ids == [Conversation.create_id(visitor.id, 1)]
        conversation = open_conversation(app, external_id)
        assert conversation.id == Conversation.create_id(visitor.id, 1)
        assert conversation.channel_message_ids == expected
        assert conversation.status == "waiting"
        assert conversation.version == 1 + len(expected)  # Opened + one per message
    # Per visitor: Registered + ConversationStarted + Opened; then one event per new message.
    assert notifications(app) == 3 * len(messages) + sum(recorded)


@pytest.mark.parametrize(
    ("tenant_id", "locale", "language"),
    [
        (TENANT, None, "nl"),
        (OTHER_TENANT, None, "fr"),
        (TENANT, "fr_BE", "fr"),
        (OTHER_TENANT, "en-GB", "en"),
    ],
)
def test_new_conversation_takes_the_visitors_language_or_the_tenants(
    app: Conversations, tenant_id: uuid.UUID, locale: str | None, language: str
) -> None:
    receive(app, inbound("v1", "a", tenant_id=tenant_id, locale=locale))
    conversation = open_conversation(app, "v1", tenant_id)
    assert conversation.language == language
    assert conversation.tenant_id == tenant_id


def test_same_visitor_id_in_two_tenants_are_two_visitors(app: Conversations) -> None:
    assert receive(app, inbound("v1", "a"), inbound("v1", "a", tenant_id=OTHER_TENANT)) == 2
    mine, theirs = open_conversation(app, "v1"), open_conversation(app, "v1", OTHER_TENANT)
    assert mine.id != theirs.id
    with pytest.raises(LookupError):
        app.conversation(TENANT, theirs.id)


# --- closing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("redelivered", "expected_recorded"),
    [
        pytest.param([("a",)], 0, id="old-message-alone"),
        pytest.param([("b",), ("a",)], 0, id="old-messages"),
        pytest.param([("a",), ("c",)], 1, id="old-and-new"),
        pytest.param([("c",), ("a",), ("c",)], 1, id="new-repeated-and-old"),
    ],
)
def test_after_close_old_messages_are_not_recorded_again_and_new_ones_open_conversation_two(
    app: Conversations, redelivered: list[tuple[str]], expected_recorded: int
) -> None:
    assert receive(app, inbound("v1", "a", 0), inbound("v1", "b", 1)) == 2
    first = open_conversation(app, "v1")
    app.close_conversation(TENANT, first.id, T0 + timedelta(minutes=5))
    assert app.conversation(TENANT, first.id).status == "closed"
    assert visitor_of(app, "v1").open_conversation_id is None
    before = notifications(app)

    recorded = receive(app, *(inbound("v1", m, 100 + i) for i, (m,) in enumerate(redelivered)))

    assert recorded == expected_recorded
    closed = app.conversation(TENANT, first.id)
    assert closed.channel_message_ids == {"a", "b"}
    assert closed.version == first.version + 1  # only the Closed event was added
    visitor = visitor_of(app, "v1")
    if expected_recorded:
        second = open_conversation(app, "v1")
        assert second.id == Conversation.create_id(visitor.id, 2)
        assert second.id != first.id
        assert second.channel_message_ids == {"c"}
        assert visitor.conversation_ids == [first.id, second.id]
        # ConversationStarted + Opened + MessageReceived
        assert notifications(app) == before + 3
    else:
        assert visitor.open_conversation_id is None
        assert visitor.conversation_ids == [first.id]
        assert notifications(app) == before


def test_redelivery_after_the_second_conversation_opened_is_still_dropped(
    app: Conversations,
) -> None:
    receive(app, inbound("v1", "a"))
    first = open_conversation(app, "v1")
    app.close_conversation(TENANT, first.id, T0 + timedelta(minutes=5))
    assert receive(app, inbound("v1", "b", 10)) == 1
    second = open_conversation(app, "v1")
    before = notifications(app)
    assert receive(app, inbound("v1", "a", 11), inbound("v1", "b", 12)) == 0
    assert notifications(app) == before
    assert app.conversation(TENANT, second.id).channel_message_ids == {"b"}


def test_close_of_another_tenants_conversation_is_refused(app: Conversations) -> None:
    receive(app, inbound("v1", "a"))
    conversation = open_conversation(app, "v1")
    before = notifications(app)
    with pytest.raises(LookupError):
        app.close_conversation(OTHER_TENANT, conversation.id, T0)
    assert app.conversation(TENANT, conversation.id).status == "waiting"
    assert notifications(app) == before


# --- routing decisions ------------------------------------------------------------------


def routed(conversation_id: uuid.UUID, assignee: uuid.UUID | None, tenant_id: uuid.UUID) -> Routed:
    return Routed(
        tenant_id,
        ConversationRouted(
            conversation_id=conversation_id,
            assignee_id=assignee,
            tie_break="least_loaded" if assignee else None,
            decided_at=T0 + timedelta(seconds=30),
        ),
    )


@pytest.mark.parametrize(
    ("decision_tenant", "assignee", "known", "changed", "status", "expected_assignee"),
    [
        pytest.param(TENANT, ANN, True, 1, "assigned", ANN, id="own-tenant-assign"),
        pytest.param(TENANT, None, True, 1, "waiting", None, id="own-tenant-queue"),
        pytest.param(OTHER_TENANT, ANN, True, 0, "waiting", None, id="other-tenant-assign"),
        pytest.param(OTHER_TENANT, None, True, 0, "waiting", None, id="other-tenant-queue"),
        pytest.param(TENANT, ANN, False, 0, "waiting", None, id="unknown-conversation"),
    ],
)
def test_apply_routing_only_touches_the_tenants_own_conversations(
    app: Conversations,
    decision_tenant: uuid.UUID,
    assignee: uuid.UUID | None,
    known: bool,
    changed: int,
    status: str,
    expected_assignee: uuid.UUID | None,
) -> None:
    receive(app, inbound("v1", "a"))
    conversation = open_conversation(app, "v1")
    before = notifications(app)
    target = conversation.id if known else uuid.UUID(int=404)

    assert app.apply_routing([routed(target, assignee, decision_tenant)]) == changed

    after = app.conversation(TENANT, conversation.id)
    assert after.status == status
    assert after.assignee_id == expected_assignee
    assert notifications(app) == before + changed
    assert after.version == conversation.version + changed


def test_apply_routing_a_repeated_decision_changes_nothing_more(app: Conversations) -> None:
    receive(app, inbound("v1", "a"), inbound("v2", "b"))
    c1, c2 = open_conversation(app, "v1"), open_conversation(app, "v2")
    batch = [
        routed(c1.id, ANN, TENANT),
        routed(c2.id, None, OTHER_TENANT),
        routed(c1.id, ANN, TENANT),
    ]
    assert app.apply_routing(batch) == 1
    before = notifications(app)
    assert app.apply_routing(batch) == 0
    assert notifications(app) == before
    assert app.conversation(TENANT, c1.id).assignee_id == ANN
    assert app.conversation(TENANT, c2.id).status == "waiting"
