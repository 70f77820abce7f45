"""Two replicas of the conversation service take the same conversation at the same moment:
the event store lets exactly one in, on SQLite and on PostgreSQL (SPEC §3.1.8)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest

from services.conversation.application import eventstore
from services.conversation.application.conversations import Conversations, Inbound
from services.conversation.application.directory import ChannelContext
from services.conversation.application.eventstore import event_store_env
from services.conversation.domain.conversation import ConversationError, Visitor
from shared.events import InboundMessageReceived, MessageContent
from tests.support.databases import BOTH, database_for

TENANT, CHANNEL = uuid.uuid4(), uuid.uuid4()
T0 = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(params=BOTH)
def replicas(request, tmp_path):  # type: ignore[no-untyped-def]
    """Two Conversations applications (two service replicas) on one event store."""
    env = event_store_env(database_for(request, "take"), tmp_path, "conversations")
    apps = [Conversations(env=env), Conversations(env=env)]
    yield apps
    for app in apps:
        app.close()


def open_conversation(app: Conversations, visitor: str) -> uuid.UUID:
    message = InboundMessageReceived(
        channel_id=CHANNEL,
        channel_type="webchat",
        channel_message_id=f"{visitor}-1",
        visitor_external_id=visitor,
        content=MessageContent(text="hi"),
        received_at=T0,
    )
    app.receive_inbound([Inbound(TENANT, message)], lambda *_: ChannelContext("nl", False, None))
    return app.repository.get(Visitor.create_id(TENANT, CHANNEL, visitor)).open_conversation_id


def test_same_version_two_replicas_one_wins(replicas) -> None:  # type: ignore[no-untyped-def]
    one, two = replicas
    cid = open_conversation(one, "v1")
    ann, bob = uuid.uuid4(), uuid.uuid4()
    mine, theirs = one.repository.get(cid), two.repository.get(cid)
    mine.take(ann, T0, from_shared_queue=True)
    theirs.take(bob, T0, from_shared_queue=True)
    one.save_or_refuse(mine)
    with pytest.raises(ConversationError) as lost:
        two.save_or_refuse(theirs)
    assert lost.value.code == "concurrent_change"
    assert two.conversation(TENANT, cid).assignee_id == ann


def race(takers: dict[str, tuple[Conversations, uuid.UUID]], cid: uuid.UUID) -> dict[str, str]:
    """Each taker takes ``cid`` on its own replica at the same moment; name -> outcome."""
    barrier = threading.Barrier(len(takers))
    outcomes: dict[str, str] = {}

    def take(name: str) -> None:
        app, user = takers[name]
        barrier.wait()
        try:
            app.take(TENANT, cid, user, T0, from_shared_queue=True)
            outcomes[name] = "won"
        except ConversationError as exc:
            outcomes[name] = exc.code

    threads = [threading.Thread(target=take, args=(name,)) for name in takers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_racing_threads_exactly_one_take_succeeds(replicas) -> None:  # type: ignore[no-untyped-def]
    """Many conversations, two threads (one per replica) racing on each."""
    one, two = replicas
    for n in range(15):
        cid = open_conversation(one, f"race-{n}")
        takers = {"ann": (one, uuid.uuid4()), "bob": (two, uuid.uuid4())}
        outcomes = race(takers, cid)
        assert sorted(outcomes.values()) in (
            ["already_taken", "won"],
            ["concurrent_change", "won"],
        ), outcomes
        winner = next(name for name, outcome in outcomes.items() if outcome == "won")
        assert one.conversation(TENANT, cid).assignee_id == takers[winner][1]


@pytest.mark.parametrize("scan_limit", [5_000, 0])
def test_a_replica_decides_on_what_another_replica_saved_since_it_cached(
    replicas, monkeypatch, scan_limit
) -> None:  # type: ignore[no-untyped-def]
    """Cached gets do not fast-forward one aggregate at a time: each command first looks at
    what other writers stored since its last look (past the scan limit it drops the whole
    cache), so replica one, whose cache holds the conversation as it opened it, sees
    replica two's take and refuses on the rule, not on a collision at the save."""
    monkeypatch.setattr(eventstore, "SYNC_SCAN_LIMIT", scan_limit)
    one, two = replicas
    cid = open_conversation(one, "cached-on-one")
    assert one.repository.cache.get(cid).assignee_id is None  # one's cache has it
    bob, ann = uuid.uuid4(), uuid.uuid4()
    two.take(TENANT, cid, bob, T0, from_shared_queue=True)
    with pytest.raises(ConversationError) as refused:
        one.take(TENANT, cid, ann, T0, from_shared_queue=True)
    assert refused.value.code == "already_taken"
    assert one.conversation(TENANT, cid).assignee_id == bob
    # the other way round: two cached the taken conversation, one closes it
    one.close_conversation(TENANT, cid, T0)
    with pytest.raises(ConversationError) as closed:
        two.take(TENANT, cid, ann, T0, from_shared_queue=True)
    assert closed.value.code == "closed"


def test_a_visitor_another_replica_registered_is_found_not_registered_again(replicas) -> None:  # type: ignore[no-untyped-def]
    """A batch asks the store once which of its uncached visitors exist (stored_ids); a
    visitor replica two registered is loaded by replica one, and only a new one is new."""
    one, two = replicas
    cid = open_conversation(two, "known-to-two")
    known = Visitor.create_id(TENANT, CHANNEL, "known-to-two")
    new = Visitor.create_id(TENANT, CHANNEL, "new-to-both")
    assert one.stored_ids({known, new}) == {known}
    second = InboundMessageReceived(
        channel_id=CHANNEL,
        channel_type="webchat",
        channel_message_id="known-to-two-2",
        visitor_external_id="known-to-two",
        content=MessageContent(text="again"),
        received_at=T0,
    )
    context = lambda *_: ChannelContext("nl", False, None)  # noqa: E731
    assert one.receive_inbound([Inbound(TENANT, second)], context) == 1
    conversation = one.conversation(TENANT, cid)
    assert conversation.channel_message_ids == {"known-to-two-1", "known-to-two-2"}
