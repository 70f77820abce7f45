"""Dead letters are recoverable, and a newer schema_version waits instead of being discarded.

On the real broker, with a read model of the shared consumer service (SQLite): an event the
code refuses is dead-lettered with where it came from; after the fix, ``python -m
services.deadletters replay`` brings it to the read model exactly once, however often it is
replayed. An event in a newer ``schema_version`` pauses its partition (nothing committed past
it, nothing dead-lettered) while the other partitions flow, until a replica that reads the
newer version takes the partition over.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer, TopicPartition
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import Column, Connection, MetaData, String, Table, func, insert, select

from services import deadletters
from shared import events
from shared.consumer_service import ConsumerService, ConsumerServiceSettings
from shared.events import ConversationQueued, Envelope, UnreadableEvent
from shared.kafka import Delivery, ensure_topics

metadata = MetaData()
seen = Table(
    "seen",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("conversation_id", String(36), nullable=False),
)


def queued(tenant: uuid.UUID, conversation: uuid.UUID | None = None) -> Envelope:
    return Envelope.wrap(
        ConversationQueued(conversation_id=conversation or uuid.uuid4(), at=datetime.now(UTC)),
        tenant_id=tenant,
    )


def recorder(refuse: Callable[[Delivery], bool]) -> Callable[[Connection, list[Delivery]], None]:
    def apply(conn: Connection, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            if refuse(delivery):  # the bug: this code cannot apply it
                raise UnreadableEvent("malformed ConversationQueued: a bug refuses it")
            conn.execute(
                insert(seen).values(
                    event_id=str(delivery.envelope.event_id),
                    conversation_id=delivery.envelope.payload["conversation_id"],
                )
            )

    return apply


def settings_for(kafka_bootstrap: str, tmp_path, name: str) -> ConsumerServiceSettings:  # type: ignore[no-untyped-def]
    return ConsumerServiceSettings(
        service_name=name,
        kafka_bootstrap_servers=kafka_bootstrap,
        data_dir=tmp_path,
        kafka_partitions=2,  # only for this test's own topic (ensure_topics below)
        kafka_fetch_max_wait_ms=50,
    )


def seen_ids(service: ConsumerService) -> list[str]:
    with service.engine.connect() as conn:
        return list(conn.scalars(select(seen.c.event_id)))


async def until(condition: Callable[[], bool], timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.1)


async def dead_letters_of(settings, group: str) -> list[deadletters.DeadLetter]:  # type: ignore[no-untyped-def]
    return [
        d for d in await deadletters.read_dead_letters(settings) if d.matches(group, None, None)
    ]


async def test_a_dead_letter_is_replayed_after_the_fix_and_applied_once(kafka_bootstrap, tmp_path):
    topic, group = f"test.replay-{uuid.uuid4().hex[:8]}", f"replay-{uuid.uuid4().hex[:6]}"
    settings = settings_for(kafka_bootstrap, tmp_path, "replay-test")
    await ensure_topics(settings, [topic])
    tenant = uuid.uuid4()
    good, bad = queued(tenant), queued(tenant)
    fixed = False
    service = ConsumerService(settings, metadata)
    service.consume(
        topic,
        group_id=group,
        apply=recorder(lambda d: not fixed and d.envelope.event_id == bad.event_id),
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        async with service.lifespan(FastAPI()):
            sent = []
            for envelope in (good, bad):
                sent.append(
                    await producer.send_and_wait(
                        topic,
                        envelope.to_bytes(),
                        key=envelope.key,
                        headers=[("event-type", b"ConversationQueued")],
                    )
                )
            await until(lambda: str(good.event_id) in seen_ids(service))
            letters: list[deadletters.DeadLetter] = []
            async with asyncio.timeout(30):
                while not letters:
                    letters = await dead_letters_of(settings, group)
            (letter,) = letters
            origin = sent[1]
            assert letter.headers["topic"] == topic
            assert letter.headers["partition"] == str(origin.partition)
            assert letter.headers["offset"] == str(origin.offset)
            assert letter.headers["group"] == group
            assert letter.headers["service"] == "replay-test"
            assert letter.headers["event-type"] == "ConversationQueued"
            assert letter.headers["reason-code"] == "malformed"
            assert "a bug refuses it" in letter.headers["reason"]
            assert letter.key == bad.key
            assert json.loads(letter.value)["event_id"] == str(bad.event_id)
            assert str(bad.event_id) not in seen_ids(service)

            # The operator looks at it.
            code, listed = await deadletters.run(
                deadletters.parse(["list", "--group", group, "--json"]), settings
            )
            assert code == 0
            assert [json.loads(line)["id"] for line in listed.splitlines()] == [letter.id]
            code, shown = await deadletters.run(deadletters.parse(["show", letter.id]), settings)
            assert code == 0
            assert json.loads(shown)["value"]["event_id"] == str(bad.event_id)

            # The fix is deployed; the dead letter is replayed to where it came from.
            fixed = True
            code, said = await deadletters.run(
                deadletters.parse(["replay", "--all", "--group", group]), settings
            )
            assert (code, said) == (0, f"replayed 1: {letter.id}")
            await until(lambda: str(bad.event_id) in seen_ids(service))

            # Replaying again changes nothing: the consumer recognises the event.
            duplicates = {"service": "replay-test"}
            before = REGISTRY.get_sample_value("interact_duplicate_events_total", duplicates)
            code, _ = await deadletters.run(deadletters.parse(["replay", letter.id]), settings)
            assert code == 0
            await until(
                lambda: (
                    REGISTRY.get_sample_value("interact_duplicate_events_total", duplicates)
                    == (before or 0) + 1
                )
            )
            assert sorted(seen_ids(service)) == sorted([str(good.event_id), str(bad.event_id)])
            assert len(await dead_letters_of(settings, group)) == 1  # nothing new set aside
            code, said = await deadletters.run(deadletters.parse(["show", "99:0"]), settings)
            assert (code, said) == (1, "no dead letter 99:0")
    finally:
        await producer.stop()


def paused(group: str, topic: str, partition: int) -> float | None:
    return REGISTRY.get_sample_value(
        "interact_consumer_partition_paused",
        {"group": group, "topic": topic, "partition": str(partition)},
    )


async def test_a_newer_schema_version_pauses_its_partition_until_a_newer_replica_reads_it(
    kafka_bootstrap, tmp_path, monkeypatch
):
    topic, group = f"test.newer-{uuid.uuid4().hex[:8]}", f"newer-{uuid.uuid4().hex[:6]}"
    settings = settings_for(kafka_bootstrap, tmp_path, "newer-test")
    await ensure_topics(settings, [topic])
    tenant = uuid.uuid4()
    before_newer, after_newer = queued(tenant), queued(tenant)
    others = [queued(tenant), queued(tenant)]
    newer = Envelope(
        type="ConversationQueued",
        schema_version=2,
        tenant_id=tenant,
        payload={"conversation_id": str(uuid.uuid4()), "at": datetime.now(UTC).isoformat()},
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    old = ConsumerService(settings, metadata)
    old.consume(topic, group_id=group, apply=recorder(lambda _d: False))
    try:
        async with old.lifespan(FastAPI()):
            offsets = {}
            for envelope in (before_newer, newer, after_newer):
                sent = await producer.send_and_wait(
                    topic, envelope.to_bytes(), key=envelope.key, partition=0
                )
                offsets[envelope.event_id] = sent.offset
            await producer.send_and_wait(topic, others[0].to_bytes(), partition=1)
            await until(
                lambda: {str(before_newer.event_id), str(others[0].event_id)} <= set(seen_ids(old))
            )
            await until(lambda: paused(group, topic, 0) == 1)
            # The other partition flows on.
            await producer.send_and_wait(topic, others[1].to_bytes(), partition=1)
            await until(lambda: str(others[1].event_id) in seen_ids(old))
            await asyncio.sleep(1.0)  # room for a wrong application to show up
            assert str(after_newer.event_id) not in seen_ids(old)
            assert str(newer.event_id) not in seen_ids(old)
            consumer = old.broker.batch_consumers[0].consumer
            assert consumer is not None
            committed = await consumer.committed(TopicPartition(topic, 0))
            assert committed == offsets[newer.event_id], "nothing committed past it"
            assert paused(group, topic, 1) is None
            assert await dead_letters_of(settings, group) == []
            assert await old.ready(), "a partition waiting for a newer replica is not a stall"
        assert paused(group, topic, 0) is None  # stopped: no longer reported

        # A replica of the next version (it reads v2) takes the partition over.
        monkeypatch.setitem(events.PAYLOADS, ("ConversationQueued", 2), ConversationQueued)
        monkeypatch.setitem(events.LATEST_VERSIONS, "ConversationQueued", 2)
        new = ConsumerService(settings, metadata)
        new.consume(topic, group_id=group, apply=recorder(lambda _d: False))
        async with new.lifespan(FastAPI()):
            await until(
                lambda: {str(newer.event_id), str(after_newer.event_id)} <= set(seen_ids(new))
            )
            assert paused(group, topic, 0) is None
        with new.engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(seen)) == 5
    finally:
        await producer.stop()
