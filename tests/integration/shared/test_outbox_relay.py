"""The outbox relay publishes the event log in order and loses nothing while Kafka is down."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import text

from services.conversation.application.directory import Directory
from services.conversation.application.eventstore import event_store_env
from services.conversation.consumers.outbox import log_relay
from services.conversation.store.positions import read_position
from services.conversation.store.tables import metadata
from shared import topics
from shared.events import Envelope
from shared.kafka import ensure_topics, make_producer
from shared.leadership import LeadershipLost
from shared.local_broker import LocalBroker
from shared.readmodel import make_engine
from tests.support.apps import settings_for


async def _read_all(
    bootstrap: str, topic: str, expected: int, timeout: float = 90
) -> list[Envelope]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", fetch_max_wait_ms=5
    )
    await consumer.start()
    seen: list[Envelope] = []
    try:
        async with asyncio.timeout(timeout):
            while len(seen) < expected:
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    seen.extend(Envelope.model_validate_json(r.value) for r in records)
    finally:
        await consumer.stop()
    return seen


def _position(engine, relay) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return read_position(conn, relay.name)


async def test_relay_catches_up_after_the_broker_comes_back(tmp_path, caplog):
    """Kafka stops answering (the broker hangs), events keep being saved, Kafka comes back:
    the relay delivers everything from its durable position, nothing lost. The outage is
    logged once when it starts and once when it ends, not once per retry."""
    caplog.set_level(logging.INFO, logger="shared.outbox")
    broker_process = LocalBroker().start()
    bootstrap = broker_process.bootstrap_servers
    settings = settings_for(bootstrap, service_name="relay-test")
    engine = make_engine(f"sqlite:///{tmp_path / 'views.sqlite'}")
    metadata.create_all(engine)
    directory = Directory(env=event_store_env("", tmp_path, "directory"))
    await ensure_topics(settings)
    relay = log_relay(
        directory,
        topics.DIRECTORY_EVENTS,
        engine,
        lambda: make_producer(settings),
        retry_interval=0.2,
        ensure_topics=lambda: ensure_topics(settings),
    )
    runner = asyncio.create_task(relay.run())
    try:
        before = [directory.create_tenant(f"before {n}", "pro") for n in range(3)]
        relay.wake()
        first = await _read_all(bootstrap, topics.DIRECTORY_EVENTS, 3)
        # keyed by tenant: different tenants may land on different partitions
        assert sorted(e.tenant_id for e in first) == sorted(before)
        first_position = directory.recorder.max_notification_id()
        async with asyncio.timeout(10):  # the relay records its position just after the acks
            while _position(engine, relay) != first_position:
                await asyncio.sleep(0.05)

        broker_process.pause()  # Kafka goes away; the application goes on saving
        during = [directory.create_tenant(f"during {n}", "bot") for n in range(5)]
        relay.wake()
        async with asyncio.timeout(120):
            while relay.failures < 2:  # it notices (a bounded wait), and keeps its position
                await asyncio.sleep(0.2)

        assert _position(engine, relay) == first_position  # nothing of the outage counted
        broker_process.resume()
        after = await _read_all(bootstrap, topics.DIRECTORY_EVENTS, 8)
        assert sorted(e.tenant_id for e in after if e.tenant_id not in before) == sorted(during)
        async with asyncio.timeout(30):
            while not [r for r in caplog.records if r.getMessage() == "outbox relay recovered"]:
                await asyncio.sleep(0.1)
        said = [r.getMessage() for r in caplog.records if r.name == "shared.outbox"]
        assert said.count("outbox relay cannot publish; retrying with backoff") == 1, said
        assert said.count("outbox relay recovered") == 1, said
    finally:
        relay.stop()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        broker_process.resume()
        broker_process.close()
        directory.close()


async def test_republished_notifications_keep_their_event_ids(tmp_path):
    """After a crash between publish and saving the position, copies carry the same event_id."""
    directory = Directory(env=event_store_env("", tmp_path, "directory"))
    tenant_id = directory.create_tenant("twice", "hub")
    note = directory.recorder.select_notifications(start=1, limit=1)[0]
    from services.conversation.application.contracts import to_envelopes

    first = to_envelopes(directory.mapper.to_domain_event(note))
    again = to_envelopes(directory.mapper.to_domain_event(note))
    assert [e.event_id for e in first] == [e.event_id for e in again]
    assert first[0].tenant_id == tenant_id
    assert uuid.UUID(str(first[0].event_id)).version == 5
    directory.close()


def test_one_relay_leads_on_postgres_and_a_lost_lock_is_noticed(postgres, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two replicas: the second stands by while the first holds the lock; when the first's
    lock connection dies it notices before its next page, and the second takes over.
    Positions only move forward, whoever writes them."""
    name = f"relay_{uuid.uuid4().hex[:8]}"
    postgres.create_database(name)
    engine = make_engine(postgres.url(name))
    metadata.create_all(engine)
    directory = Directory(env=event_store_env(postgres.url(name), tmp_path, "directory"))
    relays = [log_relay(directory, topics.DIRECTORY_EVENTS, engine, lambda: None) for _ in range(2)]
    first, second = (relay.leadership for relay in relays)
    try:
        assert first.acquire()
        assert not second.acquire()
        first_pid = first.backend_pid()  # type: ignore[attr-defined]
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first_pid})
        with pytest.raises(LeadershipLost):
            first.check()
        assert second.acquire()
        relays[1].source.save_position(40)  # type: ignore[attr-defined]
        relays[0].source.save_position(12)  # type: ignore[attr-defined]  # the old leader, late
        assert _position(engine, relays[1]) == 40
        second.release()
    finally:
        directory.close()
        engine.dispose()
