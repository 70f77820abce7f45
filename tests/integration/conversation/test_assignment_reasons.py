"""Why a conversation came to me: routing's reasons are kept with the assignment and shown
on the conversation's detail with people's names; a manual pass-on names who did it."""

from __future__ import annotations

import uuid
from datetime import timedelta

from services.conversation.application.conversations import Routed
from shared.events import CandidateVerdict, ConversationRouted
from tests.support.desk import T0, Desk


def test_the_detail_shows_routing_reasons_and_then_who_passed_it_on(portal) -> None:  # type: ignore[no-untyped-def]
    desk = Desk(portal)
    cid = desk.visitor_writes("rea", "r1", "hallo")
    agent, manager = desk.tenant.users["agent"], desk.tenant.users["manager"]
    decision = ConversationRouted(
        conversation_id=uuid.UUID(cid),
        assignee_id=uuid.UUID(agent),
        tie_break="least_loaded",
        candidates=[
            CandidateVerdict(user_id=uuid.UUID(agent), excluded_by=[], load=1),
            CandidateVerdict(user_id=uuid.UUID(manager), excluded_by=["presence", "language"]),
        ],
        decided_at=T0 + timedelta(seconds=1),
    )
    desk.svc.conversations.apply_routing([Routed(uuid.UUID(desk.tenant.tenant_id), decision)])
    desk.svc.projector.catch_up_now()

    why = desk.get(cid, desk.agent)["assignment"]
    assert why["assigned_by"] == "routing" and why["tie_break"] == "least_loaded"
    by_user = {c["user_id"]: c for c in why["candidates"]}
    assert by_user[agent] == {
        "user_id": agent,
        "name": "Agent User",
        "excluded_by": [],
        "load": 1,
        "chosen": True,
    }
    assert by_user[manager]["excluded_by"] == ["presence", "language"]
    assert by_user[manager]["chosen"] is False

    # Passed on by hand: the reason is the person, not routing.
    desk.ok(portal.post(f"/v1/conversations/{cid}/take", headers=desk.agent))
    passed = portal.post(
        f"/v1/conversations/{cid}/assign", headers=desk.agent, json={"user_id": manager}
    )
    assert passed.status_code == 200, passed.text
    why = desk.get(cid, desk.manager)["assignment"]
    assert why["assigned_by"] == "agent"
    assert why["by_user_id"] == agent and why["by_name"] == "Agent User"
    assert why["candidates"] == []

    # Closed: nobody holds it, nothing to explain.
    desk.ok(portal.post(f"/v1/conversations/{cid}/take", headers=desk.manager))
    desk.ok(portal.post(f"/v1/conversations/{cid}/close", headers=desk.manager, json={}))
    assert desk.get(cid)["assignment"] is None


def test_colleagues_lists_the_tenants_active_handlers_for_passing_on(portal) -> None:  # type: ignore[no-untyped-def]
    desk = Desk(portal)
    other = Desk(portal)
    listed = portal.get("/v1/colleagues", headers=desk.agent)
    assert listed.status_code == 200, listed.text
    ids = {c["user_id"] for c in listed.json()}
    users = desk.tenant.users
    assert ids == {users["administrator"], users["manager"], users["agent"]}  # no analyst
    assert not ids & set(other.tenant.users.values())  # never another tenant's
    desk.ok(portal.post(f"/v1/users/{users['manager']}/deactivation", headers=desk.admin))
    desk.svc.projector.catch_up_now()
    after = {c["user_id"] for c in portal.get("/v1/colleagues", headers=desk.agent).json()}
    assert users["manager"] not in after
    assert portal.get("/v1/colleagues", headers=desk.tenant.tokens["analyst"]).status_code == 403
