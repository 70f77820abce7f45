"""``/ready`` sees a stuck consumer: a batch in hand that does not finish within
``CONSUMER_STALL_SECONDS`` makes it answer 503 while the database and broker are fine,
and it answers 200 again as soon as the consumer moves on."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, datetime

import httpx
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from sqlalchemy import Connection, MetaData

from shared.consumer_service import ConsumerService, ConsumerServiceSettings
from shared.events import ConversationQueued, Envelope
from shared.kafka import Delivery, ensure_topics


async def test_ready_fails_while_a_consumer_does_not_advance(kafka_bootstrap, tmp_path):
    topic, group = f"test.stall-{uuid.uuid4().hex[:8]}", f"stall-{uuid.uuid4().hex[:6]}"
    settings = ConsumerServiceSettings(
        service_name="stall-test",
        kafka_bootstrap_servers=kafka_bootstrap,
        data_dir=tmp_path,
        kafka_partitions=1,  # only for this test's own topic
        kafka_fetch_max_wait_ms=50,
        consumer_stall_seconds=1.0,
    )
    await ensure_topics(settings, [topic])
    release, entered, applied = threading.Event(), threading.Event(), []

    def apply(_conn: Connection, deliveries: list[Delivery]) -> None:
        entered.set()
        release.wait(30)  # a handler that hangs (a lock, a call that never returns)
        applied.extend(deliveries)

    service = ConsumerService(settings, MetaData())
    service.consume(topic, group_id=group, apply=apply)
    app = service.create_app("stall test", [])
    stalled = {"group": group}
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        async with (
            service.lifespan(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as http,
        ):
            assert (await http.get("/ready")).status_code == 200
            envelope = Envelope.wrap(
                ConversationQueued(conversation_id=uuid.uuid4(), at=datetime.now(UTC)),
                tenant_id=uuid.uuid4(),
            )
            await producer.send_and_wait(topic, envelope.to_bytes(), key=envelope.key)
            await asyncio.to_thread(entered.wait, 30)
            await asyncio.sleep(1.5)  # longer than CONSUMER_STALL_SECONDS
            assert (await http.get("/ready")).status_code == 503
            assert REGISTRY.get_sample_value("interact_consumer_stalled", stalled) == 1
            assert service.broker.stalled_consumers() == [group]

            release.set()
            async with asyncio.timeout(30):
                while (await http.get("/ready")).status_code != 200:
                    await asyncio.sleep(0.1)
            assert [d.envelope.event_id for d in applied] == [envelope.event_id]
            assert REGISTRY.get_sample_value("interact_consumer_stalled", stalled) == 0
    finally:
        release.set()
        await producer.stop()
