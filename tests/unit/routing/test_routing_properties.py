"""Random event sequences through one tenant's routing state: the invariants of §3.1.6 hold.

Arrivals (some answered by a bot first), presence and skill changes, takes, closes,
requirements changes, hand-overs and take-deadline sweeps, in any order. After every
step: nobody above capacity, nobody given a conversation they cannot hold, nothing
waiting while an eligible agent has room, and the indexes agree with a fresh rebuild.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.routing.domain.choice import Candidate, choose_assignee, exclusions, fits
from services.routing.domain.state import TenantRouting, Tracked
from shared import events as ev
from shared.events import Envelope, Payload
from tests.support.routing import (
    CHANNEL,
    OTHER_CHANNEL,
    TENANT,
    at,
    competence,
    decisions,
    feed,
    opened,
    presence,
    tenant_created,
    user_created,
)

AGENT_IDS = [uuid.UUID(int=0xA6E00 + i) for i in range(4)]
TIMEOUT = timedelta(minutes=2)

languages = st.sampled_from([("nl", "fr"), ("nl", "fr"), ("nl",), ("fr",)])
channels = st.sampled_from([(CHANNEL, OTHER_CHANNEL), (CHANNEL, OTHER_CHANNEL), (CHANNEL,)])
competences = st.sampled_from([("billing",), ("billing",), ()])
agent_spec = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["agent", "agent", "agent", "manager", "analyst"]),
        "languages": languages,
        "channels": channels,
        "competences": competences,
        "capacity": st.sampled_from([1, 1, 2, 3]),
    }
)
index = st.integers(min_value=0, max_value=60)
step = st.one_of(
    st.tuples(
        st.just("open"),
        st.sampled_from([CHANNEL, CHANNEL, OTHER_CHANNEL]),
        st.sampled_from(["nl", "nl", "fr"]),
        st.sampled_from([(), (), ("billing",)]),
        st.booleans(),  # a bot answers first
    ),
    st.tuples(st.just("presence"), index, st.sampled_from(["online", "online", "away", "offline"])),
    st.tuples(st.just("skills"), index, languages, channels, competences),
    st.tuples(st.just("take"), index),
    st.tuples(st.just("close"), index),
    st.tuples(st.just("requirements"), index, st.sampled_from(["nl", "fr"]), competences),
    st.tuples(st.just("handover"), index, st.sampled_from(["waiting_for_human", "bot"])),
    st.tuples(st.just("sweep"), st.integers(min_value=0, max_value=4)),
    st.tuples(st.just("leave"), index),
)


def pick(items: list, i: int):  # type: ignore[no-untyped-def]
    return items[i % len(items)] if items else None


def payload_for(state: TenantRouting, action: tuple, minute: float, n: int) -> Payload | None:
    kind = action[0]
    conversations = sorted(state.conversations.values(), key=lambda t: str(t.conversation_id))
    if kind == "open":
        _, channel, language, needed, bot = action
        return opened(n, minute, channel=channel, language=language, competences=needed).model_copy(
            update={"bot_active": bot}
        )
    if kind == "presence":
        return presence(AGENT_IDS[action[1] % len(state.agents)], action[2], minute)
    if kind == "skills":
        user_id = AGENT_IDS[action[1] % len(state.agents)]
        agent = state.agents[user_id]
        return ev.EndUserUpdated(
            **user_created(
                user_id,
                role=agent.role,
                languages=action[2],
                channels=action[3],
                competences=action[4],
                capacity=agent.own_capacity,
            ).model_dump()
        )
    if kind == "leave":
        return ev.EndUserDeactivated(
            user_id=AGENT_IDS[action[1] % len(state.agents)], at=at(minute)
        )
    tracked: Tracked | None = pick(conversations, action[1])
    if tracked is None:
        return None
    cid = tracked.conversation_id
    if kind == "take":  # the assignee takes what routing gave them
        if tracked.status != "assigned" or tracked.assignee_id is None:
            return None
        return ev.ConversationTaken(conversation_id=cid, user_id=tracked.assignee_id, at=at(minute))
    if kind == "close":
        return ev.ConversationClosed(conversation_id=cid, at=at(minute))
    if kind == "requirements":
        return ev.ConversationRequirementsChanged(
            conversation_id=cid,
            language=action[2],
            required_competences=[competence(c) for c in action[3]],
            at=at(minute),
        )
    return ev.HandoverChanged(conversation_id=cid, state=action[2], reason="r", at=at(minute))


def check_invariants(state: TenantRouting) -> None:
    agents = state.agents
    for agent in agents.values():
        held = [t for t in state.conversations.values() if t.assignee_id == agent.user_id]
        assert agent.load == len(held)
        assert agent.load <= agent.capacity  # nobody is ever over capacity
    for tracked in state.conversations.values():
        if tracked.status == "waiting":
            assert tracked.assignee_id is None
            # Nothing waits while an eligible agent has room.
            assert all(exclusions(a, tracked.need) for a in agents.values())
        elif tracked.status == "bot":
            assert tracked.assignee_id is None
        else:
            assert tracked.assignee_id in agents
        # The indexes choose exactly as a scan of every agent would.
        indexed = state.choose(tracked.need, explain=False)
        scanned = choose_assignee(tracked.need, list(agents.values()), explain=False)
        assert (indexed.assignee_id, indexed.tie_break) == (scanned.assignee_id, scanned.tie_break)
    fresh = TenantRouting(
        TENANT,
        agents={u: replace(a) for u, a in agents.items()},
        conversations={c: replace(t) for c, t in state.conversations.items()},
    )
    fresh.reindex()
    assert fresh.queue.oldest_first() == state.queue.oldest_first()
    assert list(fresh.deadlines.entries) == list(state.deadlines.entries)
    nonempty = lambda index: {k: v for k, v in index.items() if v}  # noqa: E731
    assert fresh.roster.contents() == state.roster.contents()
    assert nonempty(fresh.holdings) == nonempty(state.holdings)


def check_decisions(state: TenantRouting, out: list) -> None:
    """Every assignee could hold the conversation and was present when chosen; every
    decision is exactly the contract's JSON."""
    for envelope in out:
        model = ev.ConversationRouted.model_validate(envelope.payload)
        assert model.model_dump(mode="json") == envelope.payload
        assert Envelope.model_validate_json(envelope.to_bytes()) == envelope
    for decision in decisions(out):
        if decision.assignee_id is None:
            continue
        agent: Candidate = state.agents[decision.assignee_id]
        tracked = state.conversations.get(decision.conversation_id)
        assert agent.active and agent.presence == "online"
        assert decision.assignee_id != decision.replaces_assignee_id
        if tracked is not None and tracked.assignee_id == decision.assignee_id:
            assert fits(agent, tracked.need)


@settings(max_examples=150, deadline=None, database=None)
@given(
    specs=st.lists(agent_spec, min_size=1, max_size=4),
    steps=st.lists(step, min_size=5, max_size=50),
)
def test_routing_invariants_hold_through_any_sequence(specs: list[dict], steps: list) -> None:
    state = TenantRouting(tenant_id=TENANT)
    feed(state, tenant_created())
    for user_id, spec in zip(AGENT_IDS, specs, strict=False):
        feed(
            state,
            user_created(
                user_id,
                role=spec["role"],
                languages=spec["languages"],
                channels=spec["channels"],
                competences=spec["competences"],
                capacity=spec["capacity"],
            ),
        )
    minute = 10.0
    for n, action in enumerate(steps, start=1):
        minute += 1
        if action[0] == "sweep":
            minute += action[1]
            out = state.sweep(at(minute), TIMEOUT)
        else:
            payload = payload_for(state, action, minute, n)
            if payload is None:
                continue
            out = feed(state, payload)
        check_decisions(state, out)
        # The conversation service's echo of routing's own choices changes nothing.
        for decision in decisions(out):
            if decision.assignee_id is not None:
                echo = ev.ConversationAssigned(
                    conversation_id=decision.conversation_id,
                    assignee_id=decision.assignee_id,
                    assigned_by="routing",
                    at=decision.decided_at,
                )
                assert feed(state, echo) == []
        check_invariants(state)
