"""The Meta webhook never answers 200 for something Kafka has not taken (own broker, frozen)."""

from __future__ import annotations

import uuid

import httpx

from shared import topics
from shared.local_broker import LocalBroker
from tests.support.meta import (
    MetaApp,
    messenger_body,
    payloads,
    produce,
    read_inbound,
    running_ingest,
    wait_until_connected,
)


async def test_no_200_while_the_broker_cannot_take_the_messages(tmp_path):
    """Kafka hangs: Meta gets 503 (and retries); once Kafka is back the same post is taken."""
    broker = LocalBroker().start()
    try:
        meta = MetaApp()
        page = f"page-{uuid.uuid4().hex[:8]}"
        _, connected = meta.connected("messenger", page)
        raw, headers = meta.signed(messenger_body(page, ("m_retry", "anyone there?")))
        async with running_ingest(
            broker.bootstrap_servers, tmp_path, webhook_publish_timeout_s=2.0
        ) as ingest:
            await produce(broker.bootstrap_servers, topics.DIRECTORY_EVENTS, [connected])
            await wait_until_connected(ingest, meta.verify_token)
            async with httpx.AsyncClient(base_url=ingest, timeout=30) as client:
                broker.pause()
                try:
                    during = await client.post("/v1/meta/webhook", content=raw, headers=headers)
                finally:
                    broker.resume()
                after = await client.post("/v1/meta/webhook", content=raw, headers=headers)
            events = await read_inbound(
                broker.bootstrap_servers,
                meta.tenant_id,
                lambda found: any(
                    getattr(p, "channel_message_id", None) == "m_retry" for p in payloads(found)
                ),
            )
    finally:
        broker.close()
    assert during.status_code == 503
    assert during.json()["error"]["code"] == "broker_unavailable"
    assert after.status_code == 200
    # The first attempt may have reached the broker after all: same event id, so one message.
    assert len({e.event_id for e in events}) == 1
