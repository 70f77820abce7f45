"""Chatbot URLs that point inside (metadata service, cluster, localhost) are refused where
they are configured and again where they are called (docs/security.md, T5)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.ingest.consumers.bot import BotConnector, BotSettings
from services.ingest.store import channels as store
from shared.events import BotFailed, BotTurnRequested
from shared.outbound import OutboundPolicy
from tests.support.tenants import new_tenant

INSIDE = [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://10.96.0.1:443/api",
    "http://192.168.1.1/bot",
    "http://[fd00::1]/bot",
    "http://[::ffff:169.254.169.254]/",
    "http://100.64.0.7/bot",
]


@pytest.fixture(scope="module")
def bot_tenant(portal):  # type: ignore[no-untyped-def]
    tenant = new_tenant(portal, plan="bot")
    admin = tenant.tokens["administrator"]
    channel = portal.post(
        "/v1/channels", headers=admin, json={"channel_type": "webchat", "name": "Site"}
    )
    assert channel.status_code == 201, channel.text
    return tenant, channel.json()["channel_id"]


@pytest.mark.parametrize("url", INSIDE)
def test_an_internal_bot_url_is_refused_with_a_reason_and_not_stored(portal, bot_tenant, url):
    tenant, channel = bot_tenant
    admin = tenant.tokens["administrator"]
    refused = portal.put(
        f"/v1/chatbots/{channel}", headers=admin, json={"platform": "webhook", "url": url}
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "destination_not_allowed"
    assert "OUTBOUND_ALLOW_NETWORKS" in refused.json()["error"]["message"]
    assert all(b["channel_id"] != channel for b in portal.get("/v1/chatbots", headers=admin).json())


def test_a_loopback_bot_is_allowed_in_development_mode(portal, bot_tenant):
    tenant, channel = bot_tenant
    admin = tenant.tokens["administrator"]
    ok = portal.put(
        f"/v1/chatbots/{channel}",
        headers=admin,
        json={"platform": "webhook", "url": "http://127.0.0.1:5005/bot"},
    )
    assert ok.status_code == 200, ok.text


async def test_the_connector_checks_again_before_calling_and_calls_nothing_inside(httpserver):
    """A bot that was allowed once (or whose name now resolves inside) is not called."""
    httpserver.expect_request("/bot").respond_with_json({"messages": [{"text": "hi"}]})
    connector = BotConnector(None, "key", BotSettings(timeout_s=2, outbound=OutboundPolicy()))
    await connector.open()
    try:
        turn = BotTurnRequested(
            conversation_id=uuid.uuid4(),
            message_id=uuid.uuid4(),
            channel_id=uuid.uuid4(),
            visitor_external_id="v",
            text="hello",
            requested_at=datetime.now(UTC),
        )
        for url in [httpserver.url_for("/bot"), *INSIDE]:
            result = await connector.ask(store.Chatbot("webhook", url, None), turn)
            assert isinstance(result, BotFailed)
            assert result.reason.startswith("the bot's address is not allowed")
        assert httpserver.log == []  # the loopback bot was never reached
    finally:
        await connector.client.aclose()  # type: ignore[union-attr]
