"""Directory changes that move conversations: deactivation, deletion, new skills, routing on."""

from __future__ import annotations

import pytest

from shared import events as ev
from tests.unit.test_routing_state import (
    ANN,
    BOB,
    at,
    conv,
    decisions,
    feed,
    new_state,
    opened,
    presence,
    tenant_created,
    user_created,
)


def _online_pair():  # type: ignore[no-untyped-def]
    return new_state(
        tenant_created(),
        user_created(ANN, capacity=2),
        user_created(BOB, capacity=2),
        presence(ANN, "online", 0),
        presence(BOB, "online", 1),
    )


@pytest.mark.parametrize(
    "leaving",
    [
        ev.EndUserDeactivated(user_id=ANN, at=at(10)),
        ev.EndUserDeleted(user_id=ANN, at=at(10)),
    ],
    ids=["deactivated", "deleted"],
)
def test_a_leaving_agents_conversations_are_routed_again(leaving):  # type: ignore[no-untyped-def]
    state = _online_pair()
    first = decisions(feed(state, opened(1, 2)))
    assert first[0].assignee_id == ANN  # idle longest
    moved = decisions(feed(state, leaving))
    assert [(d.conversation_id, d.assignee_id, d.replaces_assignee_id) for d in moved] == [
        (conv(1), BOB, ANN)
    ]
    assert state.agents[ANN].load == 0 and state.agents[BOB].load == 1
    # Ann is out of the running from now on.
    assert decisions(feed(state, opened(2, 11)))[0].assignee_id == BOB


def test_with_nobody_left_the_conversation_waits_and_says_whom_it_left():
    state = new_state(tenant_created(), user_created(ANN), presence(ANN, "online", 0))
    feed(state, opened(1, 1))
    moved = decisions(feed(state, ev.EndUserDeactivated(user_id=ANN, at=at(5))))
    assert [(d.assignee_id, d.replaces_assignee_id) for d in moved] == [(None, ANN)]
    assert state.conversations[conv(1)].status == "waiting"
    # Reactivated and online again: she gets it back from the queue.
    assert feed(state, ev.EndUserActivated(user_id=ANN, at=at(6))) == []
    back = decisions(feed(state, presence(ANN, "online", 7)))
    assert [(d.conversation_id, d.assignee_id) for d in back] == [(conv(1), ANN)]


def test_a_new_language_makes_an_agent_eligible_for_the_waiting():
    state = new_state(tenant_created(), user_created(ANN), presence(ANN, "online", 0))
    assert decisions(feed(state, opened(1, 1, language="fr")))[0].assignee_id is None
    updated = ev.EndUserUpdated(
        user_id=ANN,
        first_name="A",
        last_name="N",
        email="ann@example.com",
        role="agent",
        mother_tongue="nl",
        languages=["nl", "fr"],
        channel_ids=list(state.agents[ANN].channel_ids),
    )
    assert [(d.conversation_id, d.assignee_id) for d in decisions(feed(state, updated))] == [
        (conv(1), ANN)
    ]


def test_switching_routing_on_routes_the_shared_queue_oldest_first():
    state = new_state(
        tenant_created(routing_enabled=False),
        user_created(ANN, capacity=1),
        presence(ANN, "online", 0),
    )
    assert feed(state, opened(1, 1)) == [] and feed(state, opened(2, 2)) == []
    switched = decisions(
        feed(
            state,
            ev.TenantSettingsChanged(routing_enabled=True, languages=["nl"], default_capacity=5),
        )
    )
    assert [(d.conversation_id, d.assignee_id) for d in switched] == [
        (conv(1), ANN),
        (conv(2), None),
    ]
