"""Routing's decisions reach Kafka only together with the state they come from.

A real routing process on the real broker; the database (SQLite or PostgreSQL) is the
process's own, and the test reaches into it only to break it or to read the saved state.

- The commit fails (a database error injected at the snapshot save): no decision reaches
  Kafka, however often the batch is tried; once the database takes it again, the batch
  gives its decision exactly once, naming the agent routing saved.
- The process dies after the commit and before the relay published (the test holds the
  relay's leadership lock, so the relay stands by; then SIGKILL): while it is down the
  agent changes presence; the next process publishes the stored decision, which names the
  same agent as the saved state, and the batch is not decided again.
"""

from __future__ import annotations

import asyncio
import re
import signal
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import Engine, func, select, text

from services.routing.store import snapshots as store
from shared import events as ev
from shared import topics
from shared.events import Envelope
from shared.leadership import leadership_for
from shared.readmodel import make_engine
from tests.support.routing_processes import CHANNEL, Instance, agent, send

#: Time for a wrong decision to show up (a retry, a relay's page).
SETTLE_S = 1.5


@dataclass
class Tenant:
    """One tenant with two agents (Ann online) and the decisions Kafka holds for it."""

    tenant_id: uuid.UUID = field(default_factory=uuid.uuid4)
    ann: uuid.UUID = field(default_factory=uuid.uuid4)
    bob: uuid.UUID = field(default_factory=uuid.uuid4)
    conversation: uuid.UUID = field(default_factory=uuid.uuid4)
    #: Every record of the decisions topic for this tenant: (event_id, assignee), copies too.
    decisions: list[tuple[uuid.UUID, uuid.UUID | None]] = field(default_factory=list)

    def wrap(self, payload: ev.Payload) -> Envelope:
        return Envelope.wrap(payload, tenant_id=self.tenant_id)

    def directory(self) -> list[Envelope]:
        now = datetime.now(UTC)
        return [
            self.wrap(ev.TenantCreated(name="T", plan="pro")),
            self.wrap(agent(self.ann)),
            self.wrap(agent(self.bob)),
            self.wrap(ev.PresenceChanged(user_id=self.ann, presence="online", at=now)),
        ]

    def ann_away_bob_online(self) -> list[Envelope]:
        now = datetime.now(UTC)
        return [
            self.wrap(ev.PresenceChanged(user_id=self.ann, presence="away", at=now)),
            self.wrap(ev.PresenceChanged(user_id=self.bob, presence="online", at=now)),
        ]

    def opened(self) -> Envelope:
        return self.wrap(
            ev.ConversationOpened(
                conversation_id=self.conversation,
                channel_id=CHANNEL,
                channel_type="webchat",
                visitor_id=uuid.uuid4(),
                language="nl",
                opened_at=datetime.now(UTC),
            )
        )


@asynccontextmanager
async def kafka(bootstrap: str, tenant: Tenant) -> AsyncIterator[AIOKafkaProducer]:
    """A producer, and a consumer of the decisions topic filling ``tenant.decisions``."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(
        topics.ROUTING_DECISIONS, bootstrap_servers=bootstrap, auto_offset_reset="latest"
    )
    await producer.start()
    await consumer.start()
    await consumer.seek_to_end()  # an anonymous consumer: from now on

    async def collect() -> None:
        async for record in consumer:
            envelope = Envelope.model_validate_json(record.value)
            if envelope.tenant_id == tenant.tenant_id:
                decision = envelope.parsed()
                assert isinstance(decision, ev.ConversationRouted)
                tenant.decisions.append((envelope.event_id, decision.assignee_id))

    collector = asyncio.create_task(collect())
    try:
        yield producer
    finally:
        collector.cancel()
        await asyncio.gather(collector, return_exceptions=True)
        await consumer.stop()
        await producer.stop()


def env_for(kafka_bootstrap: str, tmp_path, database_url: str = "") -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(tmp_path),
        "ROUTING_CONSUMER_GROUP": f"routing-outbox-{uuid.uuid4().hex[:8]}",
        "ROUTING_SESSION_TIMEOUT_MS": "6000",
        "ROUTING_TAKE_TIMEOUT_SECONDS": "86400",  # no re-routing by deadline here
        "CONSUMER_RETRY_MAX_SECONDS": "1",
        "LOG_LEVEL": "WARNING",
    }


async def until(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not await asyncio.to_thread(condition):
            await asyncio.sleep(0.1)


def presence_of(engine: Engine, user_id: uuid.UUID) -> str | None:
    with engine.connect() as conn:
        return conn.scalar(
            select(store.agents.c.presence).where(store.agents.c.user_id == str(user_id))
        )


def saved_assignee(engine: Engine, conversation: uuid.UUID) -> uuid.UUID | None:
    with engine.connect() as conn:
        found = conn.scalar(
            select(store.conversations.c.assignee_id).where(
                store.conversations.c.conversation_id == str(conversation)
            )
        )
    return uuid.UUID(found) if found else None


def saved_loads(engine: Engine, tenant: Tenant) -> dict[uuid.UUID, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(store.agents.c.user_id, store.agents.c.load).where(
                store.agents.c.tenant_id == str(tenant.tenant_id)
            )
        )
        return {uuid.UUID(r.user_id): r.load for r in rows}


async def batch_failures(instance: Instance) -> float:
    async with httpx.AsyncClient() as client:
        metrics = (await client.get(f"http://127.0.0.1:{instance.port}/metrics")).text
    found = re.findall(r"interact_consumer_batch_failures_total\{[^}]*\} ([0-9.e+]+)", metrics)
    return sum(float(n) for n in found)


async def test_a_failed_commit_publishes_nothing_and_the_batch_again_decides_once(
    kafka_bootstrap, tmp_path
):
    tenant = Tenant()
    instance = Instance("failing", env_for(kafka_bootstrap, tmp_path), tmp_path)
    engine = None
    try:
        async with kafka(kafka_bootstrap, tenant) as producer, asyncio.timeout(120):
            await instance.wait_ready()
            engine = make_engine(f"sqlite:///{tmp_path / 'routing.sqlite'}")
            await send(producer, topics.DIRECTORY_EVENTS, tenant.directory())
            await until(lambda: presence_of(engine, tenant.ann) == "online")

            # Every save of the conversation fails now: the batch's transaction rolls back.
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "CREATE TRIGGER injected BEFORE INSERT ON routing_conversations "
                        "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
                    )
                )
            await send(producer, topics.CONVERSATION_EVENTS, [tenant.opened()])
            async with asyncio.timeout(30):
                while await batch_failures(instance) < 3:  # tried, rolled back, tried again
                    await asyncio.sleep(0.2)
            await asyncio.sleep(SETTLE_S)
            assert tenant.decisions == []  # nothing said while nothing is saved
            assert saved_assignee(engine, tenant.conversation) is None

            # Meanwhile Ann goes away and Bob comes online; then the database takes it.
            await send(producer, topics.DIRECTORY_EVENTS, tenant.ann_away_bob_online())
            await asyncio.sleep(0.5)
            with engine.begin() as conn:
                conn.execute(text("DROP TRIGGER injected"))
            async with asyncio.timeout(30):
                while not tenant.decisions:
                    await asyncio.sleep(0.1)
            await until(lambda: presence_of(engine, tenant.bob) == "online")
            await asyncio.sleep(SETTLE_S)
    finally:
        instance.stop(signal.SIGKILL)
    assert engine is not None
    (decision,) = tenant.decisions  # exactly once: one record, no copy
    saved = saved_assignee(engine, tenant.conversation)
    assert saved is not None and decision[1] == saved
    loads = saved_loads(engine, tenant)
    assert loads[saved] == 1 and sum(loads.values()) == 1
    engine.dispose()


async def test_a_crash_after_the_commit_publishes_the_saved_decision_at_restart(
    kafka_bootstrap, postgres, tmp_path
):
    database = f"routing_outbox_{uuid.uuid4().hex[:8]}"
    postgres.create_database(database)
    env = env_for(kafka_bootstrap, tmp_path, postgres.url(database))
    engine = make_engine(postgres.url(database))
    tenant = Tenant()
    # The test leads the relay's work: a routing process commits its decisions and stands by.
    relay_lock = leadership_for(engine, "outbox:routing")
    assert relay_lock.acquire()
    first = Instance("first", env, tmp_path)
    second = None
    try:
        async with kafka(kafka_bootstrap, tenant) as producer, asyncio.timeout(150):
            await first.wait_ready()
            await send(producer, topics.DIRECTORY_EVENTS, tenant.directory())
            await until(lambda: presence_of(engine, tenant.ann) == "online")
            await send(producer, topics.CONVERSATION_EVENTS, [tenant.opened()])
            await until(lambda: saved_assignee(engine, tenant.conversation) == tenant.ann)
            await asyncio.sleep(SETTLE_S)
            assert tenant.decisions == []  # committed, not yet published

            # The crash: after the commit, before the relay published.
            first.stop(signal.SIGKILL)
            await send(producer, topics.DIRECTORY_EVENTS, tenant.ann_away_bob_online())
            relay_lock.release()
            second = Instance("second", env, tmp_path)
            await second.wait_ready()
            async with asyncio.timeout(60):
                while not tenant.decisions:
                    await asyncio.sleep(0.1)
            await until(lambda: presence_of(engine, tenant.bob) == "online")
            await asyncio.sleep(SETTLE_S)
    finally:
        relay_lock.release()
        first.stop(signal.SIGKILL)
        if second is not None:
            second.stop()
    # The decision published is the one saved: Ann, once; away, she keeps what she holds.
    assert [assignee for _id, assignee in tenant.decisions] == [tenant.ann]
    assert saved_assignee(engine, tenant.conversation) == tenant.ann
    assert saved_loads(engine, tenant) == {tenant.ann: 1, tenant.bob: 0}
    with engine.connect() as conn:
        unsent = conn.scalar(
            select(func.count()).select_from(store.outbox).where(store.outbox.c.sent_at.is_(None))
        )
    assert unsent == 0
    engine.dispose()
