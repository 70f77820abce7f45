"""One tenant's routing state driven by integration events, and the decisions it emits."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.routing.domain.choice import Candidate, Need, exclusions
from services.routing.domain.state import TenantRouting
from shared import events as ev
from shared.events import Envelope, Payload
from tests.support.routing import (
    ANN,
    BOB,
    CHANNEL,
    OTHER_CHANNEL,
    TENANT,
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
    routed_pairs,
    tenant_created,
    user_created,
)

# --- directory events -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("routing_enabled", "default_capacity"),
    [(True, 5), (False, 5), (True, 1), (False, 12)],
)
def test_tenant_created_sets_routing_settings(routing_enabled: bool, default_capacity: int) -> None:
    state = TenantRouting(tenant_id=TENANT, routing_enabled=not routing_enabled)
    out = feed(state, tenant_created(routing_enabled, default_capacity))
    assert out == []
    assert state.routing_enabled is routing_enabled
    assert state.default_capacity == default_capacity


@pytest.mark.parametrize(
    ("default_capacity", "user_capacity", "expected"),
    [(5, None, 5), (3, None, 3), (3, 1, 1), (2, 7, 7)],
)
def test_end_user_created_adds_an_offline_agent_with_capacity(
    default_capacity: int, user_capacity: int | None, expected: int
) -> None:
    state = new_state(tenant_created(default_capacity=default_capacity))
    out = feed(
        state,
        user_created(
            ANN,
            role="manager",
            languages=("nl", "fr"),
            channels=(CHANNEL, OTHER_CHANNEL),
            competences=("billing",),
            capacity=user_capacity,
        ),
    )
    assert out == []
    agent = state.agents[ANN]
    assert agent.capacity == expected
    assert agent.load == 0
    assert agent.presence == "offline"
    assert agent.role == "manager"
    assert agent.languages == {"nl", "fr"}
    assert agent.channel_ids == {CHANNEL, OTHER_CHANNEL}
    assert agent.competences == {competence("billing")}


# --- presence ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("capacity", "expected_assigned"),
    [(1, [1]), (2, [1, 2]), (3, [1, 2, 3]), (5, [1, 2, 3])],
)
def test_coming_online_takes_the_oldest_waiting_up_to_capacity(
    capacity: int, expected_assigned: list[int]
) -> None:
    state = new_state(tenant_created(), user_created(ANN, capacity=capacity))
    # Arrival order differs from opened_at order: conv 2 (minute 2), 3 (minute 3), 1 (minute 1).
    queued = feed_all(state, [opened(2, 2), opened(3, 3), opened(1, 1)])
    assert [d.assignee_id for d in decisions(queued)] == [None, None, None]

    out = feed(state, presence(ANN, "online", 10))

    assert routed_pairs(out) == [(conv(n), ANN) for n in expected_assigned]
    assert state.agents[ANN].load == len(expected_assigned)
    waiting = {c for c, t in state.conversations.items() if t.status == "waiting"}
    assert waiting == {conv(n) for n in (1, 2, 3)} - {conv(n) for n in expected_assigned}


@pytest.mark.parametrize(
    ("agent", "conversation", "presence_value"),
    [
        pytest.param(user_created(ANN), opened(1, 1), "away", id="away"),
        pytest.param(user_created(ANN), opened(1, 1), "offline", id="offline"),
        pytest.param(user_created(ANN, languages=("fr",)), opened(1, 1), "online", id="language"),
        pytest.param(
            user_created(ANN, channels=(OTHER_CHANNEL,)), opened(1, 1), "online", id="channel"
        ),
        pytest.param(
            user_created(ANN), opened(1, 1, competences=("legal",)), "online", id="competence"
        ),
        pytest.param(user_created(ANN, role="analyst"), opened(1, 1), "online", id="analyst"),
    ],
)
def test_presence_change_that_does_not_make_an_eligible_agent_routes_nothing(
    agent: ev.EndUserCreated, conversation: ev.ConversationOpened, presence_value: str
) -> None:
    state = new_state(tenant_created(), agent)
    feed(state, conversation)
    out = feed(state, presence(ANN, presence_value, 5))
    assert out == []
    assert state.conversations[conversation.conversation_id].status == "waiting"
    assert state.agents[ANN].load == 0
    assert state.agents[ANN].presence == presence_value


def test_presence_of_an_unknown_user_is_ignored() -> None:
    state = new_state(tenant_created(), user_created(ANN))
    feed(state, opened(1, 1))
    assert feed(state, presence(BOB, "online", 2)) == []
    assert BOB not in state.agents


def test_coming_online_with_routing_disabled_routes_nothing() -> None:
    state = new_state(tenant_created(routing_enabled=False), user_created(ANN))
    assert feed(state, opened(1, 1)) == []
    assert feed(state, presence(ANN, "online", 2)) == []
    assert state.conversations[conv(1)].status == "waiting"
    assert state.agents[ANN].load == 0


# --- arrivals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agent", "conversation"),
    [
        pytest.param(user_created(ANN), opened(1, 1), id="plain"),
        pytest.param(user_created(ANN, role="administrator"), opened(1, 1), id="administrator"),
        pytest.param(
            user_created(ANN, languages=("fr", "nl"), competences=("billing", "legal")),
            opened(1, 1, language="fr", competences=("legal",)),
            id="language-and-competence",
        ),
        pytest.param(
            user_created(ANN, channels=(CHANNEL, OTHER_CHANNEL)),
            opened(1, 1, channel=OTHER_CHANNEL),
            id="second-channel",
        ),
    ],
)
def test_arrival_with_an_eligible_online_agent_is_routed_to_them(
    agent: ev.EndUserCreated, conversation: ev.ConversationOpened
) -> None:
    state = new_state(tenant_created(), agent, presence(ANN, "online", 0))
    out = feed(state, conversation)
    assert len(out) == 1
    envelope = out[0]
    (decision,) = decisions(out)
    assert decision.conversation_id == conversation.conversation_id
    assert decision.assignee_id == ANN
    assert decision.tie_break == "least_loaded"
    assert decision.decided_at == conversation.opened_at
    assert [(c.user_id, c.excluded_by, c.load) for c in decision.candidates] == [(ANN, [], 0)]
    assert envelope.causation_id == conversation.conversation_id
    assert state.agents[ANN].load == 1
    tracked = state.conversations[conversation.conversation_id]
    assert (tracked.status, tracked.assignee_id) == ("assigned", ANN)


@pytest.mark.parametrize(
    ("setup", "conversation", "reasons"),
    [
        pytest.param([user_created(ANN)], opened(1, 1), ["presence"], id="offline"),
        pytest.param(
            [user_created(ANN), presence(ANN, "online", 0), presence(ANN, "away", 0.5)],
            opened(1, 1),
            ["presence"],
            id="away",
        ),
        pytest.param(
            [user_created(ANN), presence(ANN, "online", 0)],
            opened(1, 1, language="fr"),
            ["language"],
            id="language",
        ),
        pytest.param(
            [user_created(ANN), presence(ANN, "online", 0)],
            opened(1, 1, channel=OTHER_CHANNEL),
            ["channel"],
            id="channel",
        ),
        pytest.param(
            [user_created(ANN), presence(ANN, "online", 0)],
            opened(1, 1, competences=("legal",)),
            ["competence"],
            id="competence",
        ),
        pytest.param(
            [user_created(ANN, role="analyst"), presence(ANN, "online", 0)],
            opened(1, 1),
            ["role"],
            id="analyst",
        ),
        pytest.param(
            [user_created(ANN, capacity=1), presence(ANN, "online", 0), opened(9, 0.5)],
            opened(1, 1),
            ["capacity"],
            id="capacity",
        ),
        pytest.param([], opened(1, 1), None, id="no-agents"),
    ],
)
def test_arrival_with_nobody_eligible_is_routed_to_nobody_and_waits(
    setup: list[Payload], conversation: ev.ConversationOpened, reasons: list[str] | None
) -> None:
    state = new_state(tenant_created(), *setup)
    loads_before = {u: a.load for u, a in state.agents.items()}
    out = feed(state, conversation)
    (decision,) = decisions(out)
    assert decision.conversation_id == conversation.conversation_id
    assert decision.assignee_id is None
    assert decision.tie_break is None
    if reasons is None:
        assert decision.candidates == []
    else:
        assert [(c.user_id, c.excluded_by) for c in decision.candidates] == [(ANN, reasons)]
    tracked = state.conversations[conversation.conversation_id]
    assert (tracked.status, tracked.assignee_id) == ("waiting", None)
    assert {u: a.load for u, a in state.agents.items()} == loads_before


def test_arrival_with_routing_disabled_emits_nothing_and_waits() -> None:
    state = new_state(
        tenant_created(routing_enabled=False), user_created(ANN), presence(ANN, "online", 0)
    )
    assert feed(state, opened(1, 1)) == []
    assert state.conversations[conv(1)].status == "waiting"
    assert state.agents[ANN].load == 0


def test_a_repeated_conversation_opened_is_ignored() -> None:
    state = new_state(tenant_created(), user_created(ANN), presence(ANN, "online", 0))
    assert routed_pairs(feed(state, opened(1, 1))) == [(conv(1), ANN)]
    assert feed(state, opened(1, 1)) == []
    assert state.agents[ANN].load == 1


def test_a_burst_of_arrivals_spreads_by_load_and_never_overfills() -> None:
    state = new_state(
        tenant_created(),
        user_created(ANN, capacity=2),
        user_created(BOB, capacity=1),
        presence(ANN, "online", 0),
        presence(BOB, "online", 1),  # Ann has been idle longer
    )
    out = feed_all(state, [opened(n, 2 + n) for n in range(1, 6)])
    assert routed_pairs(out) == [
        (conv(1), ANN),  # tie on load 0: Ann idle longest
        (conv(2), BOB),  # Bob least loaded
        (conv(3), ANN),  # only Ann has room
        (conv(4), None),
        (conv(5), None),
    ]
    assert [d.tie_break for d in decisions(out)] == [
        "idle_longest",
        "least_loaded",
        "least_loaded",
        None,
        None,
    ]
    assert (state.agents[ANN].load, state.agents[BOB].load) == (2, 1)


# --- closes -----------------------------------------------------------------------------


def test_close_frees_capacity_and_offers_the_oldest_waiting_conversation() -> None:
    state = new_state(tenant_created(), user_created(ANN, capacity=1), presence(ANN, "online", 0))
    assert routed_pairs(feed_all(state, [opened(1, 1), opened(2, 3), opened(3, 2)])) == [
        (conv(1), ANN),
        (conv(2), None),
        (conv(3), None),
    ]
    out = feed(state, closed(1, 10))
    assert routed_pairs(out) == [(conv(3), ANN)]  # opened at minute 2: the oldest waiting
    assert conv(1) not in state.conversations
    assert state.agents[ANN].load == 1
    assert state.conversations[conv(2)].status == "waiting"

    assert routed_pairs(feed(state, closed(3, 11))) == [(conv(2), ANN)]
    assert feed(state, closed(2, 12)) == []
    assert state.agents[ANN].load == 0
    assert state.agents[ANN].idle_since == at(12)


@pytest.mark.parametrize(
    ("after_assignment", "expected_load"),
    [
        pytest.param([presence(ANN, "away", 5)], 0, id="agent-went-away"),
        pytest.param([], 1, id="agent-still-online"),
    ],
)
def test_close_offers_only_to_an_online_freed_agent(
    after_assignment: list[Payload], expected_load: int
) -> None:
    state = new_state(tenant_created(), user_created(ANN, capacity=1), presence(ANN, "online", 0))
    feed_all(state, [opened(1, 1), opened(2, 2), *after_assignment])
    out = feed(state, closed(1, 10))
    assert len(out) == expected_load
    assert state.agents[ANN].load == expected_load
    expected_status = "assigned" if expected_load else "waiting"
    assert state.conversations[conv(2)].status == expected_status


def test_close_offers_only_what_the_freed_agent_can_take() -> None:
    state = new_state(tenant_created(), user_created(ANN, capacity=1), presence(ANN, "online", 0))
    feed_all(state, [opened(1, 1), opened(2, 2, language="fr"), opened(3, 3)])
    assert routed_pairs(feed(state, closed(1, 10))) == [(conv(3), ANN)]
    assert state.conversations[conv(2)].status == "waiting"


@pytest.mark.parametrize(
    "setup",
    [
        pytest.param([], id="unknown-conversation"),
        pytest.param([opened(1, 1)], id="waiting-conversation"),
    ],
)
def test_closing_a_conversation_nobody_holds_routes_nothing(setup: list[Payload]) -> None:
    state = new_state(tenant_created(), user_created(ANN), *setup)
    feed(state, opened(2, 2))
    assert feed(state, closed(1, 5)) == []
    assert conv(1) not in state.conversations
    assert state.conversations[conv(2)].status == "waiting"


# --- assignments by others --------------------------------------------------------------


def _ann_and_bob_online() -> TenantRouting:
    return new_state(
        tenant_created(),
        user_created(ANN, capacity=2),
        user_created(BOB, capacity=2),
        presence(ANN, "online", 0),
        presence(BOB, "online", 1),
    )


@pytest.mark.parametrize(
    ("assignee", "by", "expected_loads"),
    [
        pytest.param(BOB, "dispatch", {ANN: 0, BOB: 1}, id="dispatch-to-other"),
        pytest.param(BOB, "agent", {ANN: 0, BOB: 1}, id="agent-takes-over"),
        pytest.param(ANN, "routing", {ANN: 1, BOB: 0}, id="routing-confirmed"),
        pytest.param(ANN, "dispatch", {ANN: 1, BOB: 0}, id="dispatch-to-same"),
    ],
)
def test_assignment_moves_load_to_the_new_assignee(
    assignee: uuid.UUID, by: str, expected_loads: dict[uuid.UUID, int]
) -> None:
    state = _ann_and_bob_online()
    assert routed_pairs(feed(state, opened(1, 2))) == [(conv(1), ANN)]
    assert feed(state, assigned(1, assignee, 3, by=by)) == []
    assert {u: a.load for u, a in state.agents.items()} == expected_loads
    tracked = state.conversations[conv(1)]
    assert (tracked.status, tracked.assignee_id) == ("assigned", assignee)
    # Closing frees the new assignee, not the one routing chose.
    feed(state, closed(1, 4))
    assert {u: a.load for u, a in state.agents.items()} == {ANN: 0, BOB: 0}


def test_assignment_of_a_waiting_conversation_takes_it_out_of_the_queue() -> None:
    state = new_state(tenant_created(), user_created(ANN), user_created(BOB))
    feed(state, opened(1, 1))
    feed(state, assigned(1, BOB, 2, by="agent"))
    assert state.agents[BOB].load == 1
    assert state.conversations[conv(1)].status == "assigned"
    assert feed(state, presence(ANN, "online", 3)) == []  # nothing left to offer
    assert state.agents[ANN].load == 0


def test_assignment_of_an_unknown_conversation_is_ignored() -> None:
    state = _ann_and_bob_online()
    assert feed(state, assigned(7, BOB, 2)) == []
    assert state.agents[BOB].load == 0
    assert conv(7) not in state.conversations


def test_capacity_freed_by_a_dispatch_is_offered_to_waiting_conversations() -> None:
    """Ann is full; a dispatch moves her conversation to Bob; the waiting one goes to Ann.

    Otherwise a conversation waits while an eligible online agent has room, until some
    unrelated presence change or close happens to offer it again.
    """
    state = new_state(
        tenant_created(),
        user_created(ANN, capacity=1),
        user_created(BOB, capacity=1, languages=("fr",)),
        presence(ANN, "online", 0),
        presence(BOB, "online", 0),
    )
    assert routed_pairs(feed_all(state, [opened(1, 1), opened(2, 2)])) == [
        (conv(1), ANN),
        (conv(2), None),
    ]
    out = feed(state, assigned(1, BOB, 3, by="dispatch"))
    assert routed_pairs(out) == [(conv(2), ANN)]
    assert state.conversations[conv(2)].status == "assigned"
    assert (state.agents[ANN].load, state.agents[BOB].load) == (1, 1)


# --- deterministic decisions ------------------------------------------------------------

SCENARIO: list[Payload] = [
    tenant_created(),
    user_created(ANN, capacity=1),
    user_created(BOB, capacity=2, languages=("nl", "fr")),
    opened(1, 1),
    presence(ANN, "online", 2),
    opened(2, 3, language="fr"),
    presence(BOB, "online", 4),
    opened(3, 5),
    closed(1, 6),
    opened(4, 7),
    assigned(4, BOB, 8),
    closed(3, 9),
    opened(5, 10),
]


def _signature(envelopes: list[Envelope]) -> list[tuple[uuid.UUID, uuid.UUID, uuid.UUID | None]]:
    return [(e.event_id, *pair) for e, pair in zip(envelopes, routed_pairs(envelopes), strict=True)]


def test_replaying_the_same_events_gives_identical_decisions() -> None:
    first = feed_all(TenantRouting(tenant_id=TENANT), SCENARIO)
    second = feed_all(TenantRouting(tenant_id=TENANT), SCENARIO)
    assert len(first) >= 6
    assert _signature(first) == _signature(second)
    assert [e.to_bytes() for e in first] == [e.to_bytes() for e in second]
    # Every decision has its own id, also the second round for the same conversation.
    assert len({e.event_id for e in first}) == len(first)
    assert len({d.conversation_id for d in decisions(first)}) < len(first)


def test_decision_ids_do_not_depend_on_the_wall_clock_or_envelope_ids() -> None:
    state = new_state(tenant_created(), user_created(ANN), presence(ANN, "online", 0))
    other = new_state(tenant_created(), user_created(ANN), presence(ANN, "online", 0))
    payload = opened(1, 1)
    a = state.apply(Envelope.wrap(payload, tenant_id=TENANT), payload)
    b = other.apply(Envelope.wrap(payload, tenant_id=TENANT, event_id=uuid.uuid4()), payload)
    assert [e.event_id for e in a] == [e.event_id for e in b]
    assert a[0].occurred_at == payload.opened_at


# --- property: random arrivals, presence changes and closes ------------------------------

AGENT_IDS = [uuid.UUID(int=0xA6E00 + i) for i in range(4)]


def mostly(common: object, *others: object) -> st.SearchStrategy:
    """``common`` eight times as likely as each of ``others``: eligible agents are frequent."""
    return st.sampled_from([common] * 8 + list(others))


agent_spec = st.fixed_dictionaries(
    {
        "role": mostly("agent", "manager", "analyst"),
        "languages": mostly(("nl", "fr"), ("nl",), ("fr",)),
        "channels": mostly((CHANNEL, OTHER_CHANNEL), (CHANNEL,), (OTHER_CHANNEL,)),
        "competences": mostly(("billing",), ()),
        "capacity": st.sampled_from([1, 1, 2, 3]),
    }
)

open_step = st.tuples(
    st.just("open"),
    mostly(CHANNEL, OTHER_CHANNEL),
    mostly("nl", "fr"),
    mostly((), ("billing",)),
)
presence_step = st.tuples(
    st.just("presence"),
    st.integers(min_value=0, max_value=3),
    st.sampled_from(["online", "online", "away", "offline"]),
)
close_step = st.tuples(st.just("close"), st.integers(min_value=0, max_value=50))
# Arrivals and closes twice as often as presence changes, so agents fill up and free up.
step = st.one_of(open_step, open_step, presence_step, close_step, close_step)


def _fully_eligible(agent: Candidate, need: Need) -> bool:
    return exclusions(agent, need) == ()


@settings(max_examples=120, deadline=None, database=None)
@given(
    specs=st.lists(agent_spec, min_size=1, max_size=4),
    steps=st.lists(step, min_size=5, max_size=40),
)
def test_routing_invariants_hold_after_every_step(specs: list[dict], steps: list[tuple]) -> None:
    state = TenantRouting(tenant_id=TENANT)
    feed(state, tenant_created())
    for user_id, spec in zip(AGENT_IDS, specs, strict=False):
        created = user_created(
            user_id,
            role=spec["role"],
            languages=spec["languages"],
            channels=spec["channels"],
            competences=spec["competences"],
            capacity=spec["capacity"],
        )
        feed(state, created)
    agent_ids = list(state.agents)
    opened_count = 0

    for i, action in enumerate(steps):
        minute = 10 + i
        # What the state looked like just before this step (agents are copied).
        before = {u: replace(a) for u, a in state.agents.items()}
        if action[0] == "open":
            opened_count += 1
            _, channel, language, competences = action
            payload: Payload = opened(
                opened_count,
                minute,
                channel=channel,
                language=language,
                competences=tuple(competences),
            )
        elif action[0] == "presence":
            user_id = agent_ids[action[1] % len(agent_ids)]
            payload = presence(user_id, action[2], minute)
            before[user_id].presence = action[2]
        else:
            if not state.conversations:
                continue
            ids = sorted(state.conversations, key=str)
            closing = state.conversations[ids[action[1] % len(ids)]]
            payload = ev.ConversationClosed(conversation_id=closing.conversation_id, at=at(minute))
            if closing.assignee_id is not None:
                before[closing.assignee_id].load -= 1

        out = feed(state, payload)

        # Each decision was right for the state just before it was taken.
        for decision in decisions(out):
            need = state.conversations[decision.conversation_id].need
            if decision.assignee_id is None:
                assert all(exclusions(a, need) for a in before.values())
            else:
                assert _fully_eligible(before[decision.assignee_id], need)
                assert all(
                    a.load >= before[decision.assignee_id].load
                    for a in before.values()
                    if _fully_eligible(a, need)
                )
                before[decision.assignee_id].load += 1
            # The conversation service confirms routing's choice; that changes nothing.
            if decision.assignee_id is not None:
                assert feed(state, assigned_routing(decision, minute)) == []

        # Loads are what is held, and never above capacity.
        for agent in state.agents.values():
            held = sum(1 for t in state.conversations.values() if t.assignee_id == agent.user_id)
            assert agent.load == held
            assert agent.load <= agent.capacity
        # Nobody waits while an eligible online agent has room.
        for tracked in state.conversations.values():
            if tracked.status == "waiting":
                assert tracked.assignee_id is None
                assert not any(_fully_eligible(a, tracked.need) for a in state.agents.values())
            else:
                assert tracked.assignee_id is not None


def assigned_routing(decision: ev.ConversationRouted, minute: float) -> ev.ConversationAssigned:
    assert decision.assignee_id is not None
    return ev.ConversationAssigned(
        conversation_id=decision.conversation_id,
        assignee_id=decision.assignee_id,
        assigned_by="routing",
        at=at(minute),
    )
