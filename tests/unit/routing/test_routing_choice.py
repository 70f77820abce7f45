"""Who gets a conversation: exclusions and the choice among the eligible (routing domain)."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.routing.domain.choice import Candidate, Need, choose_assignee, exclusions

CHANNEL = uuid.UUID("11111111-1111-4111-8111-111111111111")
OTHER_CHANNEL = uuid.UUID("22222222-2222-4222-8222-222222222222")
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

NEED = Need(channel_id=CHANNEL, language="nl", competences=frozenset({"billing"}))


def uid(n: int) -> uuid.UUID:
    return uuid.UUID(int=n)


def eligible_agent(n: int = 1, **changes: object) -> Candidate:
    """An agent who satisfies NEED, changed by ``changes``."""
    base = Candidate(
        user_id=uid(n),
        role="agent",
        active=True,
        presence="online",
        channel_ids=frozenset({CHANNEL}),
        languages=frozenset({"nl", "fr"}),
        competences=frozenset({"billing", "sales"}),
        capacity=2,
        load=0,
        idle_since=None,
    )
    return replace(base, **changes)


# --- exclusions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "need", "expected"),
    [
        pytest.param({}, NEED, (), id="eligible-agent"),
        pytest.param({"role": "manager"}, NEED, (), id="manager-handles"),
        pytest.param({"role": "administrator"}, NEED, (), id="administrator-handles"),
        pytest.param({"role": "analyst"}, NEED, ("role",), id="analyst"),
        pytest.param({"role": "bot"}, NEED, ("role",), id="unknown-role"),
        pytest.param({"active": False}, NEED, ("role",), id="inactive"),
        pytest.param({"presence": "away"}, NEED, ("presence",), id="away"),
        pytest.param({"presence": "offline"}, NEED, ("presence",), id="offline"),
        pytest.param({"channel_ids": frozenset()}, NEED, ("channel",), id="no-channels"),
        pytest.param(
            {"channel_ids": frozenset({OTHER_CHANNEL})}, NEED, ("channel",), id="other-channel"
        ),
        pytest.param({"languages": frozenset({"fr"})}, NEED, ("language",), id="other-language"),
        pytest.param({"languages": frozenset()}, NEED, ("language",), id="no-languages"),
        pytest.param({"competences": frozenset()}, NEED, ("competence",), id="no-competences"),
        pytest.param(
            {"competences": frozenset({"sales"})}, NEED, ("competence",), id="wrong-competence"
        ),
        pytest.param(
            {"competences": frozenset({"billing"})},
            replace(NEED, competences=frozenset({"billing", "legal"})),
            ("competence",),
            id="competences-not-a-superset",
        ),
        pytest.param(
            {"competences": frozenset()},
            replace(NEED, competences=frozenset()),
            (),
            id="no-competences-needed",
        ),
        pytest.param({"load": 1, "capacity": 2}, NEED, (), id="spare-capacity"),
        pytest.param({"load": 2, "capacity": 2}, NEED, ("capacity",), id="full"),
        pytest.param({"load": 3, "capacity": 2}, NEED, ("capacity",), id="over-full"),
        pytest.param({"load": 0, "capacity": 0}, NEED, ("capacity",), id="zero-capacity"),
    ],
)
def test_each_exclusion_reason(changes: dict, need: Need, expected: tuple[str, ...]) -> None:
    assert exclusions(eligible_agent(**changes), need) == expected


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            {"role": "analyst", "presence": "offline"}, {"role", "presence"}, id="role+presence"
        ),
        pytest.param(
            {"active": False, "languages": frozenset({"en"}), "load": 2},
            {"role", "language", "capacity"},
            id="inactive+language+capacity",
        ),
        pytest.param(
            {
                "role": "analyst",
                "presence": "away",
                "channel_ids": frozenset(),
                "languages": frozenset(),
                "competences": frozenset(),
                "load": 9,
            },
            {"role", "presence", "channel", "language", "competence", "capacity"},
            id="everything",
        ),
    ],
)
def test_every_reason_is_reported(changes: dict, expected: set[str]) -> None:
    reasons = exclusions(eligible_agent(**changes), NEED)
    assert set(reasons) == expected
    assert len(reasons) == len(expected)


# --- choose_assignee --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agents", "winner", "tie_break"),
    [
        pytest.param([eligible_agent(1)], 1, "least_loaded", id="single-eligible"),
        pytest.param(
            [eligible_agent(1), eligible_agent(2, presence="offline")],
            1,
            "least_loaded",
            id="single-eligible-among-excluded",
        ),
        pytest.param(
            [eligible_agent(1, load=1), eligible_agent(2, load=0), eligible_agent(3, load=1)],
            2,
            "least_loaded",
            id="least-loaded-wins",
        ),
        pytest.param(
            [
                eligible_agent(1, load=1, idle_since=None),
                eligible_agent(2, load=0, idle_since=T0 + timedelta(hours=1)),
            ],
            2,
            "least_loaded",
            id="load-beats-idle-time",
        ),
        pytest.param(
            [eligible_agent(1, load=1), eligible_agent(2, load=0, presence="away")],
            1,
            "least_loaded",
            id="excluded-less-loaded-agent-loses",
        ),
        pytest.param(
            [
                eligible_agent(1, load=0, idle_since=T0 + timedelta(minutes=5)),
                eligible_agent(2, load=0, idle_since=T0),
            ],
            2,
            "idle_longest",
            id="tie-earliest-idle-since",
        ),
        pytest.param(
            [
                eligible_agent(1, load=1, idle_since=T0 + timedelta(minutes=5)),
                eligible_agent(2, load=1, idle_since=None),
            ],
            2,
            "idle_longest",
            id="tie-none-counts-as-idle-longest",
        ),
        pytest.param(
            [
                eligible_agent(1, load=0, idle_since=T0 + timedelta(minutes=9)),
                eligible_agent(2, load=0, idle_since=T0 + timedelta(minutes=1)),
                eligible_agent(3, load=0, idle_since=T0 + timedelta(minutes=4)),
                eligible_agent(4, load=1, idle_since=None),
            ],
            2,
            "idle_longest",
            id="tie-among-three-least-loaded",
        ),
        pytest.param(
            [eligible_agent(9, load=0), eligible_agent(3, load=0), eligible_agent(5, load=0)],
            3,
            "stable_order",
            id="full-tie-no-idle-lowest-id",
        ),
        pytest.param(
            [
                eligible_agent(7, load=1, idle_since=T0),
                eligible_agent(4, load=1, idle_since=T0),
                eligible_agent(2, load=1, idle_since=T0 + timedelta(minutes=1)),
            ],
            4,
            "stable_order",
            id="full-tie-same-idle-lowest-id",
        ),
    ],
)
def test_choice_among_the_eligible(agents: list[Candidate], winner: int, tie_break: str) -> None:
    decision = choose_assignee(NEED, agents)
    assert decision.assignee_id == uid(winner)
    assert decision.tie_break == tie_break


@pytest.mark.parametrize(
    ("agents", "expected_reasons"),
    [
        pytest.param([], {}, id="no-agents"),
        pytest.param(
            [eligible_agent(1, role="analyst"), eligible_agent(2, presence="away")],
            {1: ("role",), 2: ("presence",)},
            id="analyst-and-away",
        ),
        pytest.param(
            [
                eligible_agent(1, load=2, capacity=2),
                eligible_agent(2, languages=frozenset({"en"})),
                eligible_agent(3, competences=frozenset()),
                eligible_agent(4, channel_ids=frozenset({OTHER_CHANNEL}), active=False),
            ],
            {1: ("capacity",), 2: ("language",), 3: ("competence",), 4: ("role", "channel")},
            id="each-for-its-own-reason",
        ),
    ],
)
def test_nobody_eligible_gives_no_assignee_and_every_reason(
    agents: list[Candidate], expected_reasons: dict[int, tuple[str, ...]]
) -> None:
    decision = choose_assignee(NEED, agents)
    assert decision.assignee_id is None
    assert decision.tie_break is None
    assert {v.user_id: set(v.excluded_by) for v in decision.verdicts} == {
        uid(n): set(r) for n, r in expected_reasons.items()
    }
    assert {v.user_id: v.load for v in decision.verdicts} == {a.user_id: a.load for a in agents}


def test_verdicts_cover_every_agent_including_the_winner() -> None:
    agents = [eligible_agent(1, load=1), eligible_agent(2, presence="offline"), eligible_agent(3)]
    decision = choose_assignee(NEED, agents)
    assert decision.assignee_id == uid(3)
    by_user = {v.user_id: v for v in decision.verdicts}
    assert set(by_user) == {uid(1), uid(2), uid(3)}
    assert by_user[uid(3)].excluded_by == ()
    assert by_user[uid(1)].excluded_by == ()
    assert by_user[uid(1)].load == 1
    assert by_user[uid(2)].excluded_by == ("presence",)


@pytest.mark.parametrize(
    "agents",
    [
        pytest.param([eligible_agent(n, load=0, idle_since=T0) for n in (5, 1, 3)], id="full-tie"),
        pytest.param(
            [
                eligible_agent(1, load=0, idle_since=T0 + timedelta(minutes=2)),
                eligible_agent(2, load=0, idle_since=None),
                eligible_agent(3, load=0, idle_since=None),
                eligible_agent(4, presence="away"),
            ],
            id="idle-tie-then-id",
        ),
        pytest.param(
            [eligible_agent(1, load=1), eligible_agent(2, load=0), eligible_agent(3, load=0)],
            id="load-then-id",
        ),
    ],
)
def test_same_snapshot_in_any_order_gives_the_same_decision(agents: list[Candidate]) -> None:
    decisions = [choose_assignee(NEED, list(order)) for order in itertools.permutations(agents)]
    first = decisions[0]
    assert first.assignee_id is not None
    for decision in decisions[1:]:
        assert decision.assignee_id == first.assignee_id
        assert decision.tie_break == first.tie_break
        assert set(decision.verdicts) == set(first.verdicts)


# --- property ---------------------------------------------------------------------------

IDLE_TIMES = [None, T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]


def mostly(common: object, *others: object) -> st.SearchStrategy:
    """``common`` eight times as likely as each of ``others``: eligible agents are frequent."""
    return st.sampled_from([common] * 8 + list(others))


BOTH_CHANNELS = frozenset({CHANNEL, OTHER_CHANNEL})

agent_strategy = st.builds(
    Candidate,
    user_id=st.integers(min_value=1, max_value=40).map(uid),
    role=mostly("agent", "manager", "administrator", "analyst"),
    active=mostly(True, False),
    presence=mostly("online", "away", "offline"),
    channel_ids=mostly(
        BOTH_CHANNELS, frozenset({CHANNEL}), frozenset({OTHER_CHANNEL}), frozenset()
    ),
    languages=mostly(frozenset({"nl", "fr", "en"}), frozenset({"nl"}), frozenset()),
    competences=mostly(frozenset({"billing", "sales"}), frozenset({"sales"}), frozenset()),
    capacity=mostly(3, 0, 1, 2),
    load=st.integers(min_value=0, max_value=3),
    idle_since=st.sampled_from(IDLE_TIMES),
)

need_strategy = st.builds(
    Need,
    channel_id=st.sampled_from([CHANNEL, OTHER_CHANNEL]),
    language=st.sampled_from(["nl", "fr", "en"]),
    competences=st.frozensets(st.sampled_from(["billing", "sales"])),
)


def _idle_rank(agent: Candidate) -> float:
    return float("-inf") if agent.idle_since is None else agent.idle_since.timestamp()


@settings(max_examples=120, deadline=None, database=None)
@given(
    need=need_strategy,
    agents=st.lists(agent_strategy, max_size=8, unique_by=lambda a: a.user_id),
    data=st.data(),
)
def test_choice_properties(need: Need, agents: list[Candidate], data: st.DataObject) -> None:
    decision = choose_assignee(need, agents)
    eligible = [a for a in agents if not exclusions(a, need)]
    assert {v.user_id: v.excluded_by for v in decision.verdicts} == {
        a.user_id: exclusions(a, need) for a in agents
    }
    if decision.assignee_id is None:
        assert decision.tie_break is None
        assert all(exclusions(a, need) for a in agents)
    else:
        winner = next(a for a in agents if a.user_id == decision.assignee_id)
        assert exclusions(winner, need) == ()
        assert all(a.load >= winner.load for a in eligible)
        best = min(eligible, key=lambda a: (a.load, _idle_rank(a), str(a.user_id)))
        assert winner.user_id == best.user_id
        assert decision.tie_break in {"least_loaded", "idle_longest", "stable_order"}
    shuffled = data.draw(st.permutations(agents))
    again = choose_assignee(need, shuffled)
    assert (again.assignee_id, again.tie_break) == (decision.assignee_id, decision.tie_break)
