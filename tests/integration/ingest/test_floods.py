"""S5: floods on the public doors are limited as configured, and others still get in
(docs/security.md, T3). The p99 of a normal request during a flood is in bench/floods.py.

- 10,000 widget messages from one visitor over one socket,
- 1,000 sockets opened from one address,
- plain-HTTP widget messages per visitor, per address and per key,
- 200 "forgot password" requests from one address (test_rate_limits: login).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from services.ingest.settings import WidgetLimitSettings
from shared import events as ev
from tests.support.webchat import (
    SHOP,
    Kafka,
    connected_channel,
    hello,
    running_ingest,
    say,
)

LIMITS = WidgetLimitSettings(
    messages_per_visitor_per_minute=25,
    messages_per_address_per_minute=60,
    messages_per_key_per_minute=100,
    sockets_per_address_per_minute=40,
    sockets_per_key_per_minute=1000,
)

#: The test is the trusted proxy (FORWARDED_ALLOW_IPS=127.0.0.1) in front of two clients.
FROM_FLOODER = {"X-Forwarded-For": "198.51.100.66"}
FROM_CUSTOMER = {"X-Forwarded-For": "192.0.2.10"}


@contextmanager
def windows() -> Iterator[list[int]]:
    """How many fixed one-minute windows the block touched: a fixed window lets up to the
    limit in per window, so "as configured" is limit <= let in <= limit x windows."""
    touched: list[int] = []
    start = time.time()
    yield touched
    touched.append(int(time.time() // 60) - int(start // 60) + 1)


def as_configured(let_in: int, limit: int, touched: list[int]) -> bool:
    return min(limit, let_in) == limit and let_in <= limit * touched[0]


async def test_ten_thousand_messages_from_one_visitor_get_only_the_limit_in(
    kafka_bootstrap, tmp_path
):
    async with (
        running_ingest(
            kafka_bootstrap, tmp_path, LIMITS, forwarded_allow_ips="127.0.0.1"
        ) as ingest,
        Kafka(kafka_bootstrap) as kafka,
    ):
        tenant, _channel, key = await connected_channel(ingest, kafka, [SHOP])
        url = f"{ingest.ws}/v1/webchat/{key}/ws"
        flood = 10_000
        with windows() as touched:
            async with connect(
                url, origin=SHOP, max_queue=None, additional_headers=FROM_FLOODER
            ) as ws:
                await hello(ws, "flooder-visitor")
                for n in range(1, flood + 1):
                    await say(
                        ws, type="message", seq=n, client_id=f"flood-{n:06d}", text=f"spam {n}"
                    )
                answers = [orjson.loads(await ws.recv()) for _ in range(flood)]
        acked = [a for a in answers if a["type"] == "ack"]
        limited = [a for a in answers if a.get("code") == "rate_limited"]
        assert as_configured(len(acked), LIMITS.messages_per_visitor_per_minute, touched)
        assert len(limited) == flood - len(acked)
        assert all(1 <= a["retry_after"] <= 60 for a in limited)
        published = await kafka.published(tenant, ev.InboundMessageReceived.__name__, len(acked))
        assert len(published) == len(acked)  # every ack on Kafka, nothing more

        # Another tenant's visitor is served at once during and after the flood.
        _other, _c, other_key = await connected_channel(ingest, kafka, [SHOP])
        other = f"{ingest.ws}/v1/webchat/{other_key}/ws"
        async with connect(other, origin=SHOP, additional_headers=FROM_CUSTOMER) as ws:
            await hello(ws, "customer-visitor")
            await say(ws, type="message", seq=1, client_id="customer-1", text="Hallo")
            assert orjson.loads(await ws.recv())["type"] == "ack"


async def test_a_thousand_sockets_from_one_address_get_429_with_retry_after(
    kafka_bootstrap, tmp_path
):
    async with (
        running_ingest(
            kafka_bootstrap, tmp_path, LIMITS, forwarded_allow_ips="127.0.0.1"
        ) as ingest,
        Kafka(kafka_bootstrap) as kafka,
    ):
        _tenant, _channel, key = await connected_channel(ingest, kafka, [SHOP])
        url = f"{ingest.ws}/v1/webchat/{key}/ws"
        opened, refused = [], []
        with windows() as touched:
            for _ in range(1000):
                try:
                    ws = await connect(url, origin=SHOP, additional_headers=FROM_FLOODER)
                except InvalidStatus as exc:
                    refused.append(exc.response)
                    continue
                opened.append(ws)
        try:
            assert as_configured(len(opened), LIMITS.sockets_per_address_per_minute, touched)
            assert len(refused) == 1000 - len(opened)
            assert {r.status_code for r in refused} == {429}
            assert all(1 <= int(r.headers["Retry-After"]) <= 60 for r in refused)
            body = orjson.loads(refused[0].body)
            assert body["error"]["code"] == "rate_limited"
            # Another address is let in at once, on the same website.
            async with connect(url, origin=SHOP, additional_headers=FROM_CUSTOMER) as ws:
                assert (await hello(ws, "customer-visitor"))["type"] == "welcome"
        finally:
            await asyncio.gather(*(ws.close() for ws in opened))


async def test_http_messages_are_limited_per_visitor_per_address_and_per_key(
    kafka_bootstrap, tmp_path
):
    async with (
        running_ingest(
            kafka_bootstrap, tmp_path, LIMITS, forwarded_allow_ips="127.0.0.1"
        ) as ingest,
        Kafka(kafka_bootstrap) as kafka,
        httpx.AsyncClient(base_url=ingest.http, timeout=30) as client,
    ):
        _tenant, _channel, key = await connected_channel(ingest, kafka, [SHOP])

        async def post(visitor: str, address: str) -> httpx.Response:
            return await client.post(
                f"/v1/webchat/{key}/messages",
                json={"visitor_id": visitor, "text": "hi", "message_id": uuid.uuid4().hex},
                headers={"X-Forwarded-For": address},  # the test is the trusted proxy
            )

        # Whole test inside one window, so each limit shows exactly (a few seconds at most).
        await asyncio.sleep(max(0.0, 60 - time.time() % 60 + 0.5) if time.time() % 60 > 45 else 0)
        with windows() as touched:
            # One visitor from one address: the per-visitor limit.
            answers = [await post("v-one", "198.51.100.1") for _ in range(40)]
            # Fresh visitor ids from one address: the per-address limit.
            per_address = [(await post(f"v-{n}", "198.51.100.2")).status_code for n in range(80)]
            # Fresh visitors from fresh addresses: the key's ceiling (25 + 60 counted so far).
            per_key = [(await post(f"w-{n}", f"203.0.113.{n}")).status_code for n in range(1, 40)]
        assert touched == [1]
        codes = [a.status_code for a in answers]
        assert codes.count(202) == LIMITS.messages_per_visitor_per_minute
        refused = [a for a in answers if a.status_code == 429]
        assert all(int(a.headers["Retry-After"]) >= 1 for a in refused)
        assert refused[0].json()["error"]["code"] == "rate_limited"
        assert per_address.count(202) == LIMITS.messages_per_address_per_minute
        assert per_key.count(202) == LIMITS.messages_per_key_per_minute - 25 - 60
