"""The visitor socket on a real ingest server (uvicorn), the real broker and SQLite:
acks after Kafka, replies numbered and resumed, and every refusal with its close code."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from services.ingest.store import webchat as webchat_store
from shared import events as ev
from shared import topics
from tests.support.webchat import (
    SHOP,
    Kafka,
    connected_channel,
    frame,
    hello,
    reply,
    running_ingest,
    say,
    until,
)


async def test_messages_both_ways_are_acked_numbered_and_resumed(kafka_bootstrap, tmp_path):
    async with running_ingest(kafka_bootstrap, tmp_path) as ingest, Kafka(kafka_bootstrap) as kafka:
        tenant, channel, key = await connected_channel(ingest, kafka, [SHOP])
        url = f"{ingest.ws}/v1/webchat/{key}/ws"
        visitor = f"visitor-{uuid.uuid4().hex}"

        # Visitor -> us: acked once Kafka has it, in order; a resend is acked again.
        async with connect(url, origin=SHOP) as ws:
            assert await hello(ws, visitor) == {
                "type": "welcome",
                "visitor_id": visitor,
                "last_seq": 0,
            }
            await say(ws, type="message", seq=1, client_id="client-msg-1", text="Hallo")
            await say(ws, type="message", seq=2, client_id="client-msg-2", text="Bestelling 42")
            await say(ws, type="message", seq=1, client_id="client-msg-1", text="Hallo")
            await say(ws, type="ping")
            assert [await frame(ws) for _ in range(4)] == [
                {"type": "ack", "seq": 1, "client_id": "client-msg-1"},
                {"type": "ack", "seq": 2, "client_id": "client-msg-2"},
                {"type": "ack", "seq": 1, "client_id": "client-msg-1"},
                {"type": "pong"},
            ]
        # After a reconnect the widget resends what it has no ack for: same channel message id.
        async with connect(url, origin=SHOP) as ws:
            await hello(ws, visitor)
            await say(ws, type="message", seq=2, client_id="client-msg-2", text="Bestelling 42")
            assert await frame(ws) == {"type": "ack", "seq": 2, "client_id": "client-msg-2"}
        inbound = await kafka.published(tenant, "InboundMessageReceived", 3)
        got = [ev.InboundMessageReceived.model_validate(e.payload) for e in inbound]
        assert [(m.channel_message_id, m.content.text) for m in got] == [
            ("client-msg-1", "Hallo"),
            ("client-msg-2", "Bestelling 42"),
            ("client-msg-2", "Bestelling 42"),  # recorded once downstream (same id)
        ]
        assert {(m.channel_id, m.visitor_external_id, m.locale) for m in got} == {
            (channel, visitor, "nl-BE")
        }

        # Us -> visitor: pushed live with seq 1, 2; a redelivered request is stored once.
        first, second = (
            reply(channel, visitor, "Goedemiddag!"),
            reply(channel, visitor, "Even kijken"),
        )
        async with connect(url, origin=SHOP) as ws:
            await hello(ws, visitor)
            await kafka.send(topics.OUTBOUND_MESSAGES, tenant, first, first, second)
            pushed = [await frame(ws) for _ in range(2)]
        assert [(m["seq"], m["text"], m["author"]) for m in pushed] == [
            (1, "Goedemiddag!", "agent"),
            (2, "Even kijken", "agent"),
        ]
        assert pushed[0]["message_id"] == str(first.message_id)

        # While the visitor is away a third arrives; resuming from seq 2 gives only that one.
        await kafka.send(topics.OUTBOUND_MESSAGES, tenant, reply(channel, visitor, "Gevonden"))
        await until(
            lambda: (
                webchat_store.last_seq(ingest.chat.engine, ingest.chat.channels.get(key), visitor)
                == 3
            )
        )  # type: ignore[arg-type]
        async with connect(url, origin=SHOP) as ws:
            welcome = await hello(ws, visitor, last_seq=2)
            resumed = await frame(ws)
            await say(ws, type="seen", seq=3)
            await say(ws, type="ping")
            assert await frame(ws) == {"type": "pong"}  # nothing else was pushed
        assert welcome["last_seq"] == 3
        assert (resumed["seq"], resumed["text"]) == (3, "Gevonden")

        # A new device (no seq seen) gets the whole mailbox again, in order.
        async with connect(url, origin=SHOP) as ws:
            await hello(ws, visitor)
            assert [(await frame(ws))["seq"] for _ in range(3)] == [1, 2, 3]

        # Delivered once each (the redelivery republishes the same event id), read once each.
        delivered = await kafka.published(tenant, "DeliveryStatusReported", 6)
        statuses = [ev.DeliveryStatusReported.model_validate(e.payload) for e in delivered]
        by_status: dict[str, set[uuid.UUID]] = {}
        for s in statuses:
            by_status.setdefault(s.status, set()).add(s.message_id)
        assert len(by_status["delivered"]) == 3 and len(by_status["read"]) == 3
        assert len({e.event_id for e in delivered}) == 6


async def closed_with(ws: ClientConnection) -> tuple[str | None, int | None]:
    """The error code of the last frame before the close, and the close code."""
    code = None
    try:
        async with asyncio.timeout(30):
            while True:
                code = orjson.loads(await ws.recv()).get("code", code)
    except ConnectionClosed as closed:
        return code, closed.rcvd.code if closed.rcvd else None


async def test_bad_input_and_foreign_origins_are_refused_with_clear_codes(
    kafka_bootstrap, tmp_path
):
    async with running_ingest(kafka_bootstrap, tmp_path) as ingest, Kafka(kafka_bootstrap) as kafka:
        tenant, channel, key = await connected_channel(ingest, kafka, [SHOP])
        _, _, closed_key = await connected_channel(ingest, kafka, [])
        url = f"{ingest.ws}/v1/webchat/{key}/ws"
        visitor = f"visitor-{uuid.uuid4().hex}"

        async def attempt(
            target: str = url, origin: str | None = SHOP, *frames: str | bytes
        ) -> tuple[str | None, int | None]:
            async with connect(target, origin=origin) as ws:  # type: ignore[arg-type]
                for raw in frames:
                    await ws.send(raw)
                return await closed_with(ws)

        hi = orjson.dumps({"type": "hello", "visitor_id": visitor}).decode()
        assert await attempt(f"{ingest.ws}/v1/webchat/no-such-key/ws") == ("unknown_channel", 4404)
        assert await attempt(f"{ingest.ws}/v1/webchat/{'k' * 300}/ws") == ("unknown_channel", 4404)
        assert await attempt(url, "https://evil.example") == ("origin_not_allowed", 4403)
        assert await attempt(url, None) == ("origin_not_allowed", 4403)
        # An empty list lets in nobody but ingest's own pages.
        empty = f"{ingest.ws}/v1/webchat/{closed_key}/ws"
        assert await attempt(empty, SHOP) == ("origin_not_allowed", 4403)
        async with connect(empty, origin=ingest.http) as ws:  # e.g. the /sdk/demo page
            assert (await hello(ws, visitor))["type"] == "welcome"
        assert await attempt(url, SHOP, "{not json") == ("bad_json", 4400)
        assert await attempt(url, SHOP, b"\x00\x01") == ("text_frames_only", 4400)
        assert await attempt(url, SHOP, '{"type":"ping"}') == ("hello_required", 4400)
        assert await attempt(url, SHOP) == ("hello_required", 4400)  # silent: timed out
        assert await attempt(url, SHOP, hi, "x" * 20_000) == ("frame_too_big", 1009)
        assert await attempt(url, SHOP, hi, hi) == ("hello_once", 4400)
        empty_text = '{"type":"message","seq":1,"client_id":"client-msg-1","text":""}'
        assert await attempt(url, SHOP, hi, empty_text) == ("bad_frame", 4400)

        # The JSON endpoint applies the same origins when a browser sends one.
        async with httpx.AsyncClient(base_url=ingest.http) as http:
            body = {"visitor_id": visitor, "text": "hoi", "message_id": "json-msg-1"}
            path = f"/v1/webchat/{key}/messages"
            foreign = await http.post(path, json=body, headers={"Origin": "https://evil.example"})
            assert foreign.status_code == 403
            assert foreign.json()["error"]["code"] == "origin_not_allowed"
            assert (await http.post(path, json=body, headers={"Origin": SHOP})).status_code == 202
            assert (await http.post(path, json=body)).status_code == 202  # a server: no Origin
            unknown = await http.post("/v1/webchat/nope/messages", json=body)
            assert unknown.json()["error"]["code"] == "unknown_channel"
            script = await http.get("/sdk/widget.js")
            assert script.status_code == 200
            assert script.headers["content-type"].startswith("text/javascript")
            assert "data-channel" in script.text
            assert (await http.get(f"/sdk/demo/{key}")).status_code == 200
            assert (await http.get("/sdk/demo/nope")).status_code == 404

        # The administrator replaces the list; then disconnects the chat.
        await kafka.send(
            topics.DIRECTORY_EVENTS,
            tenant,
            ev.ChannelOriginsSet(channel_id=channel, allowed_origins=["https://new.example"]),
        )
        await until(
            lambda: ingest.chat.channels.get(key).allowed_origins == ("https://new.example",)
        )  # type: ignore[union-attr]
        assert await attempt(url, SHOP) == ("origin_not_allowed", 4403)
        async with connect(url, origin="https://new.example") as ws:
            assert (await hello(ws, visitor))["type"] == "welcome"
            await kafka.send(
                topics.DIRECTORY_EVENTS, tenant, ev.ChannelDisconnected(channel_id=channel)
            )
            await until(lambda: ingest.chat.channels.get(key) is None)
            await say(ws, type="message", seq=1, client_id="client-msg-9", text="Nog iemand?")
            assert await closed_with(ws) == ("unknown_channel", 4404)
        assert await attempt(url, "https://new.example") == ("unknown_channel", 4404)
