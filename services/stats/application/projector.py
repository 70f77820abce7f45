"""Keeps the statistics view: what each event changes in facts and rollups.

The consumer (``consumers/``) dispatches each delivery of a batch, inside one
transaction: directory events at once (tenants' time zones and plans, end users' names),
conversation events collected and folded together at the end (``fold_conversations``):
the touched conversations are loaded, their events folded in, saved, and the rollups get
``after - before`` of each. When a tenant's time zone arrives after its conversations
(topics are read in parallel), that tenant's rollups are recomputed from its facts.
Deduplication by event id happens around this (``ConsumerService``), in the same
transaction.
"""

from __future__ import annotations

from sqlalchemy import Connection

from services.stats.domain import contributions as contrib
from services.stats.domain.buckets import zone
from services.stats.domain.facts import ConversationFact, apply_event, opened
from services.stats.store import access, end_users, metadata, tenants
from shared import events as ev
from shared.kafka import Delivery
from shared.purge import delete_tenant_rows


def tenant_created(
    conn: Connection, tenant_id: str, p: ev.TenantCreated, known: dict[str, str]
) -> bool:
    """The tenant's time zone and plan; whether its time zone is new or changed (then its
    rollups are recomputed). ``known``: the time zones as this batch has them so far."""
    row = {"tenant_id": tenant_id, "time_zone": p.time_zone, "plan": p.plan}
    access.upsert(conn, tenants, [row], add=False)
    if known.get(tenant_id) == p.time_zone:
        return False
    known[tenant_id] = p.time_zone
    return True


def end_user_named(
    conn: Connection, tenant_id: str, p: ev.EndUserCreated | ev.EndUserUpdated
) -> None:
    row = {
        "tenant_id": tenant_id,
        "user_id": str(p.user_id),
        "first_name": p.first_name,
        "last_name": p.last_name,
        "role": p.role,
        "deleted": False,
    }
    access.upsert(conn, end_users, [row], add=False)


def end_user_deleted(conn: Connection, tenant_id: str, p: ev.EndUserDeleted) -> None:
    """The name stays: past figures still name who handled them."""
    access.mark_end_user_deleted(conn, tenant_id, str(p.user_id))


def forget_tenant(conn: Connection, tenant_id: str) -> None:
    """A purged tenant's facts and rollups go (SPEC §3.4)."""
    delete_tenant_rows(conn, metadata, tenant_id)


def fold_conversations(conn: Connection, batch: list[Delivery], skip_rollups_of: set[str]) -> None:
    """The batch's conversation events folded into their facts, the rollups changed by
    the difference (not those of ``skip_rollups_of``: they are recomputed whole)."""
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
    tz = zone(access.time_zones(conn, [tenant_id]).get(tenant_id))
    facts = access.tenant_facts(conn, tenant_id)
    totals = contrib.total(contrib.contributions(f, tz) for f in facts.values())
    access.add_to_rollups(conn, totals)
