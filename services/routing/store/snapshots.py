"""Routing's own tables: the state of each tenant, written per batch with optimistic versioning,
and the outbox of its decisions, written in the same transaction.

The take deadline survives a restart because each conversation's ``assigned_at`` is
stored; the indexes are not stored, they are rebuilt on load.

Two instances must never both route one tenant. Partitions are split by the range
assignor so one instance owns a tenant on both topics; and each batch bumps the tenant's
``version`` only if it still holds the version it loaded, so a stale instance (during a
rebalance) fails, reloads and retries instead of deciding on old state.

The decisions go to Kafka through the outbox (:func:`enqueue_decisions`; the relay of
``shared.outbox`` publishes them after the commit), so what was published is always what
was saved. They must reach Kafka in order per tenant. One tenant's transactions already
commit one after the other (the version check), but the relay reads forward by ``seq``: if
a lower ``seq`` committed after a higher one it had read, a later decision of that tenant
could overtake it. So on PostgreSQL the writers of the outbox take turns from their insert
to their commit (``shared.outbox.enqueue`` takes a transaction advisory lock, for every
service's outbox): ``seq`` order is commit order. SQLite has one writer at a time anyway.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import orjson
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)

from services.routing.domain.choice import Candidate, Need
from services.routing.domain.state import TenantRouting, Tracked
from shared import topics
from shared.events import ConversationStatus, Envelope
from shared.outbox import enqueue, outbox_table
from shared.purge import delete_mentioning, delete_tenant_rows
from shared.readmodel import UtcDateTime

#: Migrated by Alembic (``services/routing/migrations``, ``shared.migrations``).
metadata = MetaData(info={"migrations": "services.routing.migrations"})

tenants = Table(
    "routing_tenants",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("routing_enabled", Boolean, nullable=False),
    Column("default_capacity", Integer, nullable=False),
    Column("version", Integer, nullable=False),
)
agents = Table(
    "routing_agents",
    metadata,
    Column("user_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False, index=True),
    Column("role", String(20), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("presence", String(10), nullable=False),
    Column("channel_ids", Text, nullable=False),
    Column("languages", Text, nullable=False),
    Column("competences", Text, nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("load", Integer, nullable=False),
    Column("idle_since", UtcDateTime),
    Column("own_capacity", Integer),
)
conversations = Table(
    "routing_conversations",
    metadata,
    Column("conversation_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False, index=True),
    Column("channel_id", String(36), nullable=False),
    Column("language", String(16), nullable=False),
    Column("competences", Text, nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("status", String(12), nullable=False),
    Column("assignee_id", String(36)),
    Column("rounds", Integer, nullable=False),
    Column("assigned_at", UtcDateTime),
    Column("dispatched", Boolean, nullable=False, default=False),
    # The sweep's question: which tenants have something assigned (not taken) since when.
    Index("ix_routing_conversations_due", "status", "assigned_at"),
)


#: The tenant's competences (``deleted``: a need naming it is met without it).
competences = Table(
    "routing_competences",
    metadata,
    Column("competence_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("deleted", Boolean, nullable=False),
)


#: Decisions waiting for Kafka; the relay publishes them in ``seq`` order and marks them.
outbox = outbox_table(metadata)


class StaleState(Exception):
    """Another instance changed this tenant's state since we loaded it: reload and retry."""


def _json(items: frozenset) -> str:
    return orjson.dumps(sorted(str(i) for i in items)).decode()


def load(conn: Connection, tenant_id: uuid.UUID) -> TenantRouting:
    key = str(tenant_id)
    row = conn.execute(select(tenants).where(tenants.c.tenant_id == key)).first()
    state = TenantRouting(tenant_id)
    if row is not None:
        state.routing_enabled = row.routing_enabled
        state.default_capacity = row.default_capacity
        state.version = row.version
    for a in conn.execute(select(agents).where(agents.c.tenant_id == key)):
        state.agents[uuid.UUID(a.user_id)] = Candidate(
            user_id=uuid.UUID(a.user_id),
            role=a.role,
            active=a.active,
            presence=a.presence,
            channel_ids=frozenset(uuid.UUID(c) for c in orjson.loads(a.channel_ids)),
            languages=frozenset(orjson.loads(a.languages)),
            competences=frozenset(orjson.loads(a.competences)),
            capacity=a.capacity,
            load=a.load,
            idle_since=a.idle_since,
            own_capacity=a.own_capacity,
        )
    for c in conn.execute(select(conversations).where(conversations.c.tenant_id == key)):
        state.conversations[uuid.UUID(c.conversation_id)] = Tracked(
            conversation_id=uuid.UUID(c.conversation_id),
            need=Need(uuid.UUID(c.channel_id), c.language, frozenset(orjson.loads(c.competences))),
            opened_at=c.opened_at,
            status=ConversationStatus(c.status),
            assignee_id=uuid.UUID(c.assignee_id) if c.assignee_id else None,
            rounds=c.rounds,
            assigned_at=c.assigned_at,
            dispatched=c.dispatched,
        )
    for k in conn.execute(select(competences).where(competences.c.tenant_id == key)):
        if k.deleted:
            state.deleted_competences.add(k.competence_id)
        else:
            state.competences[k.competence_id] = k.name
    state.reindex()
    return state


def version_of(conn: Connection, tenant_id: uuid.UUID) -> int:
    """The saved version of a tenant's state (0: never saved)."""
    found = conn.scalar(select(tenants.c.version).where(tenants.c.tenant_id == str(tenant_id)))
    return found or 0


def tenants_with_assignments_up_to(conn: Connection, moment: datetime) -> list[uuid.UUID]:
    """Tenants with a conversation assigned (not dispatched, not taken) at or before ``moment``."""
    rows = conn.execute(
        select(conversations.c.tenant_id)
        .where(
            conversations.c.status == ConversationStatus.ASSIGNED,
            conversations.c.dispatched.is_(False),
            conversations.c.assigned_at <= moment,
        )
        .distinct()
    )
    return sorted(uuid.UUID(row.tenant_id) for row in rows)


def save(conn: Connection, state: TenantRouting) -> None:
    """Write what changed, or raise :class:`StaleState` if someone else wrote first."""
    key = str(state.tenant_id)
    values = {
        "routing_enabled": state.routing_enabled,
        "default_capacity": state.default_capacity,
        "version": state.version + 1,
    }
    if state.version == 0:
        exists = conn.execute(select(tenants.c.version).where(tenants.c.tenant_id == key)).first()
        if exists is not None:
            raise StaleState(key)
        conn.execute(insert(tenants).values(tenant_id=key, **values))
    else:
        bumped = conn.execute(
            update(tenants)
            .where(tenants.c.tenant_id == key, tenants.c.version == state.version)
            .values(**values)
        ).rowcount
        if bumped != 1:
            raise StaleState(key)
    # Set-based: one DELETE and one executemany INSERT per table, however much changed.
    if state.dirty_agents:
        ids = [str(user_id) for user_id in state.dirty_agents]
        conn.execute(delete(agents).where(agents.c.user_id.in_(ids)))
        conn.execute(
            insert(agents),
            [
                {
                    "user_id": str(a.user_id),
                    "tenant_id": key,
                    "role": a.role,
                    "active": a.active,
                    "presence": a.presence,
                    "channel_ids": _json(a.channel_ids),
                    "languages": _json(a.languages),
                    "competences": _json(a.competences),
                    "capacity": a.capacity,
                    "load": a.load,
                    "idle_since": a.idle_since,
                    "own_capacity": a.own_capacity,
                }
                for a in (state.agents[user_id] for user_id in state.dirty_agents)
            ],
        )
    if state.dirty_conversations:
        ids = [str(c) for c in state.dirty_conversations]
        conn.execute(delete(conversations).where(conversations.c.conversation_id.in_(ids)))
        rows = [
            {
                "conversation_id": str(c.conversation_id),
                "tenant_id": key,
                "channel_id": str(c.need.channel_id),
                "language": c.need.language,
                "competences": _json(c.need.competences),
                "opened_at": c.opened_at,
                "status": c.status,
                "assignee_id": str(c.assignee_id) if c.assignee_id else None,
                "rounds": c.rounds,
                "assigned_at": c.assigned_at,
                "dispatched": c.dispatched,
            }
            for c in (state.conversations.get(i) for i in state.dirty_conversations)
            if c is not None  # closed ones are only deleted
        ]
        if rows:
            conn.execute(insert(conversations), rows)
    if state.dirty_competences:
        ids = list(state.dirty_competences)
        conn.execute(delete(competences).where(competences.c.competence_id.in_(ids)))
        conn.execute(
            insert(competences),
            [
                {
                    "competence_id": i,
                    "tenant_id": key,
                    "name": state.competences.get(i, ""),
                    "deleted": i in state.deleted_competences,
                }
                for i in ids
            ],
        )
    state.version += 1
    state.dirty_agents.clear()
    state.dirty_conversations.clear()
    state.dirty_competences.clear()


def enqueue_decisions(conn: Connection, decisions: list[Envelope]) -> None:
    """The decisions, to the outbox in this transaction (after the states they come from)."""
    enqueue(conn, outbox, topics.ROUTING_DECISIONS, *decisions)


def purge_tenant(conn: Connection, tenant_id: uuid.UUID) -> None:
    """Every row of the tenant, and its decisions in the outbox (SPEC §3.4)."""
    delete_tenant_rows(conn, metadata, tenant_id)
    delete_mentioning(conn, outbox, outbox.c.envelope, tenant_id)


def prune_sent(engine: Engine, before: datetime) -> int:
    """Forget the decisions published before ``before`` (Kafka keeps them, for its
    retention); the outbox keeps only what is unsent and what was sent lately."""
    with engine.begin() as conn:
        deleted = conn.execute(delete(outbox).where(outbox.c.sent_at < before)).rowcount
    return deleted or 0
