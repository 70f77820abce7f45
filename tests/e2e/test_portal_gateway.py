"""One public origin: the gateway in front of the running stack serves the built Portal with
its single-page fallback, routes every API prefix to its service, streams server-sent events
unbuffered with the browser's session cookie, and resumes them with Last-Event-ID."""

from __future__ import annotations

import httpx
import orjson
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from services.gateway.routes import PREFIXES
from services.ingest.domain.webchat import CLOSE_UNKNOWN_CHANNEL
from services.stack import DEMO_PASSWORD, PORTAL_DIST, seed_demo
from shared.auth import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from tests.support.e2e import LiveEvents, wait_for


def _cookie_session(gateway: str, email: str) -> httpx.Client:
    browser = httpx.Client(base_url=gateway, timeout=30)
    answer = browser.post(
        "/v1/auth/login", json={"email": email, "password": DEMO_PASSWORD, "session": "cookie"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["token"] is None
    return browser


def test_the_gateway_is_the_portal_and_its_api_on_one_origin(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack("sqlite")
    demo = seed_demo(stack)
    gateway = stack.url("gateway")
    assert (PORTAL_DIST / "index.html").is_file(), "scripts/setup builds the Portal"
    index = (PORTAL_DIST / "index.html").read_text()

    # The Portal at /, and its own page for the link our mails send.
    assert httpx.get(f"{gateway}/").text == index
    link = httpx.get(f"{gateway}/reset-password", params={"token": "x" * 20})
    assert link.status_code == 200 and link.text == index
    asset = next((PORTAL_DIST / "assets").glob("*.js"))
    script = httpx.get(f"{gateway}/assets/{asset.name}")
    assert script.status_code == 200 and "immutable" in script.headers["cache-control"]
    assert httpx.get(f"{gateway}/../../etc/passwd").text == index  # never outside dist

    # Each prefix reaches its service (an unauthenticated call answers the service's 401).
    for prefix, service in PREFIXES.items():
        if service in ("stats", "sla", "billing"):
            probe = httpx.get(f"{gateway}{prefix}/nothing-here")
            assert probe.status_code in (401, 404), (prefix, probe.text)
    sdk = httpx.get(f"{gateway}/sdk/widget.js")
    assert sdk.status_code == 200 and "javascript" in sdk.headers["content-type"]
    assert httpx.get(f"{gateway}/sdk/demo/{demo['webchat_key']}").status_code == 200

    # The website chat's socket is relayed, its refusals (with their close codes) too.
    socket_url = gateway.replace("http://", "ws://") + "/v1/webchat/no-such-key/ws"
    with connect(socket_url, origin=gateway) as refused:
        assert orjson.loads(refused.recv(timeout=10))["code"] == "unknown_channel"
        with pytest.raises(ConnectionClosed):
            refused.recv(timeout=10)
    assert refused.close_code == CLOSE_UNKNOWN_CHANNEL

    # A browser session through the gateway, on the conversation and the stats service.
    nora = _cookie_session(gateway, "nora@demo.example")
    assert nora.get("/v1/me").json()["email"] == "nora@demo.example"
    admin = _cookie_session(gateway, "admin@demo.example")
    assert admin.get("/v1/stats/conversations/per-channel").status_code == 200
    # The gateway keeps nobody's session: a stranger without a cookie is not signed in as
    # the last person who signed in, and each browser stays who it is.
    assert httpx.get(f"{gateway}/v1/me").status_code == 401
    assert nora.get("/v1/me").json()["email"] == "nora@demo.example"
    assert nora.put("/v1/me/presence", json={"presence": "online"}).status_code == 403
    assert (
        nora.put(
            "/v1/me/presence",
            json={"presence": "online"},
            headers={CSRF_HEADER: nora.cookies[CSRF_COOKIE]},
        ).status_code
        == 204
    )

    # Live events with the cookie, as a browser's EventSource sends it, through the gateway.
    cookie = {"Cookie": f"{SESSION_COOKIE}={nora.cookies[SESSION_COOKIE]}"}
    live = LiveEvents(f"{gateway}/v1/events", cookie)
    sent = httpx.post(
        f"{gateway}/v1/webchat/{demo['webchat_key']}/messages",
        json={"visitor_id": "visitor-gw", "text": "Hallo via de gateway", "message_id": "gw-1"},
    )
    assert sent.status_code == 202, sent.text
    queue = wait_for(lambda: nora.get("/v1/queue").json()["items"])
    cid = queue[0]["conversation_id"]
    wait_for(lambda: "ConversationAssigned" in live.types(cid))
    live.close()
    last_id = live.events[-1][0]
    seen = {event_id for event_id, _, _ in live.events}

    taken = nora.post(
        f"/v1/conversations/{cid}/take", headers={CSRF_HEADER: nora.cookies[CSRF_COOKIE]}
    )
    assert taken.status_code == 200, taken.text
    resumed = LiveEvents(f"{gateway}/v1/events", {**cookie, "Last-Event-ID": last_id})
    wait_for(lambda: "ConversationTaken" in resumed.types(cid))
    resumed.close()
    assert not seen & {event_id for event_id, _, _ in resumed.events}, "nothing seen twice"

    # Signing out ends the stream's session too.
    out = nora.post("/v1/auth/logout", headers={CSRF_HEADER: nora.cookies[CSRF_COOKIE]})
    assert out.status_code == 204
    assert httpx.get(f"{gateway}/v1/me", headers=cookie).status_code == 401
