"""Helpers of the Meta, outbound and bot connector tests.

Ingest runs as its real app under uvicorn on a loopback port (real HTTP), on the real
broker; channels are connected by publishing the directory events the conversation
service would publish, with credentials sealed the same way.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastapi import FastAPI

from services.ingest.__main__ import IngestSettings, build
from services.ingest.domain.meta_signature import sign
from shared import topics
from shared.events import ChannelConnected, ChatbotConnected, Envelope, Payload
from shared.local_broker import free_port
from shared.secrets import seal

SECRETS_KEY = "test-channel-secrets-key"


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """The app under uvicorn in this event loop (lifespan included); yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(60):
            while not server.started:
                if task.done():
                    task.result()  # startup failed: raise its error
                await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def running_ingest(bootstrap: str, data_dir: Path, **settings: Any) -> AsyncIterator[str]:
    options: dict[str, Any] = {
        "kafka_bootstrap_servers": bootstrap,
        "data_dir": data_dir,
        "channel_secrets_key": SECRETS_KEY,
        "meta_retry_backoff_s": 0.05,
        **settings,
    }
    async with serving(build(IngestSettings(**options))) as url:
        yield url


class MetaApp:
    """A tenant's Meta app: its secret signs webhooks, its channels are connected in ingest."""

    def __init__(self) -> None:
        self.tenant_id = uuid.uuid4()
        self.app_secret = f"secret-{uuid.uuid4().hex}"
        self.verify_token = f"verify-{uuid.uuid4().hex}"
        self.access_token = f"EAAG-{uuid.uuid4().hex}"

    def connected(
        self, channel_type: str, external_id: str, verify_token: str | None = None
    ) -> tuple[uuid.UUID, Envelope]:
        channel_id = uuid.uuid4()
        sealed = seal(
            {
                "app_secret": self.app_secret,
                "access_token": self.access_token,
                "verify_token": verify_token or self.verify_token,
            },
            SECRETS_KEY,
        )
        event = ChannelConnected(
            channel_id=channel_id,
            channel_type=channel_type,  # type: ignore[arg-type]
            name=f"{channel_type} {external_id}",
            public_key=uuid.uuid4().hex,
            external_id=external_id,
            sealed_credentials=sealed,
        )
        return channel_id, Envelope.wrap(event, tenant_id=self.tenant_id)

    def signed(self, body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        raw = orjson.dumps(body)
        return raw, {
            "X-Hub-Signature-256": sign(raw, self.app_secret),
            "Content-Type": "application/json",
        }


def chatbot_connected(
    tenant_id: uuid.UUID, channel_id: uuid.UUID, platform: str, url: str, token: str | None
) -> Envelope:
    sealed = seal({"token": token}, SECRETS_KEY) if token else None
    event = ChatbotConnected(
        channel_id=channel_id,
        platform=platform,  # type: ignore[arg-type]
        url=url,
        sealed_token=sealed,
    )
    return Envelope.wrap(event, tenant_id=tenant_id)


async def produce(bootstrap: str, topic: str, envelopes: list[Envelope]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for e in envelopes:
            await producer.send_and_wait(topic, e.to_bytes(), key=e.key)
    finally:
        await producer.stop()


async def wait_until_connected(ingest: str, verify_token: str) -> None:
    """Ingest has applied the channel (its verification answers) once this returns."""
    params = {"hub.mode": "subscribe", "hub.verify_token": verify_token, "hub.challenge": "ok"}
    async with httpx.AsyncClient(base_url=ingest) as client, asyncio.timeout(30):
        while (await client.get("/v1/meta/webhook", params=params)).status_code != 200:
            await asyncio.sleep(0.1)


async def connect_all(
    bootstrap: str, ingest: str, meta: MetaApp, *channels: tuple[str, str]
) -> list[uuid.UUID]:
    """Connect the channels and return once ingest has applied every one of them: a last
    marker channel (same tenant, so same partition, after them) answers verification."""
    ids, events = [], []
    for channel_type, external_id in channels:
        channel_id, event = meta.connected(channel_type, external_id)
        ids.append(channel_id)
        events.append(event)
    marker = f"marker-{uuid.uuid4().hex}"
    events.append(meta.connected("messenger", f"marker-page-{uuid.uuid4().hex}", marker)[1])
    await produce(bootstrap, topics.DIRECTORY_EVENTS, events)
    await wait_until_connected(ingest, marker)
    return ids


async def read_inbound(
    bootstrap: str,
    tenant_id: uuid.UUID,
    until: Callable[[list[Envelope]], bool],
    timeout: float = 60.0,
) -> list[Envelope]:
    """This tenant's events on the inbound topic, from the start, in order, until ``until``."""
    consumer = AIOKafkaConsumer(
        topics.INBOUND_MESSAGES,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    found: list[Envelope] = []
    try:
        async with asyncio.timeout(timeout):
            while not until(found):
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for r in records:
                        envelope = Envelope.model_validate_json(r.value)
                        if envelope.tenant_id == tenant_id:
                            found.append(envelope)
    finally:
        await consumer.stop()
    return found


def payloads(envelopes: list[Envelope]) -> list[Payload]:
    return [e.parsed() for e in envelopes]


def messenger_body(page: str, *texts: tuple[str, str]) -> dict:
    return {
        "object": "page",
        "entry": [
            {
                "id": page,
                "time": 1_700_000_000_000,
                "messaging": [
                    {
                        "sender": {"id": "PSID-42"},
                        "recipient": {"id": page},
                        "timestamp": 1_700_000_000_000,
                        "message": {"mid": mid, "text": text},
                    }
                    for mid, text in texts
                ],
            }
        ],
    }
