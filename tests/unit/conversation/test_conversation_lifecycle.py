"""The conversation lifecycle through the Conversations application (POPO store): take,
reply, pass on, dispatch, requirements, notes, close/archive, out-of-office, the chatbot
handover state machine, delivery reports, and concurrent takes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from services.conversation.application.contracts import to_envelopes, topic_of
from services.conversation.application.conversations import (
    ChannelReport,
    Conversations,
    Inbound,
    Routed,
)
from services.conversation.application.directory import ChannelContext
from services.conversation.domain.conversation import Conversation, ConversationError, Visitor
from shared import topics
from shared.events import (
    BotFailed,
    BotReplied,
    ConversationRouted,
    DeliveryStatusReported,
    InboundMessageReceived,
    MessageContent,
    UnreadableEvent,
)

TENANT = uuid.UUID("a0000000-0000-4000-8000-000000000001")
OTHER = uuid.UUID("a0000000-0000-4000-8000-000000000002")
CHANNEL = uuid.UUID("c0000000-0000-4000-8000-000000000001")
ANN = uuid.UUID("00000000-0000-4000-8000-00000000000a")
BOB = uuid.UUID("00000000-0000-4000-8000-00000000000b")
MAX = uuid.UUID("00000000-0000-4000-8000-00000000000c")
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


class Channel:
    """A channel context we can switch: bot or not, open or closed."""

    def __init__(self) -> None:
        self.bot = False
        self.closed_period: str | None = None

    def __call__(self, tenant_id: uuid.UUID, channel_id: uuid.UUID, at: datetime) -> ChannelContext:
        ooo = (self.closed_period, "We are closed.") if self.closed_period else None
        return ChannelContext("nl", self.bot, ooo)


@pytest.fixture
def app() -> Iterator[Conversations]:
    application = Conversations(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield application
    application.close()


@pytest.fixture
def channel() -> Channel:
    return Channel()


def say(
    app: Conversations, channel: Channel, mid: str, visitor: str = "v1", second: int = 0
) -> Conversation:
    app.receive_inbound(
        [
            Inbound(
                TENANT,
                InboundMessageReceived(
                    channel_id=CHANNEL,
                    channel_type="messenger",
                    channel_message_id=mid,
                    visitor_external_id=visitor,
                    content=MessageContent(text=f"text {mid}"),
                    received_at=T0 + timedelta(seconds=second),
                ),
            )
        ],
        channel,
    )
    visitor_aggregate = app.repository.get(Visitor.create_id(TENANT, CHANNEL, visitor))
    return app.conversation(TENANT, visitor_aggregate.conversation_ids[-1])


def route(  # type: ignore[no-untyped-def]
    app: Conversations,
    conversation: Conversation,
    to: uuid.UUID | None,
    decision_id: uuid.UUID | None = None,
    at: datetime = T0 + timedelta(seconds=5),
    **kw,
) -> int:
    decision = ConversationRouted(
        conversation_id=conversation.id, assignee_id=to, decided_at=at, **kw
    )
    return app.apply_routing([Routed(TENANT, decision, decision_id)])


def published(app: Conversations) -> list[tuple[str, str]]:
    """(topic, type) of everything the outbox would publish, in order."""
    out = []
    for note in app.recorder.select_notifications(start=1, limit=10_000):
        for envelope in to_envelopes(app.mapper.to_domain_event(note)):
            out.append((topic_of(envelope, topics.CONVERSATION_EVENTS), envelope.type))
    return out


def refused(code: str, command, *args, **kw) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConversationError) as caught:
        command(*args, **kw)
    assert caught.value.code == code


# --- take -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("assigned_to", "taker", "shared", "outcome"),
    [
        (ANN, ANN, False, "in_progress"),
        (ANN, BOB, False, "assigned_to_other"),
        (ANN, BOB, True, "assigned_to_other"),
        (None, ANN, True, "in_progress"),
        (None, ANN, False, "not_in_your_queue"),
    ],
    ids=["own-queue", "colleagues", "colleagues-even-as-manager", "shared-queue", "not-mine"],
)
def test_take(app, channel, assigned_to, taker, shared, outcome) -> None:  # type: ignore[no-untyped-def]
    conversation = say(app, channel, "m1")
    route(app, conversation, assigned_to)
    if outcome == "in_progress":
        app.take(TENANT, conversation.id, taker, T0, from_shared_queue=shared)
        after = app.conversation(TENANT, conversation.id)
        assert (after.status, after.assignee_id) == ("in_progress", taker)
    else:
        refused(outcome, app.take, TENANT, conversation.id, taker, T0, from_shared_queue=shared)


def test_taking_twice_is_harmless_and_a_second_taker_is_refused(app, channel) -> None:  # type: ignore[no-untyped-def]
    conversation = say(app, channel, "m1")
    app.take(TENANT, conversation.id, ANN, T0, from_shared_queue=True)
    version = app.conversation(TENANT, conversation.id).version
    app.take(TENANT, conversation.id, ANN, T0, from_shared_queue=True)
    assert app.conversation(TENANT, conversation.id).version == version
    refused("already_taken", app.take, TENANT, conversation.id, BOB, T0, from_shared_queue=True)


def test_two_takers_on_the_same_version_one_wins_the_other_gets_concurrent_change(
    app, channel
) -> None:  # type: ignore[no-untyped-def]
    """Two replicas load the same version; the event store lets only the first save in."""
    conversation = say(app, channel, "m1")
    first = app.repository.get(conversation.id)
    second = app.repository.get(conversation.id)
    first.take(ANN, T0, from_shared_queue=True)
    second.take(BOB, T0, from_shared_queue=True)
    app.save_or_refuse(first)
    refused("concurrent_change", app.save_or_refuse, second)
    assert app.conversation(TENANT, conversation.id).assignee_id == ANN


# --- reply and delivery -----------------------------------------------------------------


def test_reply_takes_an_assigned_conversation_and_requests_delivery(app, channel) -> None:  # type: ignore[no-untyped-def]
    conversation = say(app, channel, "m1")
    route(app, conversation, ANN)
    message_id = app.reply(TENANT, conversation.id, ANN, "Hello", T0, "c-1")
    again = app.reply(TENANT, conversation.id, ANN, "Hello", T0, "c-1")
    assert again == message_id, "the same client message id sends once"
    after = app.conversation(TENANT, conversation.id)
    assert after.status == "in_progress"
    kinds = published(app)
    assert kinds.count((topics.OUTBOUND_MESSAGES, "OutboundMessageRequested")) == 1
    assert kinds.count((topics.CONVERSATION_EVENTS, "MessageSent")) == 1
    assert (topics.CONVERSATION_EVENTS, "ConversationTaken") in kinds


def test_only_the_holder_replies(app, channel) -> None:  # type: ignore[no-untyped-def]
    conversation = say(app, channel, "m1")
    route(app, conversation, ANN)
    refused("not_yours", app.reply, TENANT, conversation.id, BOB, "Hi", T0)
    refused("not_yours", app.reply, TENANT, say(app, channel, "x", visitor="v2").id, ANN, "Hi", T0)


@pytest.mark.parametrize(
    ("statuses", "final", "recorded"),
    [
        (["sent", "delivered", "read"], "read", 3),
        (["sent", "sent", "delivered", "delivered"], "delivered", 2),
        (["read", "delivered", "sent"], "read", 1),
        (["sent", "failed", "delivered"], "failed", 2),
    ],
    ids=["in-order", "repeats", "out-of-order", "failure-is-final"],
)
def test_delivery_reports(app, channel, statuses, final, recorded) -> None:  # type: ignore[no-untyped-def]
    conversation = say(app, channel, "m1")
    app.take(TENANT, conversation.id, ANN, T0, from_shared_queue=True)
    message_id = app.reply(TENANT, conversation.id, ANN, "Hello", T0)
    reports = [
        ChannelReport(
            TENANT,
            DeliveryStatusReported(
                conversation_id=conversation.id, message_id=message_id, status=s, error="x", at=T0
            ),
        )
        for s in statuses
    ]
    assert app.apply_channel_reports(reports) == recorded
    assert app.conversation(TENANT, conversation.id).deliveries[message_id] == final


def test_a_report_for_another_tenants_conversation_changes_nothing(app, channel) -> None:  # type: ignore[no-untyped-def]
    conversation = say(app, channel, "m1")
    app.take(TENANT, conversation.id, ANN, T0, from_shared_queue=True)
    message_id = app.reply(TENANT, conversation.id, ANN, "Hello", T0)
    report = DeliveryStatusReported(
        conversation_id=conversation.id, message_id=message_id, status="failed", at=T0
    )
    assert app.apply_channel_reports([ChannelReport(OTHER, report)]) == 0


# --- passing on, dispatch, requirements ---------------------------------------------------


def test_holder_passes_on_and_dispatch_overrides(app, channel) -> None:  # type: ignore[no-untyped-def]
    conversation = say(app, channel, "m1")
    route(app, conversation, ANN)
    refused("not_yours", app.assign, TENANT, conversation.id, MAX, BOB, T0, dispatch=False)
    app.assign(TENANT, conversation.id, BOB, ANN, T0, dispatch=False)
    assert app.conversation(TENANT, conversation.id).assignee_id == BOB
    app.assign(TENANT, conversation.id, MAX, ANN, T0, dispatch=True)
    after = app.conversation(TENANT, conversation.id)
    assert (after.assignee_id, after.status, after.dispatched) == (MAX, "assigned", True)
    # Routing's automatic re-decision does not undo a dispatch...
    assert route(app, after, ANN) == 0
    # ...but taking it from a deactivated holder still applies.
    assert route(app, after, ANN, replaces_assignee_id=MAX, reroute_reason="deactivated") == 1


@pytest.mark.parametrize(
    ("taken", "reason", "applies"),
    [(False, "not_taken", True), (True, "not_taken", False), (True, "offline", True)],
)
def test_reroute_applies_only_while_it_still_fits(app, channel, taken, reason, applies) -> None:  # type: ignore[no-untyped-def]
    conversation = say(app, channel, "m1")
    route(app, conversation, ANN)
    if taken:
        app.take(TENANT, conversation.id, ANN, T0, from_shared_queue=False)
    changed = route(app, conversation, BOB, replaces_assignee_id=ANN, reroute_reason=reason)
    assert changed == int(applies)
    assert app.conversation(TENANT, conversation.id).assignee_id == (BOB if applies else ANN)


def test_requirements_change_records_once(app, channel) -> None:  # type: ignore[no-untyped-def]
    conversation = say(app, channel, "m1")
    app.change_requirements(TENANT, conversation.id, "fr", ["Orders"], MAX, T0, dispatched=True)
    app.change_requirements(TENANT, conversation.id, None, ["Orders"], MAX, T0, dispatched=True)
    after = app.conversation(TENANT, conversation.id)
    assert (after.language, after.required_competences) == ("fr", ["Orders"])
    assert [t for _, t in published(app)].count("ConversationRequirementsChanged") == 1


# --- closing and archiving -----------------------------------------------------------------


def test_close_then_archive_and_history_rules(app, channel) -> None:  # type: ignore[no-untyped-def]
    conversation = say(app, channel, "m1")
    app.take(TENANT, conversation.id, ANN, T0, from_shared_queue=True)
    app.add_note(TENANT, conversation.id, ANN, "VIP customer", T0)
    refused("not_closed", app.archive, TENANT, conversation.id, ["Orders"], T0)
    app.close_conversation(TENANT, conversation.id, T0, ANN)
    refused("closed", app.reply, TENANT, conversation.id, ANN, "late", T0)
    refused("topics_required", app.archive, TENANT, conversation.id, [], T0)
    app.archive(TENANT, conversation.id, ["Orders", "Delivery", "Orders"], T0)
    after = app.conversation(TENANT, conversation.id)
    assert (after.status, after.topics) == ("archived", ["Delivery", "Orders"])
    refused("archived", app.archive, TENANT, conversation.id, ["Orders"], T0)
    # The visitor writes again: a new conversation.
    assert say(app, channel, "m2").id != conversation.id


def test_close_with_topics_archives_in_one_step(app, channel) -> None:  # type: ignore[no-untyped-def]
    conversation = say(app, channel, "m1")
    app.close_conversation(TENANT, conversation.id, T0, MAX, ["Orders"])
    assert app.conversation(TENANT, conversation.id).status == "archived"


# --- out of office --------------------------------------------------------------------------


def test_out_of_office_once_per_conversation_per_closed_period(app, channel) -> None:  # type: ignore[no-untyped-def]
    channel.closed_period = "2025-03-01T18:00:00+01:00"
    conversation = say(app, channel, "m1")
    say(app, channel, "m2", second=1)
    channel.closed_period = None  # open again
    say(app, channel, "m3", second=2)
    channel.closed_period = "2025-03-03T18:00:00+01:00"  # the next closed period
    say(app, channel, "m4", second=3)
    say(app, channel, "m4", second=3)  # a redelivery
    sent = [t for topic, t in published(app) if topic == topics.OUTBOUND_MESSAGES]
    assert sent == ["OutboundMessageRequested"] * 2
    after = app.conversation(TENANT, conversation.id)
    assert after.status == "waiting", "the conversation is still queued for humans"
    assert len(after.channel_message_ids) == 4


# --- chatbot handover -------------------------------------------------------------------------


def bot_report(conversation: Conversation, report_type, **kw) -> ChannelReport:  # type: ignore[no-untyped-def]
    reply_to = kw.pop("reply_to")
    return ChannelReport(
        TENANT,
        report_type(conversation_id=conversation.id, reply_to_message_id=reply_to, at=T0, **kw),
    )


def last_message_id(app: Conversations, conversation: Conversation) -> uuid.UUID:
    events = list(app.repository.event_store.get(conversation.id))
    return [e for e in events if type(e).__name__ == "MessageReceived"][-1].message_id


def test_bot_answers_first_then_hands_over_on_request(app, channel) -> None:  # type: ignore[no-untyped-def]
    channel.bot = True
    conversation = say(app, channel, "m1")
    assert (conversation.status, conversation.handover) == ("bot", "bot")
    assert route(app, conversation, ANN) == 0, "routing leaves a bot conversation alone"
    asked = last_message_id(app, conversation)
    report = bot_report(conversation, BotReplied, reply_to=asked, texts=["Hi!", "How can I help?"])
    assert app.apply_channel_reports([report, report]) == 1, "a repeated answer is sent once"
    say(app, channel, "m2", second=1)
    asked = last_message_id(app, conversation)
    app.apply_channel_reports(
        [bot_report(conversation, BotReplied, reply_to=asked, texts=["A human?"], handover=True)]
    )
    after = app.conversation(TENANT, conversation.id)
    assert (after.status, after.handover) == ("waiting", "waiting_for_human")
    route(app, after, ANN)
    app.take(TENANT, conversation.id, ANN, T0, from_shared_queue=False)
    assert app.conversation(TENANT, conversation.id).handover == "human"
    kinds = published(app)
    assert kinds.count((topics.OUTBOUND_MESSAGES, "BotTurnRequested")) == 2
    assert kinds.count((topics.OUTBOUND_MESSAGES, "OutboundMessageRequested")) == 3
    states = [t for _, t in kinds if t == "HandoverChanged"]
    assert len(states) == 2  # waiting_for_human, human


def test_only_a_conversation_the_bot_had_goes_back_to_it(app, channel) -> None:  # type: ignore[no-untyped-def]
    conversation = say(app, channel, "m1")
    refused("no_bot", app.resume_bot, TENANT, conversation.id, ANN, T0)


def test_bot_failure_hands_over_and_keeps_the_message(app, channel) -> None:  # type: ignore[no-untyped-def]
    channel.bot = True
    conversation = say(app, channel, "m1")
    asked = last_message_id(app, conversation)
    app.apply_channel_reports(
        [bot_report(conversation, BotFailed, reply_to=asked, reason="timeout")]
    )
    after = app.conversation(TENANT, conversation.id)
    assert (after.status, after.handover) == ("waiting", "waiting_for_human")
    assert "m1" in after.channel_message_ids


def test_pause_keeps_the_visitor_with_humans_until_resumed(app, channel) -> None:  # type: ignore[no-untyped-def]
    channel.bot = True
    conversation = say(app, channel, "m1")
    app.pause_bot(TENANT, conversation.id, ANN, T0)
    paused = app.conversation(TENANT, conversation.id)
    assert (paused.status, paused.handover, paused.assignee_id) == ("in_progress", "human", ANN)
    late = bot_report(
        conversation, BotReplied, reply_to=last_message_id(app, conversation), texts=["late"]
    )
    app.apply_channel_reports([late])
    say(app, channel, "m2", second=1)
    kinds = published(app)
    assert kinds.count((topics.OUTBOUND_MESSAGES, "BotTurnRequested")) == 1, (
        "paused: bot gets nothing"
    )
    assert kinds.count((topics.OUTBOUND_MESSAGES, "OutboundMessageRequested")) == 0
    app.close_conversation(TENANT, conversation.id, T0, ANN)
    second = say(app, channel, "m3", second=2)
    assert second.status == "waiting", "until resumed the visitor stays with the humans"
    app.resume_bot(TENANT, second.id, ANN, T0)
    assert app.conversation(TENANT, second.id).status == "bot"
    say(app, channel, "m4", second=3)
    assert published(app).count((topics.OUTBOUND_MESSAGES, "BotTurnRequested")) == 2


# --- visitor profile ----------------------------------------------------------------------------


def test_visitor_profile_records_only_changes(app, channel) -> None:  # type: ignore[no-untyped-def]
    conversation = say(app, channel, "m1")
    visitor = conversation.visitor_id
    app.update_visitor(TENANT, visitor, {"first_name": "An", "email": "an@example.be"}, ANN)
    version = app.visitor(TENANT, visitor).version
    app.update_visitor(TENANT, visitor, {"first_name": "An"}, ANN)
    assert app.visitor(TENANT, visitor).version == version
    refused("unknown_field", app.update_visitor, TENANT, visitor, {"password": "x"}, ANN)
    with pytest.raises(LookupError):
        app.visitor(OTHER, visitor)


def test_a_redelivered_or_stale_decision_changes_nothing(app, channel) -> None:  # type: ignore[no-untyped-def]
    conversation = say(app, channel, "m1")
    first, second = uuid.uuid4(), uuid.uuid4()
    assert route(app, conversation, ANN, first) == 1
    assert (
        route(app, conversation, None, second, replaces_assignee_id=ANN, reroute_reason="offline")
        == 1
    )
    # The batch is redelivered after a crash: neither decision applies again.
    assert route(app, conversation, ANN, first) == 0
    assert (
        route(app, conversation, None, second, replaces_assignee_id=ANN, reroute_reason="offline")
        == 0
    )
    assert app.conversation(TENANT, conversation.id).assignee_id is None


def test_a_decision_from_before_the_handover_is_stale(app, channel) -> None:  # type: ignore[no-untyped-def]
    channel.bot = True
    conversation = say(app, channel, "m1")
    asked = last_message_id(app, conversation)
    handover_at = T0 + timedelta(minutes=5)
    app.apply_channel_reports(
        [
            ChannelReport(
                TENANT,
                BotFailed(
                    conversation_id=conversation.id,
                    reply_to_message_id=asked,
                    reason="down",
                    at=handover_at,
                ),
            )
        ]
    )
    assert route(app, conversation, ANN, uuid.uuid4(), at=handover_at - timedelta(seconds=1)) == 0
    assert route(app, conversation, BOB, uuid.uuid4(), at=handover_at) == 1
    assert app.conversation(TENANT, conversation.id).assignee_id == BOB


def test_a_message_for_an_unknown_tenant_is_unreadable_and_the_batch_keeps_nothing(app) -> None:  # type: ignore[no-untyped-def]
    def no_such_tenant(*_: object) -> ChannelContext:
        raise LookupError("Tenant")

    good = Inbound(
        TENANT,
        InboundMessageReceived(
            channel_id=CHANNEL,
            channel_type="webchat",
            channel_message_id="x1",
            visitor_external_id="vx",
            content=MessageContent(text="hi"),
            received_at=T0,
        ),
    )
    with pytest.raises(UnreadableEvent):
        app.receive_inbound([good], no_such_tenant)
    assert app.recorder.max_notification_id() in (None, 0)
