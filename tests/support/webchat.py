"""Helpers of the website chat's socket and flood tests: ingest's website chat on a real
uvicorn server on the real broker, a reader of what ingest published, channels connected
by the directory events the conversation service would publish, and the socket's frames."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from websockets.asyncio.client import ClientConnection

from services.ingest.api import webchat as webchat_api
from services.ingest.api import webchat_messages as api
from services.ingest.consumers import webchat
from services.ingest.settings import WebchatSettings, WidgetLimitSettings
from services.ingest.store import channels as store
from shared import events as ev
from shared import topics
from shared.consumer_service import ConsumerService, ConsumerServiceSettings
from shared.local_broker import free_port

SHOP = "http://shop.example:8080"


@dataclass
class Ingest:
    http: str
    ws: str
    service: ConsumerService
    chat: webchat_api.Webchat


@asynccontextmanager
async def running_ingest(  # type: ignore[no-untyped-def]
    bootstrap: str, data_dir, limits: WidgetLimitSettings | None = None, **settings_
) -> AsyncIterator[Ingest]:
    port = free_port()
    settings = ConsumerServiceSettings(
        service_name="ingest",
        kafka_bootstrap_servers=bootstrap,
        data_dir=data_dir,
        http_port=port,
        **settings_,
    )
    service = ConsumerService(settings, store.metadata)
    chat = webchat.install(
        service,
        WebchatSettings(
            group_id=f"ingest-webchat-{uuid.uuid4().hex[:8]}",
            poll_seconds=0.2,
            hello_timeout_seconds=1.0,
        ),
        limits,
    )
    chat.channels.ttl = 0  # see origin changes at once
    app = service.create_app("Interact ingest", [api.router, webchat_api.router])
    app.state.webchat = chat
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(30):
        while not server.started:
            await asyncio.sleep(0.05)
    try:
        yield Ingest(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", service, chat)
    finally:
        server.should_exit = True
        await task


class Kafka:
    """Publishes events as the other services would, and reads what ingest published."""

    def __init__(self, bootstrap: str) -> None:
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        self.consumer = AIOKafkaConsumer(
            topics.INBOUND_MESSAGES,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=20,
        )
        self.seen: list[ev.Envelope] = []

    async def __aenter__(self) -> Kafka:
        await self.producer.start()
        await self.consumer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.producer.stop()
        await self.consumer.stop()

    async def send(self, topic: str, tenant: uuid.UUID, *payloads: ev.Payload) -> None:
        for payload in payloads:
            envelope = ev.Envelope.wrap(payload, tenant_id=tenant)
            await self.producer.send_and_wait(topic, envelope.to_bytes(), key=envelope.key)

    async def published(self, tenant: uuid.UUID, kind: str, count: int) -> list[ev.Envelope]:
        """Wait until ``count`` events of ``kind`` for ``tenant`` were read; then a little
        longer so a wrong extra one would show up."""
        async with asyncio.timeout(30):
            while len(self._mine(tenant, kind)) < count:
                for records in (await self.consumer.getmany(timeout_ms=200)).values():
                    self.seen += [ev.Envelope.model_validate_json(r.value) for r in records]
        for records in (await self.consumer.getmany(timeout_ms=500)).values():
            self.seen += [ev.Envelope.model_validate_json(r.value) for r in records]
        return self._mine(tenant, kind)

    def _mine(self, tenant: uuid.UUID, kind: str) -> list[ev.Envelope]:
        return [e for e in self.seen if e.tenant_id == tenant and e.type == kind]


async def connected_channel(
    ingest: Ingest, kafka: Kafka, origins: list[str]
) -> tuple[uuid.UUID, uuid.UUID, str]:
    tenant, channel = uuid.uuid4(), uuid.uuid4()
    key = f"wc-{uuid.uuid4().hex}"
    await kafka.send(
        topics.DIRECTORY_EVENTS,
        tenant,
        ev.ChannelConnected(
            channel_id=channel,
            channel_type="webchat",
            name="Website",
            public_key=key,
            allowed_origins=origins,
        ),
    )
    await until(lambda: ingest.chat.channels.get(key) is not None)
    return tenant, channel, key


async def until(check, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not await asyncio.to_thread(check):
            await asyncio.sleep(0.05)


def reply(channel: uuid.UUID, visitor: str, text: str) -> ev.OutboundMessageRequested:
    return ev.OutboundMessageRequested(
        conversation_id=uuid.uuid4(),
        message_id=uuid.uuid4(),
        channel_id=channel,
        channel_type="webchat",
        visitor_external_id=visitor,
        author="agent",
        content=ev.MessageContent(text=text),
        requested_at=datetime.now(UTC),
    )


async def frame(ws: ClientConnection) -> dict:
    async with asyncio.timeout(30):
        return orjson.loads(await ws.recv())


async def say(ws: ClientConnection, **fields: object) -> None:
    await ws.send(orjson.dumps(fields).decode())


async def hello(ws: ClientConnection, visitor: str, last_seq: int = 0) -> dict:
    await say(ws, type="hello", visitor_id=visitor, last_seq=last_seq, locale="nl-BE")
    return await frame(ws)
