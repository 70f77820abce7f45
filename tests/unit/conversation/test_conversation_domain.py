"""The conversation and visitor aggregates, used directly (no application, no store)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from services.conversation.domain.conversation import Conversation, ConversationError, Visitor

TENANT = uuid.UUID("a0000000-0000-4000-8000-000000000001")
OTHER_TENANT = uuid.UUID("a0000000-0000-4000-8000-000000000002")
CHANNEL = uuid.UUID("c0000000-0000-4000-8000-000000000001")
OTHER_CHANNEL = uuid.UUID("c0000000-0000-4000-8000-000000000002")
ANN = uuid.UUID("00000000-0000-4000-8000-00000000000a")
BOB = uuid.UUID("00000000-0000-4000-8000-00000000000b")
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def new_visitor(external_id: str = "v-1", tenant_id: uuid.UUID = TENANT) -> Visitor:
    return Visitor(tenant_id=tenant_id, channel_id=CHANNEL, external_id=external_id, name="Vera")


def new_conversation(visitor_id: uuid.UUID | None = None, sequence: int = 1) -> Conversation:
    return Conversation(
        tenant_id=TENANT,
        channel_id=CHANNEL,
        channel_type="webchat",
        visitor_id=visitor_id or Visitor.create_id(TENANT, CHANNEL, "v-1"),
        sequence=sequence,
        language="nl",
        required_competences=["billing"],
        opened_at=T0,
    )


def receive(conversation: Conversation, channel_message_id: str) -> None:
    conversation.receive(
        message_id=uuid.uuid4(),
        channel_message_id=channel_message_id,
        content={"kind": "text", "text": "hi"},
        received_at=T0 + timedelta(seconds=1),
    )


# --- ids --------------------------------------------------------------------------------


def test_visitor_id_is_deterministic_and_matches_the_aggregate() -> None:
    assert Visitor.create_id(TENANT, CHANNEL, "v-1") == Visitor.create_id(TENANT, CHANNEL, "v-1")
    assert new_visitor("v-1").id == Visitor.create_id(TENANT, CHANNEL, "v-1")


@pytest.mark.parametrize(
    "other",
    [
        pytest.param((OTHER_TENANT, CHANNEL, "v-1"), id="other-tenant"),
        pytest.param((TENANT, OTHER_CHANNEL, "v-1"), id="other-channel"),
        pytest.param((TENANT, CHANNEL, "v-2"), id="other-external-id"),
        pytest.param((TENANT, CHANNEL, "V-1"), id="case-matters"),
    ],
)
def test_visitor_id_differs_per_tenant_channel_and_identity(
    other: tuple[uuid.UUID, uuid.UUID, str],
) -> None:
    assert Visitor.create_id(*other) != Visitor.create_id(TENANT, CHANNEL, "v-1")


def test_conversation_id_is_deterministic_and_distinct_per_sequence() -> None:
    visitor_id = Visitor.create_id(TENANT, CHANNEL, "v-1")
    ids = [Conversation.create_id(visitor_id, n) for n in range(1, 6)]
    assert ids == [Conversation.create_id(visitor_id, n) for n in range(1, 6)]
    assert len(set(ids)) == 5
    other_visitor = Visitor.create_id(TENANT, CHANNEL, "v-2")
    assert Conversation.create_id(other_visitor, 1) != ids[0]


@pytest.mark.parametrize("sequence", [1, 2, 7])
def test_conversation_aggregate_id_is_derived_from_visitor_and_sequence(sequence: int) -> None:
    visitor_id = Visitor.create_id(TENANT, CHANNEL, "v-1")
    conversation = new_conversation(visitor_id, sequence)
    assert conversation.id == Conversation.create_id(visitor_id, sequence)


# --- a new conversation -----------------------------------------------------------------


def test_a_new_conversation_waits_unassigned() -> None:
    conversation = new_conversation()
    assert conversation.status == "waiting"
    assert conversation.is_open
    assert conversation.assignee_id is None
    assert conversation.dispatched is False
    assert conversation.channel_message_ids == set()
    assert conversation.tenant_id == TENANT
    assert conversation.language == "nl"
    assert conversation.required_competences == ["billing"]


@pytest.mark.parametrize(
    ("received", "seen", "unseen"),
    [
        (["m-1"], ["m-1"], ["m-2", ""]),
        (["m-1", "m-2"], ["m-1", "m-2"], ["m-3", "M-1"]),
        (["m-1", "m-1"], ["m-1"], ["m-2"]),
    ],
)
def test_receive_records_the_channel_message_id(
    received: list[str], seen: list[str], unseen: list[str]
) -> None:
    conversation = new_conversation()
    for channel_message_id in received:
        receive(conversation, channel_message_id)
    assert all(conversation.has_seen(m) for m in seen)
    assert not any(conversation.has_seen(m) for m in unseen)
    assert conversation.version == 1 + len(received)
    assert [type(e).__name__ for e in conversation.collect_events()] == ["Opened"] + [
        "MessageReceived"
    ] * len(received)


# --- routing's decision -----------------------------------------------------------------


def _as_is(_: Conversation) -> None:
    pass


def _routed_to_bob(c: Conversation) -> None:
    assert c.accept_routing(BOB, T0)


def _queued(c: Conversation) -> None:
    assert c.accept_routing(None, T0)


def _dispatched_to_bob(c: Conversation) -> None:
    assert c.assign(BOB, ANN, T0, dispatch=True)


def _closed(c: Conversation) -> None:
    c.close(T0)


@pytest.mark.parametrize(
    ("before", "assignee", "accepted", "status", "expected_assignee", "new_event"),
    [
        pytest.param(_as_is, ANN, True, "assigned", ANN, "Assigned", id="waiting-assign"),
        pytest.param(_as_is, None, True, "waiting", None, "Queued", id="waiting-queue"),
        pytest.param(_queued, ANN, True, "assigned", ANN, "Assigned", id="queued-then-assign"),
        pytest.param(_routed_to_bob, ANN, False, "assigned", BOB, None, id="already-assigned"),
        pytest.param(_routed_to_bob, None, False, "assigned", BOB, None, id="assigned-not-queued"),
        pytest.param(_dispatched_to_bob, ANN, False, "assigned", BOB, None, id="dispatched"),
        pytest.param(_dispatched_to_bob, None, False, "assigned", BOB, None, id="dispatched-none"),
        pytest.param(_closed, ANN, False, "closed", None, None, id="closed"),
    ],
)
def test_accept_routing(
    before: Callable[[Conversation], None],
    assignee: uuid.UUID | None,
    accepted: bool,
    status: str,
    expected_assignee: uuid.UUID | None,
    new_event: str | None,
) -> None:
    conversation = new_conversation()
    before(conversation)
    conversation.collect_events()
    version = conversation.version

    assert conversation.accept_routing(assignee, T0 + timedelta(minutes=1)) is accepted

    assert conversation.status == status
    assert conversation.assignee_id == expected_assignee
    events = [type(e).__name__ for e in conversation.collect_events()]
    assert events == ([new_event] if new_event else [])
    assert conversation.version == version + len(events)


def test_queued_records_when() -> None:
    conversation = new_conversation()
    at = T0 + timedelta(minutes=3)
    assert conversation.accept_routing(None, at)
    assert conversation.queued_at == at


def test_dispatch_marks_the_conversation_dispatched() -> None:
    conversation = new_conversation()
    _dispatched_to_bob(conversation)
    assert conversation.dispatched is True
    routed = new_conversation()
    _routed_to_bob(routed)
    assert routed.dispatched is False


# --- closing ----------------------------------------------------------------------------


@pytest.mark.parametrize("before", [_as_is, _queued, _routed_to_bob, _dispatched_to_bob])
def test_an_open_conversation_closes(before: Callable[[Conversation], None]) -> None:
    conversation = new_conversation()
    before(conversation)
    conversation.close(T0 + timedelta(hours=1))
    assert conversation.status == "closed"
    assert not conversation.is_open


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(lambda c: receive(c, "m-9"), id="receive"),
        pytest.param(lambda c: c.close(T0 + timedelta(hours=2)), id="close"),
    ],
)
def test_a_closed_conversation_refuses(command: Callable[[Conversation], None]) -> None:
    conversation = new_conversation()
    receive(conversation, "m-1")
    conversation.close(T0 + timedelta(hours=1))
    conversation.collect_events()
    version = conversation.version
    with pytest.raises(ConversationError):
        command(conversation)
    assert conversation.version == version
    assert conversation.collect_events() == []
    assert not conversation.has_seen("m-9")
    assert conversation.status == "closed"


# --- the visitor ------------------------------------------------------------------------


def test_visitor_tracks_its_conversations_and_earlier_messages() -> None:
    visitor = new_visitor()
    assert (visitor.open_conversation_id, visitor.next_sequence) == (None, 1)
    first = Conversation.create_id(visitor.id, 1)
    visitor.conversation_started(TENANT, first)
    assert (visitor.open_conversation_id, visitor.next_sequence) == (first, 2)

    visitor.conversation_ended(TENANT, first, ["m-1", "m-2"])
    assert visitor.open_conversation_id is None
    assert visitor.earlier_message_ids == {"m-1", "m-2"}
    assert visitor.next_sequence == 2

    second = Conversation.create_id(visitor.id, 2)
    visitor.conversation_started(TENANT, second)
    visitor.conversation_ended(TENANT, first, ["m-0"])  # a late end of the old one
    assert visitor.open_conversation_id == second
    assert visitor.earlier_message_ids == {"m-0", "m-1", "m-2"}
    assert visitor.conversation_ids == [first, second]


@pytest.mark.parametrize(
    ("holder", "replaces", "new_assignee", "applies", "status"),
    [
        (ANN, ANN, BOB, True, "assigned"),  # Ann left: Bob takes over
        (ANN, ANN, None, True, "waiting"),  # Ann left, nobody free: back to the queue
        (BOB, ANN, None, False, "assigned"),  # already moved on to Bob: stale, ignored
    ],
)
def test_a_decision_that_replaces_someone_applies_only_while_they_hold_it(
    holder, replaces, new_assignee, applies, status
) -> None:  # type: ignore[no-untyped-def]
    conversation = new_conversation()
    conversation.accept_routing(holder, datetime.now(UTC))
    assert conversation.accept_routing(new_assignee, datetime.now(UTC), replaces) is applies
    assert conversation.status == status
    assert conversation.assignee_id == (new_assignee if applies else holder)
