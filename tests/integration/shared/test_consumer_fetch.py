"""A busy group keeps up with a stream on one partition, however long its polls may wait.

Every tenant's events go to one partition (the key is the tenant). aiokafka's fetcher,
while records of that partition waited in its buffer longer than 0.1 s (a batch still being
applied), fetched the topic's other partitions on their own; that fetch waited at the broker
for up to ``kafka_fetch_max_wait_ms``, and no fetch of the busy partition could go out
meanwhile. The group then stood still for the whole long poll (5 s in production) with its
backlog growing: p50 4.8 s from accepted to opened in ``bench/e2e.py``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from sqlalchemy import Connection, MetaData

from shared.consumer_service import ConsumerService, ConsumerServiceSettings
from shared.events import ConversationQueued, Envelope
from shared.kafka import Delivery, ensure_topics

LONG_POLL_MS = 20_000
STREAM = 20  # records, one every 0.1 s, all on one partition


async def test_a_slow_group_on_one_busy_partition_never_waits_for_a_long_poll(
    kafka_bootstrap, tmp_path
):
    topic, group = f"test.fetch-{uuid.uuid4().hex[:8]}", f"fetch-{uuid.uuid4().hex[:6]}"
    settings = ConsumerServiceSettings(
        service_name="fetch-test",
        kafka_bootstrap_servers=kafka_bootstrap,
        data_dir=tmp_path,
        kafka_partitions=6,
        kafka_fetch_max_wait_ms=LONG_POLL_MS,
        kafka_consumer_linger_ms=0,
    )
    await ensure_topics(settings, [topic])
    applied: dict[uuid.UUID, float] = {}

    def apply(_conn: Connection, deliveries: list[Delivery]) -> None:
        time.sleep(0.3)  # a batch takes longer than the fetcher's 0.1 s prefetch backoff
        now = time.monotonic()
        for delivery in deliveries:
            applied[delivery.envelope.event_id] = now

    service = ConsumerService(settings, MetaData())
    service.consume(topic, group_id=group, apply=apply)
    app = service.create_app("fetch test", [])
    tenant_id = uuid.uuid4()  # one tenant: one partition
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        async with service.lifespan(app):
            sent: list[uuid.UUID] = []
            for _ in range(STREAM):
                envelope = Envelope.wrap(
                    ConversationQueued(conversation_id=uuid.uuid4(), at=datetime.now(UTC)),
                    tenant_id=tenant_id,
                )
                await producer.send_and_wait(topic, envelope.to_bytes(), key=envelope.key)
                sent.append(envelope.event_id)
                await asyncio.sleep(0.1)
            last_sent = time.monotonic()
            # Half the long poll: a group waiting for it (the old behaviour) is still waiting.
            async with asyncio.timeout(LONG_POLL_MS / 2000):
                while len(applied) < STREAM:
                    await asyncio.sleep(0.05)
            assert set(applied) == set(sent)
            assert max(applied.values()) - last_sent < LONG_POLL_MS / 2000
    finally:
        await producer.stop()
