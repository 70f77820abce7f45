"""Two routing processes in one consumer group on the real broker and one PostgreSQL database.

The group splits the partitions (and so the tenants, messages being keyed by tenant)
between the two; every conversation gets exactly one decision; when one process is
killed outright, the other takes over its tenants with their saved state, so an agent
filled before the kill is still full after it.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import create_engine, func, select

from services.routing.store import snapshots as store
from shared import events as ev
from shared import topics
from shared.events import Envelope
from tests.support.routing_processes import CHANNEL, Instance, send
from tests.support.routing_processes import agent as agent_created

TENANTS = 24
PER_WAVE = 5
CAPACITY = 2 * PER_WAVE
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def opened(tenant: uuid.UUID, n: int) -> Envelope:
    payload = ev.ConversationOpened(
        conversation_id=uuid.uuid5(tenant, f"conversation-{n}"),
        channel_id=CHANNEL,
        channel_type="webchat",
        visitor_id=uuid.uuid5(tenant, f"visitor-{n}"),
        language="nl",
        opened_at=T0 + timedelta(seconds=n),
    )
    return Envelope.wrap(payload, tenant_id=tenant, occurred_at=payload.opened_at)


def directory(tenant: uuid.UUID, agent: uuid.UUID) -> list[Envelope]:
    payloads = [
        ev.TenantCreated(name="T", plan="pro", default_capacity=CAPACITY),
        agent_created(agent),
        ev.PresenceChanged(user_id=agent, presence="online", at=T0),
    ]
    return [Envelope.wrap(p, tenant_id=tenant, occurred_at=T0) for p in payloads]


async def test_two_instances_split_the_tenants_and_one_takes_over_when_the_other_dies(
    kafka_bootstrap, postgres, tmp_path
):
    database = f"routing_pair_{uuid.uuid4().hex[:8]}"
    postgres.create_database(database)
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": postgres.url(database),
        "DATA_DIR": str(tmp_path),
        "ROUTING_CONSUMER_GROUP": f"routing-pair-{uuid.uuid4().hex[:8]}",
        "ROUTING_SESSION_TIMEOUT_MS": "6000",
        "ROUTING_TAKE_TIMEOUT_SECONDS": "86400",  # no re-routing by deadline in this test
        "LOG_LEVEL": "WARNING",
    }
    tenants = {uuid.uuid4(): uuid.uuid4() for _ in range(TENANTS)}  # tenant -> its one agent
    decided: dict[uuid.UUID, set[tuple]] = defaultdict(set)  # conversation -> decisions
    engine = create_engine(postgres.url(database))
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    decisions = AIOKafkaConsumer(
        topics.ROUTING_DECISIONS, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )

    async def collect() -> None:
        async for record in decisions:
            envelope = Envelope.model_validate_json(record.value)
            if envelope.tenant_id in tenants:
                d = envelope.parsed()
                assert isinstance(d, ev.ConversationRouted)
                decided[d.conversation_id].add((envelope.event_id, d.assignee_id))

    async def decisions_for(conversations: list[uuid.UUID]) -> None:
        while not all(c in decided for c in conversations):
            await asyncio.sleep(0.2)

    first = Instance("first", env, tmp_path)
    second = None
    await producer.start()
    await decisions.start()
    collector = asyncio.create_task(collect())
    try:
        async with asyncio.timeout(150):
            second = Instance("second", env, tmp_path)
            await asyncio.gather(first.wait_ready(), second.wait_ready())
            # Both consume once the group has split the partitions between them: warm-up
            # tenants (nothing to route) until each process has applied something.
            while not (await first.applied() and await second.applied()):
                warm = [uuid.uuid4() for _ in range(6)]
                await send(
                    producer,
                    topics.DIRECTORY_EVENTS,
                    [
                        Envelope.wrap(ev.TenantCreated(name="W", plan="hub"), tenant_id=t)
                        for t in warm
                    ],
                )
                await asyncio.sleep(0.5)
            before = (await first.applied(), await second.applied())

            # Wave 1: every tenant's agent online (directory topic), then five arrivals each.
            await send(
                producer,
                topics.DIRECTORY_EVENTS,
                [e for t, a in tenants.items() for e in directory(t, a)],
            )
            online = store.agents.c.presence == "online"
            mine = store.agents.c.user_id.in_([str(a) for a in tenants.values()])
            while True:  # the other topic has no order with this one: wait for the agents
                with engine.connect() as conn:
                    count = conn.scalar(select(func.count()).where(online, mine))
                if count == TENANTS:
                    break
                await asyncio.sleep(0.2)
            wave1 = [opened(t, n) for t in tenants for n in range(PER_WAVE)]
            await send(producer, topics.CONVERSATION_EVENTS, wave1)
            await decisions_for([e.parsed().conversation_id for e in wave1])
            after = (await first.applied(), await second.applied())
            # Each process routed some of the tenants.
            assert after[0] > before[0] and after[1] > before[1]

            # Kill the first outright; wave 2 fills every agent to capacity and one more waits.
            first.stop(signal.SIGKILL)
            wave2 = [opened(t, n) for t in tenants for n in range(PER_WAVE, 2 * PER_WAVE + 1)]
            await send(producer, topics.CONVERSATION_EVENTS, wave2)
            await decisions_for([e.parsed().conversation_id for e in wave2])
            await asyncio.sleep(1.0)  # room for a wrong second decision to show up
    finally:
        collector.cancel()
        await decisions.stop()
        await producer.stop()
        first.stop(signal.SIGKILL)
        if second is not None:
            second.stop()
        engine.dispose()

    for tenant, agent in tenants.items():
        for n in range(2 * PER_WAVE + 1):
            conversation = uuid.uuid5(tenant, f"conversation-{n}")
            # Exactly one decision (copies after a crash would carry the same event id).
            assert len({event_id for event_id, _ in decided[conversation]}) == 1, conversation
            expected = agent if n < CAPACITY else None  # the eleventh finds the agent full
            assert {assignee for _, assignee in decided[conversation]} == {expected}
