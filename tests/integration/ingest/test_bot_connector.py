"""The chatbot connector against a local server playing a generic webhook bot and a Rasa bot."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from werkzeug import Request, Response

from shared import topics
from shared.events import (
    BotFailed,
    BotReplied,
    BotTurnRequested,
    ChatbotDisconnected,
    Envelope,
    Payload,
)
from tests.support.meta import (
    MetaApp,
    chatbot_connected,
    payloads,
    produce,
    read_inbound,
    running_ingest,
    wait_until_connected,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
BOT_TIMEOUT_S = 1.0


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def ingest(kafka_bootstrap, tmp_path_factory):  # type: ignore[no-untyped-def]
    async with running_ingest(
        kafka_bootstrap, tmp_path_factory.mktemp("ingest"), bot_timeout_s=BOT_TIMEOUT_S
    ) as url:
        yield url


def turn(tenant_id: uuid.UUID, channel_id: uuid.UUID, text: str) -> Envelope:
    request = BotTurnRequested(
        conversation_id=uuid.uuid4(),
        message_id=uuid.uuid4(),
        channel_id=channel_id,
        visitor_external_id="PSID-5",
        text=text,
        requested_at=datetime.now(UTC),
    )
    return Envelope.wrap(request, tenant_id=tenant_id)


async def directory(
    kafka_bootstrap: str, ingest: str, meta: MetaApp, events: list[Envelope]
) -> None:
    """Publish directory events and wait until ingest has applied them (a marker channel of
    the same tenant, on the same partition after them, answers verification)."""
    marker = f"marker-{uuid.uuid4().hex}"
    _, marker_event = meta.connected("messenger", f"marker-{uuid.uuid4().hex}", marker)
    await produce(kafka_bootstrap, topics.DIRECTORY_EVENTS, [*events, marker_event])
    await wait_until_connected(ingest, marker)


def outcomes(found: list[Envelope]) -> dict[uuid.UUID, Payload]:
    return {
        p.reply_to_message_id: p  # type: ignore[union-attr]
        for p in payloads(found)
        if isinstance(p, BotReplied | BotFailed)
    }


def message_id(envelope: Envelope) -> uuid.UUID:
    return envelope.parsed().message_id  # type: ignore[attr-defined]


async def test_bots_answer_hand_over_and_fail_cleanly(kafka_bootstrap, ingest, httpserver):
    meta, other = MetaApp(), MetaApp()
    webhook_bot, rasa_bot, broken_bot, babbling_bot, botless, gone = (
        uuid.uuid4() for _ in range(6)
    )
    url = httpserver.url_for
    await directory(
        kafka_bootstrap,
        ingest,
        meta,
        [
            chatbot_connected(meta.tenant_id, webhook_bot, "webhook", url("/bot"), "bot-token"),
            chatbot_connected(
                meta.tenant_id, rasa_bot, "rasa", url("/rasa/webhooks/rest/webhook"), None
            ),
            chatbot_connected(meta.tenant_id, broken_bot, "webhook", url("/broken"), None),
            chatbot_connected(meta.tenant_id, babbling_bot, "webhook", url("/babble"), None),
            chatbot_connected(meta.tenant_id, gone, "webhook", url("/gone"), None),
            Envelope.wrap(ChatbotDisconnected(channel_id=gone), tenant_id=meta.tenant_id),
        ],
    )
    httpserver.expect_request("/bot", method="POST").respond_with_json(
        {"messages": [{"text": "Hi!"}, {"text": "How can I help?"}], "handover": False}
    )
    httpserver.expect_request("/rasa/webhooks/rest/webhook", method="POST").respond_with_json(
        [
            {"recipient_id": "PSID-5", "text": "A colleague will help you."},
            {"recipient_id": "PSID-5", "custom": {"handover": True}},
        ]
    )
    httpserver.expect_request("/broken").respond_with_data("oops internal-db-host:5432", status=500)
    httpserver.expect_request("/babble").respond_with_data("<html>not json</html>")
    turns = [
        turn(meta.tenant_id, webhook_bot, "Hello"),
        turn(meta.tenant_id, rasa_bot, "I want a human"),
        turn(meta.tenant_id, broken_bot, "Hello?"),
        turn(meta.tenant_id, babbling_bot, "Hello?"),
        turn(meta.tenant_id, botless, "Hello?"),
        turn(meta.tenant_id, gone, "Hello?"),
    ]
    # Another tenant cannot borrow this tenant's bot.
    borrowed = turn(other.tenant_id, webhook_bot, "free answers?")
    await produce(kafka_bootstrap, topics.OUTBOUND_MESSAGES, [*turns, borrowed])
    found = outcomes(
        await read_inbound(kafka_bootstrap, meta.tenant_id, lambda f: len(outcomes(f)) >= 6)
    )
    other_found = outcomes(
        await read_inbound(kafka_bootstrap, other.tenant_id, lambda f: len(outcomes(f)) >= 1)
    )
    replied = found[message_id(turns[0])]
    assert isinstance(replied, BotReplied)
    assert (replied.texts, replied.handover) == (["Hi!", "How can I help?"], False)
    handed = found[message_id(turns[1])]
    assert isinstance(handed, BotReplied)
    assert (handed.texts, handed.handover) == (["A colleague will help you."], True)
    reasons = [found[message_id(t)].reason for t in turns[2:]]  # type: ignore[attr-defined]
    assert reasons[0] == "the bot answered with an error"  # no status, no body echoed
    assert reasons[1].startswith("the bot's answer is unreadable")
    assert reasons[2:] == ["no chatbot is connected to this channel"] * 2
    assert other_found[message_id(borrowed)].reason == "no chatbot is connected to this channel"  # type: ignore[attr-defined]

    asked = {r.path: r for r, _ in httpserver.log}
    assert asked["/bot"].get_json() == {
        "conversation_id": str(turns[0].parsed().conversation_id),  # type: ignore[attr-defined]
        "visitor_id": "PSID-5",
        "message_id": str(message_id(turns[0])),
        "text": "Hello",
    }
    assert asked["/bot"].headers["Authorization"] == "Bearer bot-token"
    assert asked["/rasa/webhooks/rest/webhook"].get_json() == {
        "sender": "PSID-5",
        "message": "I want a human",
    }
    assert "Authorization" not in asked["/rasa/webhooks/rest/webhook"].headers
    assert len(httpserver.log) == 4  # nobody asked the gone bot, nor for the other tenant


async def test_a_bot_that_does_not_answer_in_time_fails_the_turn(
    kafka_bootstrap, ingest, httpserver
):
    meta = MetaApp()
    slow_bot = uuid.uuid4()
    await directory(
        kafka_bootstrap,
        ingest,
        meta,
        [chatbot_connected(meta.tenant_id, slow_bot, "webhook", httpserver.url_for("/slow"), None)],
    )

    def slow(_request: Request) -> Response:
        time.sleep(BOT_TIMEOUT_S + 1)
        return Response('{"messages": []}', content_type="application/json")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    request = turn(meta.tenant_id, slow_bot, "Hello?")
    await produce(kafka_bootstrap, topics.OUTBOUND_MESSAGES, [request])
    found = outcomes(
        await read_inbound(kafka_bootstrap, meta.tenant_id, lambda f: len(outcomes(f)) >= 1)
    )
    failed = found[message_id(request)]
    assert isinstance(failed, BotFailed)
    assert failed.reason == f"the bot did not answer within {BOT_TIMEOUT_S:g} s"
