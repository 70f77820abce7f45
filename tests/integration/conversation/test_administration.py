"""What an Administrator configures (SPEC §3.1.2-§3.1.7, §3.1.12), through the real API."""

from __future__ import annotations

from shared.secrets import unseal
from tests.support.tenants import OPERATOR, new_tenant


def test_users_are_created_searched_sorted_paged_updated_and_deleted(portal):
    tenant = new_tenant(portal)
    admin = tenant.tokens["administrator"]
    portal.put(
        "/v1/settings/general",
        headers=admin,
        json={"routing_enabled": True, "languages": ["nl", "fr", "en"]},
    ).raise_for_status()
    for first, last, tongue in [
        ("Zoe", "Adams", "fr"),
        ("Bart", "Zwart", "nl"),
        ("Anna", "Maes", "en"),
    ]:
        created = portal.post(
            "/v1/users",
            headers=admin,
            json={
                "first_name": first,
                "last_name": last,
                "email": f"{first}@people.example",
                "role": "agent",
                "mother_tongue": tongue,
                "languages": [tongue],
                "password": "long enough pw",
            },
        )
        assert created.status_code == 201, created.text
    duplicate = portal.post(
        "/v1/users",
        headers=admin,
        json={
            "first_name": "Z",
            "last_name": "A",
            "email": "ZOE@people.example",
            "role": "agent",
            "mother_tongue": "nl",
        },
    )
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "email_taken"

    def names(**params) -> list[str]:  # type: ignore[no-untyped-def]
        body = portal.get("/v1/users", headers=admin, params=params).json()
        return [u["first_name"] for u in body["items"]]

    assert names(q="people", sort="first_name") == ["Anna", "Bart", "Zoe"]
    assert names(q="people", sort="-last_name") == ["Bart", "Anna", "Zoe"]
    assert names(q="people", sort="mother_tongue") == ["Anna", "Zoe", "Bart"]
    assert names(q="ZWA") == ["Bart"]
    assert names(role="analyst") == ["Analyst"]
    page = portal.get(
        "/v1/users", headers=admin, params={"q": "people", "sort": "email", "limit": 2, "offset": 2}
    ).json()
    assert page["total"] == 3 and [u["first_name"] for u in page["items"]] == ["Zoe"]
    assert portal.get("/v1/users", headers=admin, params={"sort": "password"}).status_code == 422

    anna = next(
        u for u in portal.get("/v1/users", headers=admin, params={"q": "anna"}).json()["items"]
    )
    changed = portal.patch(
        f"/v1/users/{anna['user_id']}", headers=admin, json={"last_name": "Peeters", "capacity": 3}
    )
    assert changed.status_code == 200
    assert (changed.json()["last_name"], changed.json()["capacity"]) == ("Peeters", 3)
    not_offered = portal.patch(
        f"/v1/users/{anna['user_id']}", headers=admin, json={"languages": ["de"]}
    )
    assert (
        not_offered.status_code == 422
        and not_offered.json()["error"]["code"] == "language_not_offered"
    )
    analyst_skills = portal.patch(
        f"/v1/users/{tenant.users['analyst']}", headers=admin, json={"languages": ["nl"]}
    )
    assert analyst_skills.status_code == 422
    assert portal.delete(f"/v1/users/{anna['user_id']}", headers=admin).status_code == 204
    assert portal.get(f"/v1/users/{anna['user_id']}", headers=admin).status_code == 404
    assert (
        portal.delete(f"/v1/users/{tenant.users['administrator']}", headers=admin).status_code
        == 409
    )


def test_competences_topics_and_assignment(portal):
    tenant = new_tenant(portal)
    admin = tenant.tokens["administrator"]
    billing = portal.post(
        "/v1/competences", headers=admin, json={"name": "Billing", "description": "Invoices"}
    )
    assert billing.status_code == 201
    competence = billing.json()["id"]
    assert (
        portal.post("/v1/competences", headers=admin, json={"name": "Billing"}).status_code == 409
    )
    portal.post("/v1/competences", headers=admin, json={"name": "Another"}).raise_for_status()
    listed = portal.get("/v1/competences", headers=admin, params={"sort": "-name"}).json()
    assert [c["name"] for c in listed["items"]] == ["Billing", "Another"]
    assert [
        c["name"]
        for c in portal.get("/v1/competences", headers=admin, params={"q": "bill"}).json()["items"]
    ] == ["Billing"]

    holders = [tenant.users["agent"], tenant.users["manager"]]
    assert (
        portal.put(
            f"/v1/competences/{competence}/users", headers=admin, json={"user_ids": holders}
        ).status_code
        == 204
    )
    have = {
        u["user_id"]
        for u in portal.get(f"/v1/competences/{competence}/users", headers=admin).json()
    }
    assert have == set(holders)
    agent = portal.get(f"/v1/users/{tenant.users['agent']}", headers=admin).json()
    assert agent["competences"] == [competence]
    analyst = portal.put(
        f"/v1/competences/{competence}/users",
        headers=admin,
        json={"user_ids": [tenant.users["analyst"]]},
    )
    assert analyst.status_code == 422
    assert (
        portal.put(
            f"/v1/competences/{competence}/users",
            headers=admin,
            json={"user_ids": [tenant.users["agent"]]},
        ).status_code
        == 204
    )
    manager = portal.get(f"/v1/users/{tenant.users['manager']}", headers=admin).json()
    assert manager["competences"] == []
    assert portal.delete(f"/v1/competences/{competence}", headers=admin).status_code == 204
    agent = portal.get(f"/v1/users/{tenant.users['agent']}", headers=admin).json()
    assert agent["competences"] == []  # a deleted competence is taken from everyone

    topic = portal.post("/v1/topics", headers=admin, json={"name": "Complaint"}).json()["id"]
    renamed = portal.put(
        f"/v1/topics/{topic}", headers=admin, json={"name": "Complaints", "description": "Unhappy"}
    )
    assert renamed.json() == {"id": topic, "name": "Complaints", "description": "Unhappy"}
    assert portal.get("/v1/topics", headers=tenant.tokens["agent"]).status_code == 200
    assert portal.post("/v1/topics", headers=admin, json={"name": "x" * 101}).status_code == 422
    assert (
        portal.post("/v1/topics", headers=admin, json={"name": "ok", "colour": "red"}).status_code
        == 422
    )


def test_channels_keep_credentials_sealed_and_gate_the_sdk_option(portal):
    tenant = new_tenant(portal)
    admin = tenant.tokens["administrator"]
    types = portal.get("/v1/channels/types", headers=admin).json()
    assert {t["channel_type"] for t in types} == {
        "messenger",
        "page_comments",
        "whatsapp",
        "webchat",
    }
    assert (
        portal.post(
            "/v1/channels", headers=admin, json={"channel_type": "telegram", "name": "x"}
        ).status_code
        == 422
    )
    missing = portal.post(
        "/v1/channels", headers=admin, json={"channel_type": "messenger", "name": "Page"}
    )
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "credentials_required"
    credentials = {
        "app_secret": "s3cret-app-secret",
        "access_token": "EAAB-token-123",
        "verify_token": "verify-me-please",
    }
    page = portal.post(
        "/v1/channels",
        headers=admin,
        json={
            "channel_type": "messenger",
            "name": "Page",
            "external_id": "1234567890",
            "credentials": credentials,
            "out_of_office_message": "We are closed",
        },
    )
    assert page.status_code == 201
    body = page.json()
    assert "credentials" not in body and "s3cret" not in page.text
    assert body["out_of_office_message"] == "We are closed"
    # Sealed in the event log, and only the configured key opens them.
    service = portal.app.state.service
    channel = service.directory.channel(
        __import__("uuid").UUID(tenant.tenant_id), __import__("uuid").UUID(body["channel_id"])
    )
    assert (
        unseal(channel.sealed_credentials, service.settings.channel_secrets_key.get_secret_value())
        == credentials
    )
    assert "s3cret" not in channel.sealed_credentials

    office = portal.put(
        f"/v1/channels/{body['channel_id']}/out-of-office", headers=admin, json={"message": None}
    )
    assert office.json()["out_of_office_message"] is None
    assert portal.delete(f"/v1/channels/{body['channel_id']}", headers=admin).status_code == 204
    assert portal.delete(f"/v1/channels/{body['channel_id']}", headers=admin).status_code == 409
    assert (
        portal.get(f"/v1/channels/{body['channel_id']}", headers=admin).json()["connected"] is False
    )

    hub = new_tenant(portal, plan="hub", sdk_option=False)
    refused = portal.post(
        "/v1/channels",
        headers=hub.tokens["administrator"],
        json={"channel_type": "webchat", "name": "Site"},
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "option_required"


def test_general_settings_and_office_hours(portal):
    tenant = new_tenant(portal)
    admin = tenant.tokens["administrator"]
    assert portal.get("/v1/settings/general", headers=admin).json() == {
        "routing_enabled": True,
        "languages": ["nl"],
        "default_capacity": 5,
        "attachment_max_bytes": None,
    }
    assert (
        portal.put(
            "/v1/settings/general",
            headers=admin,
            json={"routing_enabled": False, "languages": ["nl", "nl"]},
        ).status_code
        == 422
    )
    assert (
        portal.put(
            "/v1/settings/general", headers=admin, json={"routing_enabled": False, "languages": []}
        ).status_code
        == 422
    )
    portal.put(
        "/v1/settings/general",
        headers=admin,
        json={"routing_enabled": False, "languages": ["nl", "en"]},
    ).raise_for_status()
    assert portal.get("/v1/settings/general", headers=admin).json()["routing_enabled"] is False

    assert portal.get("/v1/settings/office-hours", headers=admin).json()["always_open"] is True
    hours = {
        "time_zone": "Europe/Brussels",
        "weekly": {
            "monday": [
                {"start": "09:00:00", "end": "12:00:00"},
                {"start": "13:00:00", "end": "17:00:00"},
            ]
        },
        "closing_days": [{"date": "2026-12-25", "recurring_yearly": True, "label": "Christmas"}],
    }
    assert portal.put("/v1/settings/office-hours", headers=admin, json=hours).status_code == 200
    stored = portal.get("/v1/settings/office-hours", headers=admin).json()
    assert stored["weekly"]["monday"][1] == {"start": "13:00:00", "end": "17:00:00"}
    assert stored["closing_days"][0]["label"] == "Christmas"
    overlapping = {
        **hours,
        "weekly": {
            "monday": [{"start": "09:00", "end": "12:00"}, {"start": "11:00", "end": "13:00"}]
        },
    }
    assert (
        portal.put("/v1/settings/office-hours", headers=admin, json=overlapping).status_code == 422
    )
    assert (
        portal.put(
            "/v1/settings/office-hours", headers=admin, json={**hours, "time_zone": "Mars/Olympus"}
        ).status_code
        == 422
    )


def test_the_operator_keeps_the_faq_and_every_role_reads_it(portal):
    entry = portal.post(
        "/v1/operator/faq",
        headers=OPERATOR,
        json={
            "question": "How do I archive a conversation?",
            "answer": "Close it and pick topics.",
        },
    )
    assert entry.status_code == 201
    tenant = new_tenant(portal)
    for role in ("administrator", "manager", "agent", "analyst"):
        found = portal.get("/v1/faq", headers=tenant.tokens[role], params={"q": "archive"}).json()
        assert entry.json() in found["items"]
    assert (
        portal.post(
            "/v1/operator/faq",
            headers=tenant.tokens["administrator"],
            json={"question": "q", "answer": "a"},
        ).status_code
        == 401
    )
    portal.put(
        f"/v1/operator/faq/{entry.json()['id']}",
        headers=OPERATOR,
        json={"question": "How do I archive?", "answer": "Close it."},
    ).raise_for_status()
    assert (
        portal.delete(f"/v1/operator/faq/{entry.json()['id']}", headers=OPERATOR).status_code == 204
    )
    found = portal.get("/v1/faq", headers=tenant.tokens["agent"], params={"q": "archive"}).json()
    assert entry.json()["id"] not in {e["id"] for e in found["items"]}


def test_chatbot_settings_need_the_bot_plan_and_a_supported_platform(portal):
    pro = new_tenant(portal, plan="pro")
    refused = portal.get("/v1/chatbots", headers=pro.tokens["administrator"])
    assert refused.status_code == 403
    assert refused.json()["error"] == {
        "code": "plan_required",
        "message": "This needs the bot plan.",
        "details": {"plans": ["bot"]},
    }
    bot = new_tenant(portal, plan="bot")
    admin = bot.tokens["administrator"]
    channel = portal.post(
        "/v1/channels", headers=admin, json={"channel_type": "webchat", "name": "Site"}
    ).json()["channel_id"]
    unsupported = portal.put(
        f"/v1/chatbots/{channel}",
        headers=admin,
        json={"platform": "dialogflow", "url": "https://bot.example/hook"},
    )
    assert unsupported.status_code == 422
    connected = portal.put(
        f"/v1/chatbots/{channel}",
        headers=admin,
        json={
            "platform": "rasa",
            "url": "https://rasa.example/webhooks/rest/webhook",
            "token": "bot-token-123",
        },
    )
    assert connected.status_code == 200
    assert connected.json()["platform"] == "rasa" and "token" not in connected.json()
    assert [b["channel_id"] for b in portal.get("/v1/chatbots", headers=admin).json()] == [channel]
    assert portal.delete(f"/v1/chatbots/{channel}", headers=admin).status_code == 204
    assert portal.get("/v1/chatbots", headers=admin).json() == []
    assert portal.delete(f"/v1/chatbots/{channel}", headers=admin).status_code == 404
    assert (
        portal.put(
            f"/v1/chatbots/{channel}",
            headers=pro.tokens["administrator"],
            json={"platform": "rasa", "url": "https://x.example"},
        ).status_code
        == 403
    )
