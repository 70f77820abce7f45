"""The Portal's browser session: HttpOnly cookie, CSRF defence, logout (docs/portal.md)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from shared.auth import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, csrf_token_for
from tests.support.tenants import PASSWORD, new_tenant


def _browser(portal: TestClient) -> TestClient:
    """A browser of its own (its own cookie jar) on the same app, over https like the Portal."""
    return TestClient(portal.app, base_url="https://testserver", client=("203.0.113.8", 50001))


def _cookie_login(portal: TestClient, email: str) -> TestClient:
    browser = _browser(portal)
    answer = browser.post(
        "/v1/auth/login", json={"email": email, "password": PASSWORD, "session": "cookie"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["token"] is None  # page scripts never see the token
    return browser


def test_cookie_login_sets_an_httponly_strict_session_and_a_readable_csrf_cookie(portal):
    tenant = new_tenant(portal)
    browser = _browser(portal)
    answer = browser.post(
        "/v1/auth/login",
        json={"email": tenant.emails["agent"], "password": PASSWORD, "session": "cookie"},
    )
    assert answer.status_code == 200
    set_cookies = answer.headers.get_list("set-cookie")
    session = next(c for c in set_cookies if c.startswith(f"{SESSION_COOKIE}="))
    csrf = next(c for c in set_cookies if c.startswith(f"{CSRF_COOKIE}="))
    assert "HttpOnly" in session and "SameSite=strict" in session and "Path=/" in session
    assert "HttpOnly" not in csrf and "SameSite=strict" in csrf
    assert "Secure" in session and "Secure" in csrf  # PUBLIC_BASE_URL of the tests is https
    token = browser.cookies[SESSION_COOKIE]
    assert browser.cookies[CSRF_COOKIE] == csrf_token_for(token)

    me = browser.get("/v1/me")
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["user_id"] == tenant.users["agent"]
    assert body["role"] == "agent"
    assert body["tenant_id"] == tenant.tenant_id
    assert body["default_language"] == "nl"
    assert "conversations" in body["functions"] and "administration" not in body["functions"]
    assert "service_levels" in body["functions"] and "chatbot" not in body["functions"]  # pro
    assert "chatbot.handover" not in body["functions"]  # the handover needs the Bot plan

    # Bearer tokens keep working for API clients, and login without the flag returns one.
    bearer = portal.post(
        "/v1/auth/login", json={"email": tenant.emails["agent"], "password": PASSWORD}
    )
    assert bearer.json()["token"]
    assert "set-cookie" not in bearer.headers


def test_a_cookie_request_that_changes_something_needs_the_csrf_header(portal):
    tenant = new_tenant(portal)
    browser = _cookie_login(portal, tenant.emails["agent"])
    csrf = browser.cookies[CSRF_COOKIE]
    body = {"presence": "online"}

    refused = browser.put("/v1/me/presence", json=body)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    wrong = browser.put("/v1/me/presence", json=body, headers={CSRF_HEADER: "0" * 64})
    assert wrong.json()["error"]["code"] == "csrf_failed"
    # A forged pair (header = a cookie another site planted) is not the session's token either.
    forged = _browser(portal)
    forged.cookies.set(SESSION_COOKIE, browser.cookies[SESSION_COOKIE])
    forged.cookies.set(CSRF_COOKIE, "f" * 64)
    planted = forged.put("/v1/me/presence", json=body, headers={CSRF_HEADER: "f" * 64})
    assert planted.json()["error"]["code"] == "csrf_failed"

    accepted = browser.put("/v1/me/presence", json=body, headers={CSRF_HEADER: csrf})
    assert accepted.status_code == 204, accepted.text
    assert browser.get("/v1/me").json()["presence"] == "online"
    # Reads need no header.
    assert browser.get("/v1/queue").status_code == 200


def test_logout_ends_the_session_and_clears_both_cookies(portal):
    tenant = new_tenant(portal)
    browser = _cookie_login(portal, tenant.emails["manager"])
    token = browser.cookies[SESSION_COOKIE]
    assert browser.post("/v1/auth/logout").json()["error"]["code"] == "csrf_failed"
    out = browser.post("/v1/auth/logout", headers={CSRF_HEADER: browser.cookies[CSRF_COOKIE]})
    assert out.status_code == 204
    cleared = out.headers.get_list("set-cookie")
    assert any(c.startswith(f'{SESSION_COOKIE}=""') and "Max-Age=0" in c for c in cleared)
    assert any(c.startswith(f'{CSRF_COOKIE}=""') and "Max-Age=0" in c for c in cleared)
    assert SESSION_COOKIE not in browser.cookies
    assert browser.get("/v1/me").status_code == 401
    # The old cookie, replayed, is dead too.
    replay = _browser(portal)
    replay.cookies.set(SESSION_COOKIE, token)
    assert replay.get("/v1/me").status_code == 401


def test_me_is_the_signed_in_person_of_their_own_tenant(portal):
    bot = new_tenant(portal, plan="bot")
    other = new_tenant(portal)
    admin = portal.get("/v1/me", headers=bot.tokens["administrator"]).json()
    assert admin["tenant_id"] == bot.tenant_id != other.tenant_id
    assert admin["plan"] == "bot" and admin["first_name"] == "Ada"
    assert {"administration", "dispatch", "history", "chatbot", "chatbot.handover"} <= set(
        admin["functions"]
    )
    analyst = portal.get("/v1/me", headers=bot.tokens["analyst"]).json()
    assert "statistics" in analyst["functions"]
    assert "conversations" not in analyst["functions"]
    assert "statistics.per_end_user" not in analyst["functions"]
    assert portal.get("/v1/me").status_code == 401


def test_browsers_on_event_loops_of_their_own_all_read_their_writes(portal):
    """Each request waits for the views (read-your-writes); many loops may wait at once.

    Each of these test clients runs every request on an event loop of its own, as an embedding
    with more than one loop would: the wait must not be bound to the first loop that waited.
    """
    tenant = new_tenant(portal)
    browsers = [_cookie_login(portal, tenant.emails[role]) for role in ("agent", "manager")]

    def change_presence(browser: TestClient) -> list[int]:
        csrf = {CSRF_HEADER: browser.cookies[CSRF_COOKIE]}
        return [
            browser.put("/v1/me/presence", json={"presence": p}, headers=csrf).status_code
            for p in ("online", "away") * 15
        ]

    with ThreadPoolExecutor(len(browsers)) as pool:
        answers = list(pool.map(change_presence, browsers))
    assert answers == [[204] * 30] * len(browsers)
    for browser, role in zip(browsers, ("agent", "manager"), strict=True):
        assert browser.get("/v1/me").json()["presence"] == "away", role
