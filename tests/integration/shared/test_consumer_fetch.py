"""How the consumer loop fetches and commits: a busy group keeps up with a stream on one
partition however long its polls may wait, and its commits are spaced but never lost.

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


async def _committed(bootstrap: str, group: str, topic: str) -> int:
    """The group's committed offsets on ``topic``, summed over its partitions."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await reader.start()
    try:
        partitions = reader.partitions_for_topic(topic) or set()
        if not partitions:
            await reader._client.force_metadata_update()
            partitions = reader.partitions_for_topic(topic) or set()
        offsets = [await reader.committed(TopicPartition(topic, p)) for p in partitions]
        return sum(o or 0 for o in offsets)
    finally:
        await reader.stop()


async def test_applied_positions_are_committed_within_the_interval_and_at_stop(
    kafka_bootstrap, tmp_path
):
    """Commits are spaced by ``kafka_commit_interval_ms`` (each is a write to the broker's
    offsets topic), never left for longer, and a stop commits what was applied."""
    topic = f"test.commit-{uuid.uuid4().hex[:8]}"

    def settings(run: str, interval_ms: int) -> ConsumerServiceSettings:
        # A database of its own per run: no applied-events ledger hides a redelivery.
        return ConsumerServiceSettings(
            service_name="commit-test",
            kafka_bootstrap_servers=kafka_bootstrap,
            data_dir=tmp_path / run,
            kafka_partitions=1,
            kafka_commit_interval_ms=interval_ms,
        )

    await ensure_topics(settings("topics", 0), [topic])
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()

    async def send(count: int) -> None:
        for _ in range(count):
            envelope = Envelope.wrap(
                ConversationQueued(conversation_id=uuid.uuid4(), at=datetime.now(UTC)),
                tenant_id=uuid.uuid4(),
            )
            await producer.send_and_wait(topic, envelope.to_bytes(), key=envelope.key)

    async def run(group: str, interval_ms: int, count: int, then) -> list[Delivery]:  # type: ignore[no-untyped-def]
        applied: list[Delivery] = []
        service = ConsumerService(settings(uuid.uuid4().hex, interval_ms), MetaData())
        service.consume(
            topic, group_id=group, apply=lambda _c, deliveries: applied.extend(deliveries)
        )
        async with service.lifespan(service.create_app("commit test", [])):
            async with asyncio.timeout(30):
                while len(applied) < count:
                    await asyncio.sleep(0.02)
            await then()
        return applied

    try:
        await send(3)
        group = f"commit-{uuid.uuid4().hex[:6]}"

        async def committed_within_the_interval() -> None:
            async with asyncio.timeout(10):
                while await _committed(kafka_bootstrap, group, topic) < 3:
                    await asyncio.sleep(0.2)

        assert len(await run(group, 800, 3, committed_within_the_interval)) == 3

        await send(2)
        other = f"commit-{uuid.uuid4().hex[:6]}"

        async def nothing() -> None:
            return None

        # A minute's interval: only the stop can have committed.
        assert len(await run(other, 60_000, 5, nothing)) == 5
        assert await _committed(kafka_bootstrap, other, topic) == 5
        # The same group goes on where the stop committed: nothing comes twice.
        await send(1)
        assert len(await run(other, 60_000, 1, nothing)) == 1
        assert await _committed(kafka_bootstrap, other, topic) == 6
    finally:
        await producer.stop()
