"""Two replicas' outbox relays on one database: one publishes, the other takes over.

Each case runs two relays of one outbox table against one broker, on SQLite (a file lock)
and on PostgreSQL (an advisory lock): only the leader publishes; when it stops, or dies
(its task cancelled mid-page; on PostgreSQL its lock connection killed), the standby takes
over from the durable position. Every event arrives, in order per key, and copies only ever
repeat an ``event_id`` (which consumers drop).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import MetaData, text

from shared.events import Envelope
from shared.kafka import ensure_topics, make_producer
from shared.leadership import leadership_for, run_as_leader
from shared.outbox import OutboxRelay, TableSource, enqueue, outbox_table
from shared.readmodel import make_engine
from tests.support.apps import settings_for

TENANTS = [uuid.uuid4() for _ in range(3)]


def _envelope(tenant_id: uuid.UUID, n: int) -> Envelope:
    return Envelope(
        type="RelayProbe",
        tenant_id=tenant_id,
        payload={"tenant_id": str(tenant_id), "name": f"n{n}", "plan": "pro"},
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'outbox.sqlite'}"
        return
    postgres = request.getfixturevalue("postgres")
    name = f"lead_{uuid.uuid4().hex[:8]}"
    postgres.create_database(name)
    yield postgres.url(name)


async def _read(consumer: AIOKafkaConsumer, seen: list[Envelope], expected: set[str]) -> None:
    async with asyncio.timeout(60):
        while not expected <= {str(e.event_id) for e in seen}:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                seen.extend(Envelope.model_validate_json(r.value) for r in records)


async def _until(predicate, timeout: float = 20) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


async def test_one_of_two_relays_publishes_and_the_other_takes_over(
    kafka_bootstrap, database_url
) -> None:  # type: ignore[no-untyped-def]
    topic = f"interact.lead-{uuid.uuid4().hex[:8]}.v1"
    settings = settings_for(kafka_bootstrap, service_name="lead-test")
    await ensure_topics(settings, [topic])
    engine = make_engine(database_url)
    metadata = MetaData()
    outbox = outbox_table(metadata)
    metadata.create_all(engine)

    def relay() -> OutboxRelay:
        return OutboxRelay(
            TableSource("lead", engine, outbox),
            lambda: make_producer(settings),
            idle_poll=0.2,
            retry_interval=0.2,
        )

    def write(n: int, start: int) -> list[Envelope]:
        envelopes = [_envelope(TENANTS[i % len(TENANTS)], start + i) for i in range(n)]
        with engine.begin() as conn:
            for envelope in envelopes:  # one commit per event, as use cases do
                enqueue(conn, outbox, topic, envelope)
        return envelopes

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    relays = [relay(), relay()]
    runners = [asyncio.create_task(r.run()) for r in relays]
    seen: list[Envelope] = []
    try:
        await _until(lambda: any(r.leading for r in relays))
        await asyncio.sleep(1.5)  # the standby has asked for the lock meanwhile, in vain
        assert sum(r.leading for r in relays) == 1
        leader = 0 if relays[0].leading else 1
        standby = 1 - leader

        first = write(40, 0)
        await _read(consumer, seen, {str(e.event_id) for e in first})
        assert not relays[standby].leading

        # The leader stops (a rolling restart): the standby takes over, nothing repeats.
        relays[leader].stop()
        await runners[leader]
        second = write(40, 40)
        await _until(lambda: relays[standby].leading)
        await _read(consumer, seen, {str(e.event_id) for e in second})
        assert len(seen) == len({str(e.event_id) for e in seen}) == 80

        # A new replica stands by; the leader dies in the middle of a burst.
        relays[leader] = relay()
        runners[leader] = asyncio.create_task(relays[leader].run())
        third = write(200, 80)
        await asyncio.sleep(0.05)
        if database_url.startswith("postgresql"):
            pid = relays[standby].leadership.backend_pid()  # type: ignore[attr-defined]
            with engine.begin() as conn:
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        else:
            runners[standby].cancel()
        # whichever replica holds the lock now (the killed one may win it back) delivers
        await _until(lambda: any(r.leading for r in relays))
        await _read(consumer, seen, {str(e.event_id) for e in [*first, *second, *third]})
    finally:
        for r in relays:
            r.stop()
        await asyncio.gather(*runners, return_exceptions=True)
        await consumer.stop()
        engine.dispose()

    ids = [str(e.event_id) for e in seen]
    assert set(ids) == {str(e.event_id) for e in [*first, *second, *third]}  # nothing lost
    for tenant_id in TENANTS:  # and in order per key (first sight of each event)
        order = [e.payload["name"] for e in seen if e.tenant_id == tenant_id]
        firsts = list(dict.fromkeys(order))
        assert firsts == sorted(firsts, key=lambda name: int(name[1:]))


async def test_a_scheduled_job_runs_on_one_replica_at_a_time(database_url) -> None:  # type: ignore[no-untyped-def]
    """Billing's invoicer and the like: the job runs only where the lock is held; when that
    replica goes (its task ends, or on PostgreSQL its lock connection dies) another runs it."""
    engine = make_engine(database_url)
    running: list[int] = []

    def job(replica: int):  # type: ignore[no-untyped-def]
        async def work() -> None:
            running.append(replica)
            await asyncio.Event().wait()  # a loop that never ends on its own

        return work

    locks = [leadership_for(engine, "test-job") for _ in range(2)]
    first = asyncio.create_task(run_as_leader(locks[0], job(0), interval=0.1))
    await _until(lambda: running == [0])
    second = asyncio.create_task(run_as_leader(locks[1], job(1), interval=0.1))
    await asyncio.sleep(0.5)
    assert running == [0]  # the standby waits
    try:
        if database_url.startswith("postgresql"):
            with engine.begin() as conn:
                conn.execute(
                    text("SELECT pg_terminate_backend(:pid)"),
                    {"pid": locks[0].backend_pid()},  # type: ignore[attr-defined]
                )
        else:
            first.cancel()
        await _until(lambda: 1 in running)
        assert running.count(1) == 1
    finally:
        for task in (first, second):
            task.cancel()
        await asyncio.gather(first, second, return_exceptions=True)
        engine.dispose()
