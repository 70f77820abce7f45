"""PostgreSQL goes away mid-stream and comes back: nothing lost, nothing doubled, no restart.

A consumer service (the shared consumer loop, a read model on a throw-away PostgreSQL
cluster of its own, the real broker) takes a steady stream of events while the database is
stopped with ``pg_ctl`` and started again. Meanwhile its HTTP API answers JSON 503
``database_unavailable`` (not a plain-text 500), ``/ready`` fails, the consumer retries with
backoff and says so once; afterwards every event is in the read model exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter
from prometheus_client import REGISTRY
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, func, insert, select

from shared.consumer_service import ConsumerService, ConsumerServiceSettings
from shared.events import ConversationQueued, Envelope
from shared.kafka import Delivery, ensure_topics
from tests.support.postgres import PostgresCluster

metadata = MetaData()
#: No unique event_id on purpose: an event applied twice would show as two rows.
rows = Table(
    "outage_rows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
)
EVENTS = 120


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresCluster]:
    """A cluster of this module only: stopping the session's would break other tests."""
    cluster = PostgresCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


def apply(conn: Connection, deliveries: list[Delivery]) -> None:
    conn.execute(insert(rows), [{"event_id": str(d.envelope.event_id)} for d in deliveries])


def lag_of(group: str) -> float | None:
    samples = [
        sample.value
        for family in REGISTRY.collect()
        if family.name == "interact_consumer_lag"
        for sample in family.samples
        if sample.labels["group"] == group
    ]
    return sum(samples) if samples else None


async def until(condition: Callable[[], bool], timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.1)


async def test_consumers_and_api_ride_out_a_database_outage(
    kafka_bootstrap, own_postgres, tmp_path, caplog
):
    caplog.set_level(logging.INFO, logger="shared.kafka")
    name = f"outage_{uuid.uuid4().hex[:8]}"
    own_postgres.create_database(name)
    topic, group = f"test.outage-{uuid.uuid4().hex[:8]}", f"outage-{uuid.uuid4().hex[:6]}"
    settings = ConsumerServiceSettings(
        service_name="outage-test",
        kafka_bootstrap_servers=kafka_bootstrap,
        data_dir=tmp_path,
        database_url=own_postgres.url(name),
        kafka_partitions=3,  # only for this test's own topic
        kafka_fetch_max_wait_ms=50,
        consumer_stall_seconds=1.5,
        consumer_retry_max_seconds=1.0,
    )
    await ensure_topics(settings, [topic])
    service = ConsumerService(settings, metadata)
    service.consume(topic, group_id=group, apply=apply)
    router = APIRouter()

    @router.get("/v1/rows")
    async def count() -> dict[str, int]:
        def query() -> int:
            with service.engine.connect() as conn:
                return conn.scalar(select(func.count()).select_from(rows)) or 0

        return {"rows": await asyncio.to_thread(query)}

    app = service.create_app("outage test", [router])
    sent = [
        Envelope.wrap(
            ConversationQueued(conversation_id=uuid.uuid4(), at=datetime.now(UTC)),
            tenant_id=uuid.uuid4(),  # spread over the partitions
        )
        for _ in range(EVENTS)
    ]

    def stored() -> list[str]:
        with service.engine.connect() as conn:
            return list(conn.scalars(select(rows.c.event_id)))

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=0)
    await producer.start()
    failures = {"group": group}
    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            service.lifespan(app),
            httpx.AsyncClient(transport=transport, base_url="http://svc") as http,
        ):

            async def stream(envelopes: list[Envelope]) -> None:
                for envelope in envelopes:
                    await producer.send_and_wait(topic, envelope.to_bytes(), key=envelope.key)
                    await asyncio.sleep(0.02)

            await stream(sent[:40])
            await until(lambda: len(stored()) == 40)
            # Caught up: its last reading says no lag, so only the outage can make it stall.
            await until(lambda: lag_of(group) == 0)
            assert (await http.get("/ready")).status_code == 200
            failed_before = REGISTRY.get_sample_value(
                "interact_consumer_batch_failures_total", failures
            )

            await asyncio.to_thread(own_postgres.pause)
            streaming = asyncio.create_task(stream(sent[40:]))  # the stream goes on
            answer = await http.get("/v1/rows")
            assert answer.status_code == 503
            assert answer.headers["content-type"] == "application/json"
            assert answer.json()["error"]["code"] == "database_unavailable"
            assert int(answer.headers["Retry-After"]) > 0
            assert (await http.get("/ready")).status_code == 503
            await until(
                lambda: (
                    (
                        REGISTRY.get_sample_value(
                            "interact_consumer_batch_failures_total", failures
                        )
                        or 0
                    )
                    >= (failed_before or 0) + 3
                ),  # it keeps trying, with backoff
                timeout=30,
            )
            await until(
                lambda: REGISTRY.get_sample_value("interact_consumer_stalled", failures) == 1,
                timeout=30,
            )
            await streaming  # everything was accepted by Kafka while the database was away

            await asyncio.to_thread(own_postgres.resume)
            await until(lambda: len(stored()) >= EVENTS)
            await asyncio.sleep(1.0)  # room for a doubled batch to show up
            assert (await http.get("/v1/rows")).json() == {"rows": EVENTS}
            await until(
                lambda: REGISTRY.get_sample_value("interact_consumer_stalled", failures) == 0
            )
            assert (await http.get("/ready")).status_code == 200
    finally:
        await producer.stop()
    assert sorted(stored()) == sorted(str(e.event_id) for e in sent), "nothing lost, nothing twice"
    mine = [r for r in caplog.records if getattr(r, "group", None) == group]
    outages = [r for r in mine if r.getMessage().startswith("consumer cannot go on")]
    recoveries = [r for r in mine if r.getMessage() == "consumer recovered"]
    assert len(outages) == 1, "one warning per outage, not one per retry"
    assert len(recoveries) == 1
    assert recoveries[0].retries >= 3
