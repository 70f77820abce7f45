"""Login, lockout, password links by real email, and revocation (SPEC §3.1.1)."""

from __future__ import annotations

from sqlalchemy import update

from services.conversation.store import tables as t
from tests.support.tenants import (
    OPERATOR,
    PASSWORD,
    PUBLIC_BASE_URL,
    login,
    new_tenant,
    token_in,
    wait_for_link,
)


def test_the_sixth_attempt_fails_even_with_the_right_password_until_reset(portal, mail):
    tenant = new_tenant(portal)
    email = tenant.emails["agent"]
    unknown = portal.post(
        "/v1/auth/login", json={"email": "nobody@x.example", "password": "whatever1"}
    )
    for _ in range(5):
        wrong = portal.post("/v1/auth/login", json={"email": email, "password": "wrong password"})
        assert wrong.status_code == 401
        assert wrong.json() == unknown.json()  # no hint whether the email exists
    locked = portal.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert locked.status_code == 401
    assert locked.json() == unknown.json()

    # The emailed link is the only way back in, and it comes from the configured base URL.
    asked = portal.post(
        "/v1/auth/forgot-password", json={"email": email}, headers={"Host": "evil.example"}
    )
    assert asked.status_code == 202
    link = wait_for_link(mail, email)
    assert link.startswith(f"{PUBLIC_BASE_URL}/reset-password?token=")
    reset = portal.post(
        "/v1/auth/reset-password", json={"token": token_in(link), "password": "a brand new secret"}
    )
    assert reset.status_code == 204
    assert (
        portal.post("/v1/auth/login", json={"email": email, "password": PASSWORD}).status_code
        == 401
    )
    login(portal, email, "a brand new secret")
    # A link works once.
    again = portal.post(
        "/v1/auth/reset-password", json={"token": token_in(link), "password": "another secret!"}
    )
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "invalid_reset_token"


def test_forgot_password_answers_alike_and_sends_nothing_for_unknown_addresses(portal, mail):
    before = len(mail.messages)
    unknown = portal.post("/v1/auth/forgot-password", json={"email": "ghost@nowhere.example"})
    tenant = new_tenant(portal)
    known = portal.post("/v1/auth/forgot-password", json={"email": tenant.emails["manager"]})
    assert unknown.status_code == known.status_code == 202
    assert unknown.json() == known.json()
    wait_for_link(mail, tenant.emails["manager"])
    assert not mail.links_to("ghost@nowhere.example")
    assert len(mail.messages) == before + 1


def test_a_new_password_ends_every_session_and_expired_links_fail(portal, mail):
    tenant = new_tenant(portal)
    email = tenant.emails["manager"]
    session = tenant.tokens["manager"]
    assert portal.get("/v1/auth/session", headers=session).status_code == 200
    portal.post("/v1/auth/forgot-password", json={"email": email})
    first = wait_for_link(mail, email)
    portal.post("/v1/auth/forgot-password", json={"email": email})
    second = wait_for_link(mail, email, count=2)
    service = portal.app.state.service
    with service.engine.begin() as conn:  # let the second link expire
        from datetime import UTC, datetime, timedelta

        from services.conversation.application.security import token_hash

        conn.execute(
            update(t.reset_tokens)
            .where(t.reset_tokens.c.token_hash == token_hash(token_in(second)))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    expired = portal.post(
        "/v1/auth/reset-password", json={"token": token_in(second), "password": "long enough pw"}
    )
    assert expired.status_code == 400
    ok = portal.post(
        "/v1/auth/reset-password", json={"token": token_in(first), "password": "long enough pw"}
    )
    assert ok.status_code == 204
    assert portal.get("/v1/auth/session", headers=session).status_code == 401


def test_new_users_without_a_password_get_a_set_password_mail(portal, mail):
    tenant = new_tenant(portal)
    created = portal.post(
        "/v1/users",
        headers=tenant.tokens["administrator"],
        json={
            "first_name": "New",
            "last_name": "Person",
            "email": "NEW.Person@tenant.example",
            "role": "agent",
            "mother_tongue": "nl",
        },
    )
    assert created.status_code == 201
    link = wait_for_link(mail, "new.person@tenant.example")
    assert "Set your Interact password" in [
        m["Subject"] for m in mail.messages if m["To"] == "new.person@tenant.example"
    ]
    assert (
        portal.post(
            "/v1/auth/reset-password",
            json={"token": token_in(link), "password": "my first password"},
        ).status_code
        == 204
    )
    login(portal, "new.person@tenant.example", "my first password")


def test_logout_and_deactivation_revoke_at_once(portal):
    tenant = new_tenant(portal)
    agent, admin = tenant.tokens["agent"], tenant.tokens["administrator"]
    other = login(portal, tenant.emails["agent"])
    assert portal.post("/v1/auth/logout", headers=agent).status_code == 204
    assert portal.get("/v1/auth/session", headers=agent).status_code == 401
    assert portal.get("/v1/auth/session", headers=other).status_code == 200
    deactivated = portal.post(f"/v1/users/{tenant.users['agent']}/deactivation", headers=admin)
    assert deactivated.status_code == 200 and deactivated.json()["active"] is False
    assert portal.get("/v1/auth/session", headers=other).status_code == 401
    refused = portal.post(
        "/v1/auth/login", json={"email": tenant.emails["agent"], "password": PASSWORD}
    )
    assert refused.status_code == 401
    assert (
        portal.post(f"/v1/users/{tenant.users['agent']}/activation", headers=admin).status_code
        == 200
    )
    login(portal, tenant.emails["agent"])


def test_after_the_contract_ends_nobody_of_the_tenant_gets_in(portal):
    tenant = new_tenant(portal)
    session = tenant.tokens["analyst"]
    ended = portal.post(
        f"/v1/operator/tenants/{tenant.tenant_id}/termination",
        headers=OPERATOR,
        json={"contract_end": "2020-01-01T00:00:00Z"},
    )
    assert ended.status_code == 204
    assert portal.get("/v1/auth/session", headers=session).status_code == 401
    refused = portal.post(
        "/v1/auth/login", json={"email": tenant.emails["administrator"], "password": PASSWORD}
    )
    assert refused.status_code == 401


def test_login_attempts_are_rate_limited_per_account(portal):
    tenant = new_tenant(portal)
    email = tenant.emails["analyst"]
    statuses = [
        portal.post("/v1/auth/login", json={"email": email, "password": "x" * 9}).status_code
        for _ in range(12)
    ]
    assert statuses[:5] == [401] * 5
    assert statuses[-1] == 429
    assert (
        portal.post("/v1/auth/login", json={"email": email, "password": "x" * 9}).json()["error"][
            "code"
        ]
        == "rate_limited"
    )


def test_short_passwords_are_refused(portal, mail):
    tenant = new_tenant(portal)
    portal.post("/v1/auth/forgot-password", json={"email": tenant.emails["agent"]})
    link = wait_for_link(mail, tenant.emails["agent"])
    short = portal.post(
        "/v1/auth/reset-password", json={"token": token_in(link), "password": "short"}
    )
    assert short.status_code == 422
    long_ok = portal.post(
        "/v1/auth/reset-password", json={"token": token_in(link), "password": "p" * 64}
    )
    assert long_ok.status_code == 204
