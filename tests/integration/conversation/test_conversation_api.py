"""The conversation lifecycle through the Portal API (SPEC §3.1.8, §3.1.10, §3.1.11, §3.2.2).

Inbound messages and routing decisions enter through the application's batch use cases
(the Kafka hop is covered by the e2e tests); everything an end user does goes through HTTP.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.desk import T0, Desk
from tests.support.tenants import PASSWORD, login, new_tenant


@pytest.fixture
def desk(portal) -> Desk:  # type: ignore[no-untyped-def]
    return Desk(portal)


def test_queue_take_reply_note_close_archive(portal, desk) -> None:  # type: ignore[no-untyped-def]
    cid = desk.visitor_writes("ann", "m1", "where is my order?")
    assert portal.get("/v1/queue", headers=desk.agent).json()["total"] == 0
    desk.routed(cid, "agent")
    queue = portal.get("/v1/queue", headers=desk.agent).json()
    assert [c["conversation_id"] for c in queue["items"]] == [cid]

    # The manager cannot take what is in the agent's queue; the agent can.
    taken = portal.post(f"/v1/conversations/{cid}/take", headers=desk.manager)
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "assigned_to_other"
    taken = desk.ok(portal.post(f"/v1/conversations/{cid}/take", headers=desk.agent))
    assert taken["status"] == "in_progress"

    sent = portal.post(
        f"/v1/conversations/{cid}/messages", headers=desk.agent, json={"text": "It left today."}
    )
    assert sent.status_code == 201
    note = portal.post(f"/v1/conversations/{cid}/notes", headers=desk.agent, json={"text": "VIP"})
    assert note.status_code == 201
    detail = desk.get(cid, desk.agent)
    assert [(m["direction"], m["author"], m["text"]) for m in detail["messages"]] == [
        ("in", "visitor", "where is my order?"),
        ("out", "agent", "It left today."),
    ]
    assert detail["messages"][1]["delivery_status"] == "requested"
    assert [n["text"] for n in detail["notes"]] == ["VIP"]

    # Archiving needs a closed conversation and known topics.
    early = portal.post(
        f"/v1/conversations/{cid}/archive", headers=desk.agent, json={"topics": ["Delivery"]}
    )
    assert early.status_code == 409 and early.json()["error"]["code"] == "not_closed"
    desk.ok(portal.post(f"/v1/conversations/{cid}/close", headers=desk.agent, json={}))
    unknown = portal.post(
        f"/v1/conversations/{cid}/archive", headers=desk.agent, json={"topics": ["Nope"]}
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_topic"
    empty = portal.post(f"/v1/conversations/{cid}/archive", headers=desk.agent, json={"topics": []})
    assert empty.status_code == 422
    archived = desk.ok(
        portal.post(
            f"/v1/conversations/{cid}/archive", headers=desk.agent, json={"topics": ["Delivery"]}
        )
    )
    assert (archived["status"], archived["topics"]) == ("archived", ["Delivery"])
    assert portal.get("/v1/queue", headers=desk.agent).json()["total"] == 0
    late = portal.post(f"/v1/conversations/{cid}/messages", headers=desk.agent, json={"text": "x"})
    assert late.status_code == 409 and late.json()["error"]["code"] == "closed"


def test_two_agents_taking_at_once_exactly_one_wins(portal) -> None:  # type: ignore[no-untyped-def]
    desk = Desk(portal, routing=False)  # shared queue: everyone may take
    cid = desk.visitor_writes("bo", "m1", "race")
    results: list[int] = []
    barrier = threading.Barrier(3)

    def take(headers) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        results.append(portal.post(f"/v1/conversations/{cid}/take", headers=headers).status_code)

    threads = [
        threading.Thread(target=take, args=(h,)) for h in (desk.agent, desk.manager, desk.admin)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 409, 409]
    holder = desk.get(cid)["assignee_id"]
    assert holder in desk.tenant.users.values()


def test_pass_on_and_dispatch(portal, desk) -> None:  # type: ignore[no-untyped-def]
    cid = desk.visitor_writes("cas", "m1", "dispatch me")
    desk.routed(cid, "agent")
    # An agent cannot dispatch; a manager can, to a handler of this tenant only.
    denied = portal.post(
        f"/v1/dispatch/conversations/{cid}/assign",
        headers=desk.agent,
        json={"user_id": desk.tenant.users["manager"]},
    )
    assert denied.status_code == 403
    analyst = portal.post(
        f"/v1/dispatch/conversations/{cid}/assign",
        headers=desk.manager,
        json={"user_id": desk.tenant.users["analyst"]},
    )
    assert analyst.status_code == 422 and analyst.json()["error"]["code"] == "not_a_handler"
    stranger = portal.post(
        f"/v1/dispatch/conversations/{cid}/assign",
        headers=desk.manager,
        json={"user_id": str(uuid.uuid4())},
    )
    assert stranger.status_code == 422
    # The holder passes it on to the manager...
    passed = desk.ok(
        portal.post(
            f"/v1/conversations/{cid}/assign",
            headers=desk.agent,
            json={"user_id": desk.tenant.users["manager"]},
        )
    )
    assert (passed["assignee_id"], passed["status"], passed["dispatched"]) == (
        desk.tenant.users["manager"],
        "assigned",
        False,
    )
    # ...who is no longer the agent's: the agent cannot pass it again.
    again = portal.post(
        f"/v1/conversations/{cid}/assign",
        headers=desk.agent,
        json={"user_id": desk.tenant.users["administrator"]},
    )
    assert again.status_code == 409
    # The manager dispatches it back to the agent: routing leaves it alone now.
    dispatched = desk.ok(
        portal.post(
            f"/v1/dispatch/conversations/{cid}/assign",
            headers=desk.manager,
            json={"user_id": desk.tenant.users["agent"]},
        )
    )
    assert dispatched["dispatched"] is True
    desk.routed(cid, "administrator")
    assert desk.get(cid)["assignee_id"] == desk.tenant.users["agent"]
    waiting = portal.get("/v1/dispatch/conversations", headers=desk.manager).json()
    assert cid not in [c["conversation_id"] for c in waiting["items"]]


def test_requirements_by_the_holder_and_by_dispatch(portal, desk) -> None:  # type: ignore[no-untyped-def]
    cid = desk.visitor_writes("dirk", "m1", "tech question")
    bad_language = portal.put(
        f"/v1/dispatch/conversations/{cid}/requirements",
        headers=desk.manager,
        json={"language": "de"},
    )
    assert (
        bad_language.status_code == 422
        and bad_language.json()["error"]["code"] == "unknown_language"
    )
    # Competences are given by id: a made-up id, another tenant's id and a name are refused.
    elsewhere = new_tenant(portal)
    theirs = desk.ok(
        portal.post(
            "/v1/competences",
            headers=elsewhere.tokens["administrator"],
            json={"name": "Technical"},
        )
    )["id"]
    for wrong, code in (
        (str(uuid.uuid4()), "unknown_competence"),
        (theirs, "unknown_competence"),
        ("Technical", "invalid_request"),
    ):
        refused = portal.put(
            f"/v1/dispatch/conversations/{cid}/requirements",
            headers=desk.manager,
            json={"competences": [wrong]},
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == code
    assert desk.get(cid)["required_competences"] == []
    # Whoever may change requirements can read the competences to choose from.
    for who in (desk.agent, desk.manager):
        listed = desk.ok(portal.get("/v1/competences", headers=who))["items"]
        assert {c["name"]: c["id"] for c in listed} == desk.competences
    technical = desk.competences["Technical"]
    changed = desk.ok(
        portal.put(
            f"/v1/dispatch/conversations/{cid}/requirements",
            headers=desk.manager,
            json={"language": "fr", "competences": [technical]},
        )
    )
    assert (changed["language"], changed["required_competences"]) == ("fr", [technical])
    assert changed["competences"] == [{"id": technical, "name": "Technical"}]
    # A rename shows at once; the requirement is the same competence.
    desk.ok(portal.put(f"/v1/competences/{technical}", headers=desk.admin, json={"name": "Tech"}))
    assert desk.get(cid)["competences"] == [{"id": technical, "name": "Tech"}]
    # Only the holder changes it through the conversation endpoint.
    not_yours = portal.put(
        f"/v1/conversations/{cid}/requirements", headers=desk.agent, json={"language": "nl"}
    )
    assert not_yours.status_code == 409
    desk.routed(cid, "agent")
    mine = desk.ok(
        portal.put(
            f"/v1/conversations/{cid}/requirements", headers=desk.agent, json={"competences": []}
        )
    )
    assert mine["required_competences"] == []


def test_history_search(portal, desk) -> None:  # type: ignore[no-untyped-def]
    first = desk.visitor_writes("v-emma", "h1", "first", name="Emma Claes")
    second = desk.visitor_writes("v-finn", "h2", "second", name="Finn Peeters")
    open_one = desk.visitor_writes("v-gus", "h3", "still open", name="Gus Open")
    desk.ok(
        portal.put(
            f"/v1/dispatch/conversations/{second}/requirements",
            headers=desk.manager,
            json={"language": "fr", "competences": [desk.competences["Orders"]]},
        )
    )
    for cid, topics in ((first, ["Delivery"]), (second, ["Complaint", "Delivery"])):
        desk.routed(cid, "agent")
        desk.ok(portal.post(f"/v1/conversations/{cid}/take", headers=desk.agent))
        desk.ok(
            portal.post(
                f"/v1/conversations/{cid}/close", headers=desk.agent, json={"topics": topics}
            )
        )

    def search(**params):  # type: ignore[no-untyped-def]
        response = portal.get("/v1/history", headers=desk.manager, params=params)
        assert response.status_code == 200, response.text
        return [c["conversation_id"] for c in response.json()["items"]]

    assert set(search()) == {first, second}
    assert open_one not in search()
    assert search(topic="Complaint") == [second]
    assert set(search(topic="Delivery")) == {first, second}
    assert search(competence=desk.competences["Orders"]) == [second]
    assert search(competence="Orders") == [second]  # its name finds it too
    assert search(competence=desk.competences["Technical"]) == []
    assert search(language="fr") == [second]
    assert search(visitor="emma") == [first]
    assert search(visitor="PEETERS") == [second]
    assert set(search(end_user="agent user")) == {first, second}
    assert search(end_user="nobody") == []
    assert search(channel_id=desk.channel, limit=1, sort="opened_at") in ([first], [second])
    assert search(**{"from": "2030-01-01T00:00:00Z"}) == []
    assert search(visitor="100%_") == []  # LIKE wildcards are literal
    bad = portal.get(
        "/v1/history",
        headers=desk.manager,
        params={"from": "2025-02-01T00:00:00Z", "to": "2025-01-01T00:00:00Z"},
    )
    assert bad.status_code == 422
    assert (
        portal.get("/v1/history", headers=desk.manager, params={"sort": "secret"}).status_code
        == 422
    )
    assert portal.get("/v1/history", headers=desk.agent).status_code == 403


def test_visitor_profile_and_earlier_conversations(portal, desk) -> None:  # type: ignore[no-untyped-def]
    first = desk.visitor_writes("v-ines", "p1", "one")
    desk.ok(portal.post(f"/v1/conversations/{first}/close", headers=desk.admin, json={}))
    second = desk.visitor_writes("v-ines", "p2", "two")
    visitor_id = desk.get(second)["visitor_id"]
    profile = desk.ok(portal.get(f"/v1/visitors/{visitor_id}", headers=desk.agent))
    assert [c["conversation_id"] for c in profile["earlier_conversations"]] == [second, first]
    changed = desk.ok(
        portal.patch(
            f"/v1/visitors/{visitor_id}",
            headers=desk.agent,
            json={"first_name": "Ines", "birth_date": "1990-04-01", "mobile": "+32 470 12 34 56"},
        )
    )
    assert (changed["first_name"], changed["birth_date"], changed["mobile"]) == (
        "Ines",
        "1990-04-01",
        "+32 470 12 34 56",
    )
    for bad in (
        {"email": "not-an-email"},
        {"birth_date": "1990-13-01"},
        {"phone": "call me"},
        {"shoe_size": 44},
        {},
    ):
        response = portal.patch(f"/v1/visitors/{visitor_id}", headers=desk.agent, json=bad)
        assert response.status_code == 422, (bad, response.text)
    assert (
        portal.get(f"/v1/visitors/{visitor_id}", headers=desk.tenant.tokens["analyst"]).status_code
        == 403
    )


def test_another_tenant_cannot_touch_these_conversations(portal, desk) -> None:  # type: ignore[no-untyped-def]
    cid = desk.visitor_writes("jan", "x1", "private")
    visitor_id = desk.get(cid)["visitor_id"]
    other = new_tenant(portal)
    admin = other.tokens["administrator"]
    attempts = [
        portal.get(f"/v1/conversations/{cid}", headers=admin),
        portal.post(f"/v1/conversations/{cid}/take", headers=admin),
        portal.post(f"/v1/conversations/{cid}/messages", headers=admin, json={"text": "hi"}),
        portal.post(f"/v1/conversations/{cid}/notes", headers=admin, json={"text": "hi"}),
        portal.post(f"/v1/conversations/{cid}/close", headers=admin, json={}),
        portal.post(
            f"/v1/dispatch/conversations/{cid}/assign",
            headers=admin,
            json={"user_id": other.users["agent"]},
        ),
        portal.get(f"/v1/visitors/{visitor_id}", headers=admin),
        portal.patch(f"/v1/visitors/{visitor_id}", headers=admin, json={"first_name": "X"}),
    ]
    assert [a.status_code for a in attempts] == [404] * len(attempts), [a.text for a in attempts]
    # Our manager cannot dispatch to their agent either.
    cross = portal.post(
        f"/v1/dispatch/conversations/{cid}/assign",
        headers=desk.manager,
        json={"user_id": other.users["agent"]},
    )
    assert cross.status_code == 422
    assert portal.get("/v1/history", headers=admin).json()["total"] == 0
    detail = desk.get(cid)
    assert detail["status"] == "waiting" and detail["notes"] == [] and len(detail["messages"]) == 1


def test_bot_pause_and_resume_need_the_bot_plan(portal) -> None:  # type: ignore[no-untyped-def]
    pro = Desk(portal, plan="pro")
    cid = pro.visitor_writes("kim", "b1", "bot?")
    refused = portal.post(f"/v1/conversations/{cid}/bot/pause", headers=pro.agent)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "plan_required"

    bot = Desk(portal, plan="bot")
    bot.ok(
        portal.put(
            f"/v1/chatbots/{bot.channel}",
            headers=bot.admin,
            json={"platform": "rasa", "url": "https://bot.example/webhooks/rest/webhook"},
        )
    )
    cid = bot.visitor_writes("lou", "b1", "hi bot")
    assert bot.get(cid)["status"] == "bot"
    take = portal.post(f"/v1/conversations/{cid}/take", headers=bot.manager)
    assert take.status_code == 409 and take.json()["error"]["code"] == "with_bot"
    # The agent who pauses the bot takes the visitor over and chats at once.
    paused = bot.ok(portal.post(f"/v1/conversations/{cid}/bot/pause", headers=bot.agent))
    assert (paused["status"], paused["handover"], paused["assignee_id"]) == (
        "in_progress",
        "human",
        bot.tenant.users["agent"],
    )
    reply = portal.post(
        f"/v1/conversations/{cid}/messages", headers=bot.agent, json={"text": "A human here."}
    )
    assert reply.status_code == 201
    taken = portal.post(f"/v1/conversations/{cid}/take", headers=bot.manager)
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "already_taken"
    # Only its holder (or a Manager) gives it back to the bot.
    other = new_tenant_user(portal, bot, "agent")
    refused = portal.post(f"/v1/conversations/{cid}/bot/resume", headers=other)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_yours"
    resumed = bot.ok(portal.post(f"/v1/conversations/{cid}/bot/resume", headers=bot.agent))
    assert (resumed["status"], resumed["handover"], resumed["assignee_id"]) == ("bot", "bot", None)
    assert (
        portal.post(
            f"/v1/conversations/{cid}/bot/pause", headers=bot.tenant.tokens["analyst"]
        ).status_code
        == 403
    )


def new_tenant_user(portal, desk: Desk, role: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """One more end user of the desk's tenant, logged in."""
    email = f"{role}-{uuid.uuid4().hex[:6]}@tenant.example"
    desk.ok(
        portal.post(
            "/v1/users",
            headers=desk.admin,
            json={
                "first_name": "Second",
                "last_name": role.title(),
                "email": email,
                "role": role,
                "mother_tongue": "nl",
                "password": PASSWORD,
            },
        )
    )
    return login(portal, email)


def test_allowed_origins_only_for_the_website_chat(portal, desk) -> None:  # type: ignore[no-untyped-def]
    url = f"/v1/channels/{desk.channel}/allowed-origins"
    saved = desk.ok(
        portal.put(
            url,
            headers=desk.admin,
            json={"allowed_origins": ["https://shop.example", "http://localhost:8080"]},
        )
    )
    assert saved["allowed_origins"] == ["http://localhost:8080", "https://shop.example"]
    for bad in (["shop.example"], ["https://shop.example/path"], ["javascript:alert(1)"]):
        assert portal.put(url, headers=desk.admin, json={"allowed_origins": bad}).status_code == 422
    assert portal.put(url, headers=desk.agent, json={"allowed_origins": []}).status_code == 403


def test_live_events_refuse_a_bad_position(portal, desk) -> None:  # type: ignore[no-untyped-def]
    for bad in ("x", "1.y", "-4.0"):
        response = portal.get("/v1/events", headers=desk.agent, params={"after": bad})
        assert response.status_code == 422, bad
    assert portal.get("/v1/events", headers=desk.tenant.tokens["analyst"]).status_code == 403


def test_out_of_office_once_per_closed_period_and_still_queued(portal, desk) -> None:  # type: ignore[no-untyped-def]
    hours = {
        "time_zone": "Europe/Brussels",
        "weekly": {"monday": [{"start": "09:00", "end": "17:00"}]},
    }
    desk.ok(portal.put("/v1/settings/office-hours", headers=desk.admin, json=hours))
    desk.ok(
        portal.put(
            f"/v1/channels/{desk.channel}/out-of-office",
            headers=desk.admin,
            json={"message": "Closed; back Monday 9:00."},
        )
    )
    sunday = datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
    cid = desk.visitor_writes("olga", "o1", "sunday 1", at=sunday)
    desk.visitor_writes("olga", "o2", "sunday 2", at=sunday + timedelta(hours=1))
    desk.visitor_writes("olga", "o3", "monday open", at=datetime(2025, 6, 2, 8, 0, tzinfo=UTC))
    desk.visitor_writes("olga", "o4", "monday late", at=datetime(2025, 6, 2, 16, 0, tzinfo=UTC))
    detail = desk.get(cid)
    authors = [(m["author"], m["text"]) for m in detail["messages"]]
    system = [text for author, text in authors if author == "system"]
    assert system == ["Closed; back Monday 9:00."] * 2, authors
    assert [text for author, text in authors if author == "visitor"] == [
        "sunday 1",
        "sunday 2",
        "monday open",
        "monday late",
    ]
    assert detail["status"] == "waiting"


def test_a_conversation_recorded_with_competence_names_shows_the_competences(portal, desk):  # type: ignore[no-untyped-def]
    """Conversations recorded before competences were ids hold names; they show as the
    competence of that name (a name no competence has any more is left out)."""
    cid = desk.visitor_writes("v-older", "o1")
    desk.svc.conversations.change_requirements(
        uuid.UUID(desk.tenant.tenant_id),
        uuid.UUID(cid),
        None,
        ["Orders", "Gone"],
        uuid.UUID(desk.tenant.users["manager"]),
        T0,
        dispatched=True,
    )
    desk.svc.projector.catch_up_now()
    orders = desk.competences["Orders"]
    shown = desk.get(cid)
    assert shown["required_competences"] == [orders]
    assert shown["competences"] == [{"id": orders, "name": "Orders"}]
