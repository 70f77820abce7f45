"""Keeps the statistics view: one batch of events in, facts and rollups changed, one transaction.

Per batch: directory events first (tenants' time zones and plans, end users' names), then
the touched conversations are loaded, their events folded in, saved, and the rollups get
``after - before`` of each. When a tenant's time zone arrives after its conversations
(topics are read in parallel), that tenant's rollups are recomputed from its facts.
Deduplication by event id happens around this (``ConsumerService``), in the same
transaction.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from services.stats.domain import contributions as contrib
from services.stats.domain.buckets import zone
from services.stats.domain.facts import CONVERSATION_EVENTS, ConversationFact, apply_event, opened
from services.stats.store import access, end_users, tenants
from shared import events as ev
from shared.kafka import Delivery
from shared.purge import PURGED, delete_tenant_rows

DIRECTORY_EVENTS = frozenset(
    {"TenantCreated", "EndUserCreated", "EndUserUpdated", "EndUserDeleted"}
)
WANTED = DIRECTORY_EVENTS | CONVERSATION_EVENTS | {PURGED}


def apply(conn: Connection, batch: list[Delivery]) -> None:
    if any(d.envelope.type == PURGED for d in batch):
        batch = _purge(conn, batch)
    rezoned = _apply_directory(conn, [d for d in batch if d.envelope.type in DIRECTORY_EVENTS])
    conversation = [d for d in batch if d.envelope.type in CONVERSATION_EVENTS]
    if conversation:
        _apply_conversations(conn, conversation, skip_rollups_of=rezoned)
    for tenant_id in rezoned:
        recompute_rollups(conn, tenant_id)


def _apply_directory(conn: Connection, batch: list[Delivery]) -> set[str]:
    """Tenants and end users; returns the tenants whose time zone is new or changed."""
    if not batch:
        return set()
    rezoned: set[str] = set()
    known = access.time_zones(conn, (str(d.envelope.tenant_id) for d in batch))
    for d in batch:
        p, tenant_id = d.payload, str(d.envelope.tenant_id)
        if isinstance(p, ev.TenantCreated):
            row = {"tenant_id": tenant_id, "time_zone": p.time_zone, "plan": p.plan}
            access.upsert(conn, tenants, [row], add=False)
            if known.get(tenant_id) != p.time_zone:
                rezoned.add(tenant_id)
                known[tenant_id] = p.time_zone
        elif isinstance(p, ev.EndUserCreated | ev.EndUserUpdated):
            row = {
                "tenant_id": tenant_id,
                "user_id": str(p.user_id),
                "first_name": p.first_name,
                "last_name": p.last_name,
                "role": p.role,
                "deleted": False,
            }
            access.upsert(conn, end_users, [row], add=False)
        elif isinstance(p, ev.EndUserDeleted):
            # The name stays: past figures still name who handled them.
            conn.execute(
                end_users.update()
                .where(end_users.c.tenant_id == tenant_id, end_users.c.user_id == str(p.user_id))
                .values(deleted=True)
            )
    return rezoned


def _apply_conversations(
    conn: Connection, batch: list[Delivery], skip_rollups_of: set[str]
) -> None:
    ids = {str(d.payload.conversation_id) for d in batch}  # type: ignore[attr-defined]
    facts = access.load_facts(conn, ids)
    zones = {t: zone(name) for t, name in access.time_zones(conn, _tenants(batch, facts)).items()}

    def tz(fact: ConversationFact):  # type: ignore[no-untyped-def]
        return zones.get(fact.tenant_id) or zone(None)

    before = contrib.total(contrib.contributions(f, tz(f)) for f in facts.values())
    changed: dict[str, ConversationFact] = {}
    for d in batch:
        p, tenant_id = d.payload, str(d.envelope.tenant_id)
        cid = str(p.conversation_id)  # type: ignore[attr-defined]
        fact = facts.get(cid)
        if fact is not None and fact.tenant_id != tenant_id:
            continue  # another tenant's conversation id: never mixed
        if isinstance(p, ev.ConversationOpened):
            if fact is None:
                facts[cid] = changed[cid] = opened(tenant_id, p)
        elif fact is not None:  # events of a conversation never opened here are not counted
            apply_event(fact, p)
            changed[cid] = fact
    access.save_facts(conn, changed.values())
    after = contrib.total(contrib.contributions(f, tz(f)) for f in facts.values())
    moved = contrib.changes(before, after)
    access.add_to_rollups(
        conn, {key: row for key, row in moved.items() if key[1][0] not in skip_rollups_of}
    )


def _tenants(batch: list[Delivery], facts: dict[str, ConversationFact]) -> set[str]:
    return {str(d.envelope.tenant_id) for d in batch} | {f.tenant_id for f in facts.values()}


def recompute_rollups(conn: Connection, tenant_id: str) -> None:
    """The tenant's rollups from its facts alone (time zone arrived late, or a repair)."""
    access.clear_rollups(conn, tenant_id)
    tz = zone(conn.scalar(select(tenants.c.time_zone).where(tenants.c.tenant_id == tenant_id)))
    facts = access.tenant_facts(conn, tenant_id)
    totals = contrib.total(contrib.contributions(f, tz) for f in facts.values())
    access.add_to_rollups(conn, totals)


def _purge(conn: Connection, batch: list[Delivery]) -> list[Delivery]:
    """A purged tenant's facts and rollups go (SPEC §3.4), with what the batch still
    carried for it; the rest of the batch is applied as usual."""
    from services.stats.store import metadata

    purged = {d.envelope.tenant_id for d in batch if d.envelope.type == PURGED}
    for tenant_id in purged:
        delete_tenant_rows(conn, metadata, tenant_id)
    return [d for d in batch if d.envelope.tenant_id not in purged]
