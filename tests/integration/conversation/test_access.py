"""The access table of SPEC §3, enforced on every endpoint, and tenants kept apart.

Both tests are driven by the application itself: the role matrix walks every route and
reads the function it declares; the cross-tenant test tries every resource of one tenant
with another tenant's credentials.
"""

from __future__ import annotations

import re
import uuid

import pytest
from pydantic import SecretStr

from shared.access import ACCESS, ROLES
from shared.hardening import OPERATOR_SCOPES
from tests.support.access import endpoints, function_of, is_operator_only, operator_scope
from tests.support.tenants import OPERATOR, new_tenant

#: Endpoints open to everyone (the login itself, probes) or only to the operator.
PUBLIC = {
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/forgot-password"),
    ("POST", "/v1/auth/reset-password"),
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
    # A signed, short-lived link handed out by the conversation view: its signature is the
    # authorisation (tests/integration/ingest/test_attachments.py tries to cross tenants with it).
    ("GET", "/v1/attachments/{attachment_id}"),
}


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


def test_every_endpoint_declares_who_may_use_it(portal):
    unclassified = [
        (method, path)
        for method, path, route in endpoints(portal.app)
        if function_of(route) is None
        and not is_operator_only(route)
        and (method, path) not in PUBLIC
    ]
    assert unclassified == []


def test_role_matrix(portal):
    tenant = new_tenant(portal, plan="bot")  # every function in the plan: only roles decide
    checked = 0
    for method, path, route in endpoints(portal.app):
        function = function_of(route)
        if function is None:
            continue
        if path == "/v1/auth/logout":
            continue  # would end the session the matrix uses; covered in test_login
        for role in ROLES:
            response = portal.request(
                method,
                _fill(path),
                headers=tenant.tokens[role],
                json={} if method in ("POST", "PUT", "PATCH") else None,
                # The live stream never ends; a bad position makes an allowed call a quick 422.
                params={"after": "not-a-position"} if path == "/v1/events" else None,
            )
            allowed = role in ACCESS[function]
            assert (response.status_code != 403) == allowed, (
                f"{role} {method} {path} ({function}): {response.status_code} {response.text[:200]}"
            )
            assert response.status_code != 401 and response.status_code < 500
            checked += 1
    assert checked >= 4 * 20


def test_without_a_session_everything_but_login_is_refused(portal):
    for method, path, _route in endpoints(portal.app):
        if (method, path) in PUBLIC:
            continue
        response = portal.request(method, _fill(path), json={} if method != "GET" else None)
        assert response.status_code == 401, f"{method} {path}: {response.status_code}"


def test_operator_endpoints_refuse_tenant_users(portal):
    tenant = new_tenant(portal)
    for method, path, route in endpoints(portal.app):
        if not is_operator_only(route):
            continue
        response = portal.request(
            method, _fill(path), headers=tenant.tokens["administrator"], json={}
        )
        assert response.status_code == 401, f"{method} {path}"


def test_each_operator_scope_opens_only_its_own_endpoints(portal, monkeypatch):
    """With scoped tokens set, a token opens its scope and nothing else (not even the
    general OPERATOR_TOKEN opens a scope that has its own)."""
    service = portal.app.state.service
    tokens = {scope: f"{scope}-token-" + "s" * 32 for scope in OPERATOR_SCOPES}
    scoped = service.settings.model_copy(
        update={f"operator_{scope}_token": SecretStr(t) for scope, t in tokens.items()}
    )
    monkeypatch.setattr(service, "settings", scoped)
    seen = set()
    for method, path, route in endpoints(portal.app):
        scope = operator_scope(route)
        if scope is None:
            continue
        seen.add(scope)
        for other, token in {**tokens, "general": OPERATOR["Authorization"][7:]}.items():
            response = portal.request(
                method, _fill(path), headers={"Authorization": f"Bearer {token}"}, json={}
            )
            if other == scope:
                assert response.status_code != 401, f"{method} {path} with its own token"
            else:
                assert response.status_code == 401, f"{method} {path} with the {other} token"
    assert seen == set(OPERATOR_SCOPES)


@pytest.fixture(scope="module")
def two_tenants(portal):  # type: ignore[no-untyped-def]
    """Tenant B with one of everything; tenant A will try to reach it."""
    a, b = new_tenant(portal), new_tenant(portal)
    admin_b = b.tokens["administrator"]
    b.channel = portal.post(
        "/v1/channels", headers=admin_b, json={"channel_type": "webchat", "name": "B site"}
    ).json()["channel_id"]
    b.competence = portal.post("/v1/competences", headers=admin_b, json={"name": "B skill"}).json()[
        "id"
    ]
    b.topic = portal.post("/v1/topics", headers=admin_b, json={"name": "B topic"}).json()["id"]
    a.competence = portal.post(
        "/v1/competences", headers=a.tokens["administrator"], json={"name": "A skill"}
    ).json()["id"]
    return a, b


def test_tenant_a_cannot_read_change_or_delete_anything_of_tenant_b(portal, two_tenants):
    a, b = two_tenants
    admin_a, admin_b = a.tokens["administrator"], b.tokens["administrator"]
    user_b = b.users["agent"]
    attempts = [
        ("GET", f"/v1/users/{user_b}", None),
        ("PATCH", f"/v1/users/{user_b}", {"first_name": "Hacked"}),
        ("POST", f"/v1/users/{user_b}/deactivation", None),
        ("POST", f"/v1/users/{user_b}/activation", None),
        ("DELETE", f"/v1/users/{user_b}", None),
        ("GET", f"/v1/competences/{b.competence}", None),
        ("PUT", f"/v1/competences/{b.competence}", {"name": "Hacked"}),
        ("GET", f"/v1/competences/{b.competence}/users", None),
        ("PUT", f"/v1/competences/{b.competence}/users", {"user_ids": [a.users["agent"]]}),
        ("DELETE", f"/v1/competences/{b.competence}", None),
        ("GET", f"/v1/topics/{b.topic}", None),
        ("PUT", f"/v1/topics/{b.topic}", {"name": "Hacked"}),
        ("DELETE", f"/v1/topics/{b.topic}", None),
        ("GET", f"/v1/channels/{b.channel}", None),
        ("PUT", f"/v1/channels/{b.channel}/out-of-office", {"message": "Hacked"}),
        ("DELETE", f"/v1/channels/{b.channel}", None),
        ("GET", f"/v1/conversations/{uuid.uuid4()}", None),
    ]
    for method, path, body in attempts:
        response = portal.request(method, path, headers=admin_a, json=body)
        assert response.status_code == 404, (
            f"{method} {path}: {response.status_code} {response.text}"
        )
        assert response.json()["error"]["code"] == "not_found"

    # Ids of B inside A's requests are unknown ids.
    smuggled = [
        (
            "POST",
            "/v1/users",
            {
                "first_name": "X",
                "last_name": "Y",
                "email": "x@a.example",
                "role": "agent",
                "mother_tongue": "nl",
                "channel_ids": [b.channel],
                "password": "long enough",
            },
        ),
        (
            "POST",
            "/v1/users",
            {
                "first_name": "X",
                "last_name": "Y",
                "email": "x@a.example",
                "role": "agent",
                "mother_tongue": "nl",
                "competences": [b.competence],
                "password": "long enough",
            },
        ),
        ("PATCH", f"/v1/users/{a.users['agent']}", {"competences": [b.competence]}),
        ("PUT", f"/v1/competences/{a.competence}/users", {"user_ids": [user_b]}),
    ]
    for method, path, body in smuggled:
        response = portal.request(method, path, headers=admin_a, json=body)
        assert response.status_code == 422, (
            f"{method} {path}: {response.status_code} {response.text}"
        )

    # Lists show only one's own tenant.
    listed = portal.get("/v1/users", headers=admin_a, params={"limit": 200}).json()
    assert {u["user_id"] for u in listed["items"]} == set(a.users.values())
    assert b.channel not in {
        c["channel_id"] for c in portal.get("/v1/channels", headers=admin_a).json()
    }
    assert [c["id"] for c in portal.get("/v1/competences", headers=admin_a).json()["items"]] == [
        a.competence
    ]

    # And B is untouched.
    user = portal.get(f"/v1/users/{user_b}", headers=admin_b).json()
    assert user["first_name"] == "Agent" and user["active"] is True
    assert (
        portal.get(f"/v1/competences/{b.competence}", headers=admin_b).json()["name"] == "B skill"
    )
    assert portal.get(f"/v1/channels/{b.channel}", headers=admin_b).json()["connected"] is True
    assert portal.get(f"/v1/topics/{b.topic}", headers=admin_b).status_code == 200


def test_the_operator_token_is_not_a_tenant_session(portal):
    assert portal.get("/v1/users", headers=OPERATOR).status_code == 401
