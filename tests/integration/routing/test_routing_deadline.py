"""The take deadline in a real routing process: not taken in time, the conversation goes to
someone else, even when the process was restarted after the assignment."""

from __future__ import annotations

import asyncio
import signal
import uuid
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import func, select

from services.routing.store import snapshots as store
from shared import events as ev
from shared import topics
from shared.events import Envelope
from shared.readmodel import make_engine
from tests.support.routing_processes import CHANNEL, Instance, agent, send


async def test_an_assignment_not_taken_moves_on_after_a_restart(kafka_bootstrap, tmp_path):
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATA_DIR": str(tmp_path),
        "ROUTING_CONSUMER_GROUP": f"routing-deadline-{uuid.uuid4().hex[:8]}",
        "ROUTING_TAKE_TIMEOUT_SECONDS": "2",
        "ROUTING_SWEEP_SECONDS": "0.5",
        "ROUTING_SESSION_TIMEOUT_MS": "6000",
        "LOG_LEVEL": "WARNING",
    }
    tenant, ann, bob, conversation = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    routed: list[ev.ConversationRouted] = []
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    decisions = AIOKafkaConsumer(
        topics.ROUTING_DECISIONS, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )

    seen: dict[uuid.UUID, ev.ConversationRouted] = {}

    async def collect() -> None:
        async for record in decisions:
            envelope = Envelope.model_validate_json(record.value)
            if envelope.tenant_id == tenant:
                payload = envelope.parsed()
                assert isinstance(payload, ev.ConversationRouted)
                # Killed between the broker's ack and the relay's record, routing publishes
                # the outbox's page again: the decision again, with the same event id,
                # which consumers apply once (as here). A new decision has a new id.
                if envelope.event_id in seen:
                    continue
                seen[envelope.event_id] = payload
                routed.append(payload)

    def wrap(payload: ev.Payload) -> Envelope:
        return Envelope.wrap(payload, tenant_id=tenant)

    engine = None
    first = Instance("first", env, tmp_path)
    second = None
    await producer.start()
    await decisions.start()
    collector = asyncio.create_task(collect())
    try:
        async with asyncio.timeout(120):
            await first.wait_ready()
            engine = make_engine(f"sqlite:///{tmp_path / 'routing.sqlite'}")
            await send(
                producer,
                topics.DIRECTORY_EVENTS,
                [
                    wrap(ev.TenantCreated(name="T", plan="pro")),
                    wrap(agent(ann)),
                    wrap(agent(bob)),
                    wrap(ev.PresenceChanged(user_id=ann, presence="online", at=now)),
                ],
            )
            while True:  # the conversation topic has no order with the directory topic
                with engine.connect() as conn:
                    online = conn.scalar(
                        select(func.count()).where(
                            store.agents.c.user_id == str(ann), store.agents.c.presence == "online"
                        )
                    )
                if online:
                    break
                await asyncio.sleep(0.2)
            opened = ev.ConversationOpened(
                conversation_id=conversation,
                channel_id=CHANNEL,
                channel_type="webchat",
                visitor_id=uuid.uuid4(),
                language="nl",
                opened_at=now,
            )
            await send(producer, topics.CONVERSATION_EVENTS, [wrap(opened)])
            while not routed:
                await asyncio.sleep(0.1)
            # Ann has it and no one else is online: the sweep leaves it with her.
            first.stop(signal.SIGKILL)
            # While routing is down, Bob comes online; a new process starts.
            await send(
                producer,
                topics.DIRECTORY_EVENTS,
                [wrap(ev.PresenceChanged(user_id=bob, presence="online", at=datetime.now(UTC)))],
            )
            second = Instance("second", env, tmp_path)
            await second.wait_ready()
            while len(routed) < 2:
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.5)  # a few more sweeps: room for a wrong extra decision
    finally:
        collector.cancel()
        await decisions.stop()
        await producer.stop()
        first.stop(signal.SIGKILL)
        if second is not None:
            second.stop()
        if engine is not None:
            engine.dispose()

    assert [(d.assignee_id, d.replaces_assignee_id, d.reroute_reason) for d in routed] == [
        (ann, None, None),
        (bob, ann, "not_taken"),
    ]
    assert routed[1].decided_at >= routed[0].decided_at
    assert {c.user_id: c.excluded_by for c in routed[1].candidates} == {
        ann: ["not_taken"],
        bob: [],
    }
