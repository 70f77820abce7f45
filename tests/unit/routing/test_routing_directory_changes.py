"""Directory changes that move conversations: deactivation, deletion, new skills, routing on."""

from __future__ import annotations

import pytest

from shared import events as ev
from tests.support.routing import (
    ANN,
    BOB,
    at,
    competence,
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


# --- competences: ids on both sides; deleted ones no longer hold anything back ----------


def _competence(name: str, *, deleted: bool = False) -> ev.Payload:
    if deleted:
        return ev.LabelDeleted(kind="competence", label_id=competence(name))
    return ev.LabelChanged(kind="competence", label_id=competence(name), name=name)


def test_a_deleted_competence_no_longer_keeps_a_conversation_waiting():
    state = new_state(
        tenant_created(),
        _competence("legal"),
        _competence("billing"),
        user_created(ANN, competences=("billing",)),
        presence(ANN, "online", 0),
    )
    assert (
        decisions(feed(state, opened(1, 1, competences=("legal", "billing"))))[0].assignee_id
        is None
    )
    routed = decisions(feed(state, _competence("legal", deleted=True)))
    assert [(d.conversation_id, d.assignee_id) for d in routed] == [(conv(1), ANN)]
    assert state.conversations[conv(1)].need.competences == {competence("billing")}
    # A later event that still names the deleted competence is met without it.
    feed(state, opened(2, 2, competences=("legal",)))
    assert state.conversations[conv(2)].need.competences == frozenset()


def test_a_renamed_competence_routes_as_before():
    state = new_state(
        tenant_created(),
        _competence("billing"),
        user_created(ANN, competences=("billing",)),
        presence(ANN, "online", 0),
    )
    feed(state, ev.LabelChanged(kind="competence", label_id=competence("billing"), name="Money"))
    assert decisions(feed(state, opened(1, 1, competences=("billing",))))[0].assignee_id == ANN


def test_an_older_event_naming_a_competence_is_read_as_its_id():
    """Events written before competences were ids carry names: mapped by the name's id;
    a name no competence has could never be met, so it holds nothing back."""
    state = new_state(
        tenant_created(),
        _competence("billing"),
        user_created(ANN, competences=("billing",)),
        user_created(BOB),
        presence(ANN, "online", 0),
        presence(BOB, "online", 1),
    )
    older = opened(1, 2).model_copy(update={"required_competences": ["billing"]})
    assert decisions(feed(state, older))[0].assignee_id == ANN
    assert state.conversations[conv(1)].need.competences == {competence("billing")}
    gone = opened(2, 3).model_copy(update={"required_competences": ["cooking"]})
    feed(state, gone)
    assert state.conversations[conv(2)].need.competences == frozenset()
