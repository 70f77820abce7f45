"""A read model on the real broker counts each event once and dead-letters what it cannot read."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import OffsetAndMetadata
from fastapi import FastAPI
from sqlalchemy import func, select

from services.stats import consumers
from services.stats.store import conversation_facts, metadata
from shared import topics
from shared.consumer_service import ConsumerService, ConsumerServiceSettings
from shared.events import ConversationOpened, Envelope, MessageContent, MessageReceived
from shared.kafka import ensure_topics
from tests.support.databases import BOTH, database_for


async def _group_starts_at_the_end(bootstrap: str, group: str, topic: str) -> None:
    """Commit the group's offsets at the topic's end: it reads only what this test sends,
    not everything earlier tests on the session's broker left there (the whole e2e suite)."""
    positioner = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await positioner.start()
    try:
        async with asyncio.timeout(30):
            while not positioner.assignment():
                await positioner.getmany(timeout_ms=100)
        partitions = list(positioner.assignment())
        await positioner.seek_to_end(*partitions)
        ends = {tp: OffsetAndMetadata(await positioner.position(tp), "") for tp in partitions}
        await positioner.commit(ends)
    finally:
        await positioner.stop()


@pytest.fixture(params=BOTH)
def database_url(request, tmp_path):  # type: ignore[no-untyped-def]
    return database_for(request, "stats")


async def test_duplicates_are_applied_once_and_garbage_is_dead_lettered(
    kafka_bootstrap, database_url, tmp_path
):
    group = f"stats-test-{uuid.uuid4().hex[:6]}"
    settings = ConsumerServiceSettings(
        service_name="stats-test",
        kafka_bootstrap_servers=kafka_bootstrap,
        data_dir=tmp_path,
        database_url=database_url,
    )
    await ensure_topics(settings)
    await _group_starts_at_the_end(kafka_bootstrap, group, topics.CONVERSATION_EVENTS)
    service = ConsumerService(settings, metadata)
    tenant = uuid.uuid4()
    mine = conversation_facts.c.tenant_id == str(tenant)  # the topic is shared by tests
    #: What ``after_commit`` got (the applier's result) and what another connection saw then.
    after_commits: list[tuple[int | None, int]] = []

    def apply(conn, batch):  # type: ignore[no-untyped-def]
        consumers.apply(conn, batch)
        return sum(d.envelope.tenant_id == tenant for d in batch)  # how many of ours

    def committed(applied: int | None) -> None:
        with service.engine.connect() as conn:
            facts = conn.scalar(select(func.count()).select_from(conversation_facts).where(mine))
        after_commits.append((applied, facts))

    service.consume(topics.CONVERSATION_EVENTS, group_id=group, apply=apply, after_commit=committed)
    conversation = uuid.uuid4()
    opened = Envelope.wrap(
        ConversationOpened(
            conversation_id=conversation,
            channel_id=uuid.uuid4(),
            channel_type="webchat",
            visitor_id=uuid.uuid4(),
            language="nl",
            opened_at=datetime.now(UTC),
        ),
        tenant_id=tenant,
    )
    message = Envelope.wrap(
        MessageReceived(
            conversation_id=conversation,
            message_id=uuid.uuid4(),
            channel_message_id="m1",
            content=MessageContent(text="hoi"),
            received_at=datetime.now(UTC),
        ),
        tenant_id=tenant,
    )
    unknown = Envelope(
        type="SomethingFromTheFuture", schema_version=7, tenant_id=tenant, payload={}
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    dead_letters = AIOKafkaConsumer(
        topics.DEAD_LETTERS,
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="latest",
        fetch_max_wait_ms=5,
    )
    async with service.lifespan(FastAPI()):
        await dead_letters.start()
        # "latest" is where the dead-letter topic ends once this reader has its partitions
        # and their positions: resolved now, before anything can be dead-lettered (on a
        # loaded machine it was resolved later and missed them).
        async with asyncio.timeout(30):
            while not dead_letters.assignment():
                await dead_letters.getmany(timeout_ms=100)
        for partition in dead_letters.assignment():
            await dead_letters.position(partition)
        await producer.start()
        key = str(tenant).encode()
        for raw in (opened.to_bytes(), opened.to_bytes(), b"{not json", unknown.to_bytes()):
            await producer.send_and_wait(topics.CONVERSATION_EVENTS, raw, key=key)
        for _ in range(2):  # at-least-once: the same message event delivered twice
            await producer.send_and_wait(topics.CONVERSATION_EVENTS, message.to_bytes(), key=key)

        reasons: list[str] = []
        async with asyncio.timeout(30):
            while len(reasons) < 2:
                for records in (await dead_letters.getmany(timeout_ms=200)).values():
                    # Ours only: other tests' consumers dead-letter on the same topic.
                    reasons += [dict(r.headers)["reason"].decode() for r in records if r.key == key]
            while True:
                with service.engine.connect() as conn:
                    row = conn.execute(
                        select(conversation_facts.c.messages_in).where(
                            conversation_facts.c.conversation_id == str(conversation)
                        )
                    ).first()
                if row is not None and row[0] >= 1:
                    break
                await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # room for a wrong second count to show up
        with service.engine.connect() as conn:
            count = conn.scalar(select(func.count()).select_from(conversation_facts).where(mine))
            messages_in = conn.scalar(select(conversation_facts.c.messages_in).where(mine))
        await producer.stop()
        await dead_letters.stop()
    assert count == 1
    assert messages_in == 1
    # ``after_commit`` runs once the batch's transaction committed: its rows are visible.
    seen = [facts for applied, facts in after_commits if applied]
    assert seen and set(seen) == {1}
    assert any("not an event envelope" in r for r in reasons)
    assert any("unknown event type SomethingFromTheFuture v7" in r for r in reasons)
