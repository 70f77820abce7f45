"""The view rebuilt from position 0 equals the one built incrementally, row for row.

Incrementally: a varied stream (three tenants in three time zones, all event types, topics
changed on re-archive, duplicates, one tenant's time zone arriving after its
conversations) goes through the real broker into a consumer on PostgreSQL. Rebuilt: the
same events replayed as the feed gives them (directory first) in other batch sizes.
And the feed client against the real conversation service's feed.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from sqlalchemy import Engine, select

from services.stats import consumers, rebuild
from services.stats.settings import StatsSettings
from services.stats.store import end_users, metadata, tenants
from shared import events as ev
from shared import topics
from shared.consumer_service import ConsumerService
from shared.kafka import Delivery
from tests.support.tenants import OPERATOR_TOKEN, new_tenant

CHANNELS = ("messenger", "page_comments", "whatsapp", "webchat")
TOPICS = ("Billing", "Returns", "Delivery", "Complaints")


def stream(
    rng: random.Random, tenant: uuid.UUID, zone: str, plan: str, n: int
) -> tuple[list, list]:
    """(directory envelopes, conversation envelopes) of one tenant, in their order."""
    wrap = lambda p: ev.Envelope.wrap(p, tenant_id=tenant)  # noqa: E731
    users = [uuid.uuid4() for _ in range(4)]
    directory = [wrap(ev.TenantCreated(name="T", plan=plan, time_zone=zone))]
    directory += [
        wrap(
            ev.EndUserCreated(
                user_id=u,
                first_name=f"U{i}",
                last_name="X",
                email=f"u{i}@x.example",
                role="agent",
                mother_tongue="nl",
            )
        )
        for i, u in enumerate(users)
    ]
    directory.append(wrap(ev.EndUserDeleted(user_id=users[3], at=datetime.now(UTC))))
    out = []
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for _ in range(n):
        cid = uuid.uuid4()
        t = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 90))
        bot = plan == "bot" and rng.random() < 0.6
        step = lambda t=t: t + timedelta(seconds=rng.randrange(1, 900))  # noqa: E731
        events: list[ev.Payload] = [
            ev.ConversationOpened(
                conversation_id=cid,
                channel_id=uuid.uuid4(),
                channel_type=rng.choice(CHANNELS),
                visitor_id=uuid.uuid4(),
                language="nl",
                opened_at=t,
                bot_active=bot,
            )
        ]
        for _ in range(rng.randrange(0, 6)):
            kind = rng.choice(["in", "agent", "bot", "queue", "assign", "take", "handover", "lang"])
            user = rng.choice(users)
            if kind == "in":
                events.append(
                    ev.MessageReceived(
                        conversation_id=cid,
                        message_id=uuid.uuid4(),
                        channel_message_id="m",
                        content=ev.MessageContent(text="x"),
                        received_at=step(),
                    )
                )
            elif kind in ("agent", "bot"):
                events.append(
                    ev.MessageSent(
                        conversation_id=cid,
                        message_id=uuid.uuid4(),
                        author=kind,
                        author_id=user if kind == "agent" else None,
                        content=ev.MessageContent(text="y"),
                        at=step(),
                    )
                )
            elif kind == "queue":
                events.append(ev.ConversationQueued(conversation_id=cid, at=step()))
            elif kind == "assign":
                events.append(
                    ev.ConversationAssigned(conversation_id=cid, assignee_id=user, at=step())
                )
            elif kind == "take":
                events.append(ev.ConversationTaken(conversation_id=cid, user_id=user, at=step()))
            elif kind == "handover":
                state = rng.choice(["waiting_for_human", "human", "bot"])
                events.append(
                    ev.HandoverChanged(conversation_id=cid, state=state, reason="r", at=step())
                )
            else:
                events.append(
                    ev.ConversationRequirementsChanged(
                        conversation_id=cid, language="fr", required_competences=[], at=step()
                    )
                )
        for _ in range(rng.randrange(0, 3)):  # archived, then maybe again with other topics
            names = rng.sample(TOPICS, rng.randrange(0, 3))
            events.append(ev.ConversationArchived(conversation_id=cid, topics=names, at=step()))
        if rng.random() < 0.7:
            events.append(ev.ConversationClosed(conversation_id=cid, at=t + timedelta(hours=1)))
        out += [wrap(p) for p in events]
    return directory, out


def rows_of(engine: Engine, tenant_ids: set[str]) -> dict[str, list[tuple]]:
    found: dict[str, list[tuple]] = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if "tenant_id" not in table.c:  # applied_events, purged_tenants
                continue
            keys = list(table.primary_key.columns)
            query = select(table).where(table.c.tenant_id.in_(tenant_ids)).order_by(*keys)
            found[table.name] = [tuple(r) for r in conn.execute(query)]
    return found


def stats_service(postgres, kafka_bootstrap, tmp_path, **kw) -> ConsumerService:  # type: ignore[no-untyped-def]
    name = f"stats_rb_{uuid.uuid4().hex[:8]}"
    postgres.create_database(name)
    settings = StatsSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=postgres.url(name),
        data_dir=tmp_path,
        **kw,
    )
    return ConsumerService(settings, metadata)


async def _until(check, seconds: float = 60) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(seconds):
        while not await asyncio.to_thread(check):
            await asyncio.sleep(0.2)


async def test_rebuilt_view_equals_the_incremental_one(postgres, kafka_bootstrap, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(6)
    plan = {"Europe/Brussels": "pro", "America/New_York": "bot", "Asia/Kolkata": "bot"}
    ids = {zone: uuid.uuid4() for zone in plan}
    streams = {z: stream(rng, ids[z], z, plan[z], 120) for z in plan}
    late = "Asia/Kolkata"  # its tenant's time zone arrives after its conversations
    directory = [e for z, (d, _) in streams.items() if z != late for e in d]
    conversation = [e for _, (_, c) in streams.items() for e in c]
    everything = directory + streams[late][0] + conversation
    mine = {str(t) for t in ids.values()}

    live = stats_service(postgres, kafka_bootstrap, tmp_path / "live")
    live.consume(
        topics.CONVERSATION_EVENTS,
        topics.DIRECTORY_EVENTS,
        group_id=f"stats-rebuild-{uuid.uuid4().hex[:6]}",
        apply=consumers.apply,
        wanted=lambda e: e.type in consumers.handlers.types,
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=5)

    def applied(envelopes: list) -> bool:
        wanted = {str(e.event_id) for e in envelopes}
        with live.engine.connect() as conn:
            seen = set(
                conn.scalars(
                    select(live.applied.c.event_id).where(live.applied.c.event_id.in_(wanted))
                )
            )
        return seen == wanted

    async with live.lifespan(FastAPI()):
        await producer.start()
        try:
            for topic, envelopes in (
                (topics.DIRECTORY_EVENTS, directory),
                (topics.CONVERSATION_EVENTS, conversation + rng.sample(conversation, 40)),
            ):
                sends = [await producer.send(topic, e.to_bytes(), key=e.key) for e in envelopes]
                await asyncio.gather(*sends)
            await _until(lambda: applied(directory + conversation))
            for e in streams[late][0]:
                await producer.send_and_wait(topics.DIRECTORY_EVENTS, e.to_bytes(), key=e.key)
            await _until(lambda: applied(everything))
        finally:
            await producer.stop()

    rebuilt = stats_service(postgres, kafka_bootstrap, tmp_path / "rebuilt")
    ordered = [e for _, (d, _) in streams.items() for e in d] + conversation
    deliveries = [Delivery(e, e.parsed(), f"replay:{i}") for i, e in enumerate(ordered)]
    for start in range(0, len(deliveries), 17):
        rebuilt.apply_batch_now(consumers.apply, deliveries[start : start + 17])

    incremental, replayed = rows_of(live.engine, mine), rows_of(rebuilt.engine, mine)
    assert len(incremental["conversation_facts"]) == 360
    assert incremental["daily_topics"] and incremental["daily_end_users"]
    assert any(r[-5] for r in incremental["daily_conversations"])  # some bot conversations
    assert incremental == replayed
    live.engine.dispose()
    rebuilt.engine.dispose()


def test_the_feed_of_the_conversation_service_rebuilds_the_directory_part(
    portal, postgres, kafka_bootstrap, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant(portal)
    target = stats_service(postgres, kafka_bootstrap, tmp_path)
    counts = rebuild.replay_feed(
        portal,
        OPERATOR_TOKEN,
        lambda batch: target.apply_batch_now(consumers.apply, batch),
        page_size=7,
    )
    assert counts["directory"] >= 5 and counts["unreadable"] == 0
    with target.engine.connect() as conn:
        zone = conn.execute(
            select(tenants.c.time_zone, tenants.c.plan).where(
                tenants.c.tenant_id == tenant.tenant_id
            )
        ).one()
        people = conn.execute(
            select(end_users.c.user_id, end_users.c.role).where(
                end_users.c.tenant_id == tenant.tenant_id
            )
        ).all()
    assert tuple(zone) == ("Europe/Brussels", "pro")
    assert sorted(people) == sorted((u, r) for r, u in tenant.users.items())
    # A second pass applies nothing twice: the event ids are those of the first.
    again = rows_of(target.engine, {tenant.tenant_id})
    rebuild.replay_feed(
        portal, OPERATOR_TOKEN, lambda b: target.apply_batch_now(consumers.apply, b)
    )
    assert rows_of(target.engine, {tenant.tenant_id}) == again
    target.engine.dispose()


def test_rebuild_refuses_a_database_in_use(postgres, kafka_bootstrap, tmp_path) -> None:  # type: ignore[no-untyped-def]
    used = stats_service(postgres, kafka_bootstrap, tmp_path)
    tenant = uuid.uuid4()
    envelope = ev.Envelope.wrap(ev.TenantCreated(name="T", plan="hub"), tenant_id=tenant)
    used.apply_batch_now(consumers.apply, [Delivery(envelope, envelope.parsed(), "x:0:0")])
    assert rebuild.main(["--into", used.engine.url.render_as_string(hide_password=False)]) == 2
    used.engine.dispose()
