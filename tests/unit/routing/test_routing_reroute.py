"""Routing again: bot handover, takes, offline, deactivation, requirements, the take deadline."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from services.routing.domain.state import TenantRouting
from shared import events as ev
from shared.events import Payload
from tests.support.routing import (
    ANN,
    BOB,
    CHANNEL,
    assigned,
    at,
    closed,
    competence,
    conv,
    decisions,
    feed,
    feed_all,
    new_state,
    opened,
    presence,
    tenant_created,
    user_created,
)

TIMEOUT = timedelta(minutes=2)
CARL = uuid.UUID("00000000-0000-4000-8000-00000000000c")


def triples(state_out) -> list[tuple]:  # type: ignore[no-untyped-def]
    """(conversation, assignee, replaces, reason) of each decision."""
    return [
        (d.conversation_id, d.assignee_id, d.replaces_assignee_id, d.reroute_reason)
        for d in decisions(state_out)
    ]


def pair(cap_ann: int = 2, cap_bob: int = 2, **bob: object) -> TenantRouting:
    """Ann (idle since minute 0) and Bob (since minute 1) online: Ann gets the first one."""
    return new_state(
        tenant_created(),
        user_created(ANN, capacity=cap_ann),
        user_created(BOB, capacity=cap_bob, **bob),  # type: ignore[arg-type]
        presence(ANN, "online", 0),
        presence(BOB, "online", 1),
    )


def taken(n: int, user_id: uuid.UUID, minute: float) -> ev.ConversationTaken:
    return ev.ConversationTaken(conversation_id=conv(n), user_id=user_id, at=at(minute))


def handover(n: int, state: str, minute: float) -> ev.HandoverChanged:
    return ev.HandoverChanged(conversation_id=conv(n), state=state, reason="r", at=at(minute))


def requirements(
    n: int, minute: float, language: str = "nl", competences: tuple[str, ...] = ()
) -> ev.ConversationRequirementsChanged:
    return ev.ConversationRequirementsChanged(
        conversation_id=conv(n),
        language=language,
        required_competences=[competence(c) for c in competences],
        at=at(minute),
    )


def status(state: TenantRouting, n: int) -> tuple[str, uuid.UUID | None]:
    tracked = state.conversations[conv(n)]
    return tracked.status, tracked.assignee_id


def loads(state: TenantRouting) -> dict[uuid.UUID, int]:
    return {u: a.load for u, a in state.agents.items()}


# --- the chatbot answers first ---------------------------------------------------------


def test_a_bot_conversation_is_routed_only_after_a_handover_and_leaves_again() -> None:
    state = pair()
    bot_opened = opened(1, 2).model_copy(update={"bot_active": True})
    assert feed(state, bot_opened) == []
    assert status(state, 1) == ("bot", None)
    assert feed(state, handover(1, "human", 3)) == []  # a person paused it: Taken follows
    assert triples(feed(state, handover(1, "waiting_for_human", 4))) == [(conv(1), ANN, None, None)]
    assert status(state, 1) == ("assigned", ANN)
    assert feed(state, handover(1, "bot", 5)) == []  # resumed: out of routing again
    assert status(state, 1) == ("bot", None)
    assert loads(state) == {ANN: 0, BOB: 0}


def test_handing_back_to_the_bot_frees_room_for_the_queue() -> None:
    state = pair(cap_ann=1, cap_bob=1, languages=("fr",))
    feed_all(state, [opened(1, 2), opened(2, 3)])
    assert status(state, 2) == ("waiting", None)
    assert triples(feed(state, handover(1, "bot", 4))) == [(conv(2), ANN, None, None)]


# --- taking -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("taker", "expected_loads"),
    [
        pytest.param(ANN, {ANN: 1, BOB: 0}, id="the-assignee"),
        pytest.param(BOB, {ANN: 0, BOB: 1}, id="someone-else"),
    ],
)
def test_taking_puts_it_in_progress_with_the_taker(
    taker: uuid.UUID, expected_loads: dict[uuid.UUID, int]
) -> None:
    state = pair()
    feed(state, opened(1, 2))
    assert feed(state, taken(1, taker, 3)) == []
    assert status(state, 1) == ("in_progress", taker)
    assert loads(state) == expected_loads


def test_taking_from_the_queue_counts_in_load() -> None:
    state = new_state(tenant_created(), user_created(ANN, capacity=1))
    feed(state, opened(1, 1))  # Ann offline: it waits
    feed(state, taken(1, ANN, 2))
    assert status(state, 1) == ("in_progress", ANN)
    assert loads(state) == {ANN: 1}
    feed(state, opened(2, 3))
    assert feed(state, presence(ANN, "online", 4)) == []  # full: nothing offered


# --- the assignee goes offline, away, or leaves -----------------------------------------


def test_going_offline_reroutes_what_is_assigned_or_in_progress_but_not_dispatched() -> None:
    state = new_state(
        tenant_created(),
        user_created(ANN, capacity=3),
        user_created(BOB, capacity=3),
        user_created(CARL, capacity=3),
        presence(ANN, "online", 0),
    )
    feed_all(state, [opened(1, 1), opened(2, 2), opened(3, 3)])
    feed_all(state, [taken(2, ANN, 4), assigned(3, ANN, 5, by="dispatch")])
    feed_all(state, [presence(BOB, "online", 6), presence(CARL, "online", 7)])
    out = feed(state, presence(ANN, "offline", 10))
    assert triples(out) == [
        (conv(1), BOB, ANN, "offline"),  # Bob idle longer than Carl
        (conv(2), CARL, ANN, "offline"),
    ]
    assert status(state, 3) == ("assigned", ANN)  # dispatched: stays with Ann
    assert loads(state) == {ANN: 1, BOB: 1, CARL: 1}


def test_going_offline_with_nobody_else_sends_it_to_the_queue() -> None:
    state = new_state(tenant_created(), user_created(ANN), presence(ANN, "online", 0))
    feed(state, opened(1, 1))
    assert triples(feed(state, presence(ANN, "offline", 2))) == [(conv(1), None, ANN, "offline")]
    assert status(state, 1) == ("waiting", None)
    assert triples(feed(state, presence(ANN, "online", 3))) == [(conv(1), ANN, None, None)]


def test_going_away_keeps_what_one_has() -> None:
    state = pair()
    feed(state, opened(1, 2))
    assert feed(state, presence(ANN, "away", 3)) == []
    assert status(state, 1) == ("assigned", ANN)
    assert decisions(feed(state, opened(2, 4)))[0].assignee_id == BOB


@pytest.mark.parametrize(
    "leaving",
    [ev.EndUserDeactivated(user_id=ANN, at=at(10)), ev.EndUserDeleted(user_id=ANN, at=at(10))],
    ids=["deactivated", "deleted"],
)
def test_leaving_reroutes_even_dispatched_and_in_progress(leaving: Payload) -> None:
    state = pair(cap_ann=3, cap_bob=3)
    feed_all(state, [opened(1, 2), opened(2, 3), taken(1, ANN, 4), assigned(2, ANN, 5)])
    assert loads(state) == {ANN: 2, BOB: 0}
    assert triples(feed(state, leaving)) == [
        (conv(1), BOB, ANN, "deactivated"),
        (conv(2), BOB, ANN, "deactivated"),
    ]
    assert not state.conversations[conv(2)].dispatched


def test_becoming_an_analyst_is_like_leaving_for_what_one_holds() -> None:
    state = pair(cap_ann=3, cap_bob=3)
    feed_all(state, [opened(1, 2), assigned(1, ANN, 3, by="dispatch")])
    analyst = ev.EndUserUpdated(**user_created(ANN, role="analyst").model_dump())
    envelope = ev.Envelope.wrap(analyst, tenant_id=state.tenant_id, occurred_at=at(4))
    assert triples(state.apply(envelope, analyst)) == [(conv(1), BOB, ANN, "deactivated")]
    assert loads(state) == {ANN: 0, BOB: 1}


# --- requirements change ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(requirements(1, 5), [], id="still-fits"),
        pytest.param(
            requirements(1, 5, language="fr"), [(conv(1), BOB, ANN, "requirements")], id="language"
        ),
        pytest.param(
            requirements(1, 5, competences=("legal",)),
            [(conv(1), BOB, ANN, "requirements")],
            id="competence",
        ),
        pytest.param(
            requirements(1, 5, competences=("tax",)),
            [(conv(1), None, ANN, "requirements")],
            id="nobody-fits",
        ),
    ],
)
def test_a_requirements_change_reroutes_only_when_the_holder_no_longer_fits(
    change: ev.ConversationRequirementsChanged, expected: list[tuple]
) -> None:
    state = pair(languages=("nl", "fr"), competences=("legal",))
    feed(state, opened(1, 2))
    feed(state, taken(1, ANN, 3))
    assert triples(feed(state, change)) == expected


def test_a_requirements_change_also_moves_a_dispatched_conversation() -> None:
    state = pair(languages=("nl", "fr"))
    feed_all(state, [opened(1, 2), assigned(1, ANN, 3, by="dispatch")])
    assert triples(feed(state, requirements(1, 4, language="fr"))) == [
        (conv(1), BOB, ANN, "requirements")
    ]
    assert not state.conversations[conv(1)].dispatched


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(requirements(1, 5), [(conv(1), ANN, None, None)], id="now-someone-fits"),
        pytest.param(requirements(1, 5, language="de"), [], id="still-nobody"),
    ],
)
def test_a_waiting_conversation_is_looked_at_again(
    change: ev.ConversationRequirementsChanged, expected: list[tuple]
) -> None:
    state = new_state(tenant_created(), user_created(ANN), presence(ANN, "online", 0))
    feed(state, opened(1, 1, language="fr"))
    assert triples(feed(state, change)) == expected


# --- the take deadline ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes_after", "expected"),
    [
        pytest.param(1.99, [], id="before-the-deadline"),
        pytest.param(2, [(conv(1), BOB, ANN, "not_taken")], id="at-the-deadline"),
        pytest.param(30, [(conv(1), BOB, ANN, "not_taken")], id="long-after"),
    ],
)
def test_not_taken_in_time_goes_to_someone_else(minutes_after: float, expected: list) -> None:
    state = pair()
    feed(state, opened(1, 2))
    out = state.sweep(at(2 + minutes_after), TIMEOUT)
    assert triples(out) == expected
    if expected:
        (decision,) = decisions(out)
        assert decision.decided_at == at(2 + minutes_after)
        verdicts = {v.user_id: v.excluded_by for v in decision.candidates}
        assert verdicts == {ANN: ["not_taken"], BOB: []}
        assert loads(state) == {ANN: 0, BOB: 1}
        # Bob's clock starts now: a sweep a minute later leaves it with him.
        assert state.sweep(at(3 + minutes_after), TIMEOUT) == []


@pytest.mark.parametrize(
    "after",
    [
        pytest.param([taken(1, ANN, 3)], id="taken"),
        pytest.param([assigned(1, ANN, 3, by="dispatch")], id="dispatched"),
        pytest.param([presence(BOB, "away", 3)], id="nobody-else-eligible"),
        pytest.param(
            [ev.TenantSettingsChanged(routing_enabled=False, languages=["nl"], default_capacity=5)],
            id="routing-off",
        ),
        pytest.param([closed(1, 3)], id="closed"),
    ],
)
def test_the_deadline_leaves_alone(after: list[Payload]) -> None:
    state = pair()
    feed(state, opened(1, 2))
    feed_all(state, after)
    assert state.sweep(at(60), TIMEOUT) == []


def test_the_late_one_is_offered_the_oldest_waiting_conversation_they_fit() -> None:
    state = new_state(
        tenant_created(),
        user_created(ANN, capacity=1, languages=("nl", "de")),
        user_created(BOB, capacity=3, languages=("nl", "fr")),
        presence(ANN, "online", 0),
    )
    feed_all(state, [opened(1, 1), opened(2, 2, language="de"), opened(3, 2.5, language="fr")])
    assert [status(state, n) for n in (1, 2, 3)] == [
        ("assigned", ANN),
        ("waiting", None),
        ("waiting", None),
    ]
    assert triples(feed(state, presence(BOB, "online", 3))) == [(conv(3), BOB, None, None)]
    # Conv 1 is overdue at minute 3 (assigned at 1); conv 3 is not yet (assigned at 3).
    assert triples(state.sweep(at(4), TIMEOUT)) == [
        (conv(1), BOB, ANN, "not_taken"),
        (conv(2), ANN, None, None),  # Ann has room again: the German one only she speaks
    ]
    assert loads(state) == {ANN: 1, BOB: 2}


@pytest.mark.parametrize(
    "payload",
    [
        taken(7, ANN, 3),
        handover(7, "waiting_for_human", 3),
        handover(7, "bot", 3),
        requirements(7, 3, language="fr"),
        ev.ConversationQueued(conversation_id=conv(7), at=at(3)),
        ev.ConversationArchived(conversation_id=conv(7), topics=[], at=at(3)),
    ],
    ids=["taken", "handover-human", "handover-bot", "requirements", "queued", "archived"],
)
def test_events_about_an_unknown_conversation_change_nothing(payload: Payload) -> None:
    state = pair()
    feed(state, opened(1, 2))
    assert feed(state, payload) == []
    assert loads(state) == {ANN: 1, BOB: 0}
    assert set(state.conversations) == {conv(1)}


# --- the conversation service put it back in the queue ----------------------------------


def test_a_later_queued_routes_again_and_an_older_one_is_an_echo() -> None:
    state = new_state(tenant_created(), user_created(ANN, capacity=1))
    feed(state, opened(1, 1))  # nobody online: decided "wait" at minute 1
    feed(state, presence(ANN, "online", 2))  # Ann gets it at minute 2
    echo = ev.ConversationQueued(conversation_id=conv(1), at=at(1))
    assert feed(state, echo) == []
    assert status(state, 1) == ("assigned", ANN)
    put_back = ev.ConversationQueued(conversation_id=conv(1), at=at(5))
    assert triples(feed(state, put_back)) == [(conv(1), ANN, None, None)]


# --- settings ---------------------------------------------------------------------------


def test_a_new_default_capacity_applies_to_those_without_their_own_and_offers_the_queue() -> None:
    state = new_state(
        tenant_created(default_capacity=1),
        user_created(ANN),
        user_created(BOB, capacity=1),
        presence(ANN, "online", 0),
        presence(BOB, "online", 1),
    )
    feed_all(state, [opened(n, 1 + n) for n in range(1, 4)])
    assert status(state, 3) == ("waiting", None)
    change = ev.TenantSettingsChanged(routing_enabled=True, languages=["nl"], default_capacity=3)
    assert triples(feed(state, change)) == [(conv(3), ANN, None, None)]
    assert (state.agents[ANN].capacity, state.agents[BOB].capacity) == (3, 1)


def test_archiving_frees_like_closing() -> None:
    state = new_state(tenant_created(), user_created(ANN, capacity=1), presence(ANN, "online", 0))
    feed_all(state, [opened(1, 1), opened(2, 2)])
    archived = ev.ConversationArchived(conversation_id=conv(1), topics=["x"], at=at(3))
    assert triples(feed(state, archived)) == [(conv(2), ANN, None, None)]


# --- explanations in a large tenant -----------------------------------------------------


@pytest.mark.parametrize(
    ("online", "expected_assignee", "expected_verdicts"),
    [(True, uuid.UUID(int=1), 10), (False, None, 10)],
)
def test_a_large_tenant_explains_with_the_closest_ten(
    online: bool, expected_assignee: uuid.UUID | None, expected_verdicts: int
) -> None:
    state = new_state(tenant_created())
    for i in range(1, 41):
        feed(state, user_created(uuid.UUID(int=i), channels=(CHANNEL,)))
        if online:
            feed(state, presence(uuid.UUID(int=i), "online", 0))
    (decision,) = decisions(feed(state, opened(1, 1)))
    assert decision.assignee_id == expected_assignee
    assert len(decision.candidates) == expected_verdicts
    assert [c.user_id for c in decision.candidates] == [uuid.UUID(int=i) for i in range(1, 11)]
