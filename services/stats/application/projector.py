"""Keeps the statistics view: what each event changes in facts and rollups.

The consumer (``consumers/``) dispatches each delivery of a batch, inside one
transaction: directory events at once (tenants' time zones and plans, end users' names),
conversation events collected and folded together at the end (``fold_conversations``):
the touched conversations are loaded, their events folded in, saved, and the rollups get
``after - before`` of each. When a tenant's time zone arrives after its conversations
(topics are read in parallel), that tenant's rollups are recomputed from its facts.
Deduplication by event id happens around this (``ConsumerService``), in the same
transaction; the reads and writes go through the batch's ``Facts`` (``application.ports``).
"""

from __future__ import annotations

from services.stats.application.ports import Facts
from services.stats.domain import contributions as contrib
from services.stats.domain.buckets import zone
from services.stats.domain.facts import ConversationFact, apply_event, opened
from shared import events as ev
from shared.events import id_text
from shared.kafka import Delivery


def tenant_created(
    facts: Facts, tenant_id: str, p: ev.TenantCreated, known: dict[str, str]
) -> bool:
    """The tenant's time zone and plan; whether its time zone is new or changed (then its
    rollups are recomputed). ``known``: the time zones as this batch has them so far."""
    facts.save_tenant(tenant_id, p.time_zone, p.plan)
    if known.get(tenant_id) == p.time_zone:
        return False
    known[tenant_id] = p.time_zone
    return True


def end_user_named(facts: Facts, tenant_id: str, p: ev.EndUserCreated | ev.EndUserUpdated) -> None:
    facts.save_end_user(tenant_id, str(p.user_id), p.first_name, p.last_name, p.role)


def end_user_deleted(facts: Facts, tenant_id: str, p: ev.EndUserDeleted) -> None:
    """The name stays: past figures still name who handled them."""
    facts.mark_end_user_deleted(tenant_id, str(p.user_id))


def forget_tenant(facts: Facts, tenant_id: str) -> None:
    """A purged tenant's facts and rollups go (SPEC §3.4)."""
    facts.forget_tenant(tenant_id)


def fold_conversations(view: Facts, batch: list[Delivery], skip_rollups_of: set[str]) -> None:
    """The batch's conversation events folded into their facts, the rollups changed by
    the difference (not those of ``skip_rollups_of``: they are recomputed whole)."""
    # Each delivery's conversation and tenant as text, once (UUID.__str__ is slow Python).
    keyed = [
        (d.payload, str(d.payload.conversation_id), id_text(d.envelope.tenant_id))  # type: ignore[attr-defined]
        for d in batch
    ]
    facts = view.load_facts({cid for _, cid, _ in keyed})
    tenants = {tenant_id for _, _, tenant_id in keyed} | {f.tenant_id for f in facts.values()}
    zones = {t: zone(name) for t, name in view.time_zones(tenants).items()}

    def tz(fact: ConversationFact):  # type: ignore[no-untyped-def]
        return zones.get(fact.tenant_id) or zone(None)

    before = contrib.total(contrib.contributions(f, tz(f)) for f in facts.values())
    changed: dict[str, ConversationFact] = {}
    for p, cid, tenant_id in keyed:
        fact = facts.get(cid)
        if fact is not None and fact.tenant_id != tenant_id:
            continue  # another tenant's conversation id: never mixed
        if isinstance(p, ev.ConversationOpened):
            if fact is None:
                facts[cid] = changed[cid] = opened(tenant_id, p)
        elif fact is not None:  # events of a conversation never opened here are not counted
            apply_event(fact, p)
            changed[cid] = fact
    view.save_facts(changed.values())
    after = contrib.total(contrib.contributions(f, tz(f)) for f in facts.values())
    moved = contrib.changes(before, after)
    view.add_to_rollups(
        {key: row for key, row in moved.items() if key[1][0] not in skip_rollups_of}
    )


def recompute_rollups(view: Facts, tenant_id: str) -> None:
    """The tenant's rollups from its facts alone (time zone arrived late, or a repair)."""
    view.clear_rollups(tenant_id)
    tz = zone(view.time_zones([tenant_id]).get(tenant_id))
    facts = view.tenant_facts(tenant_id)
    totals = contrib.total(contrib.contributions(f, tz) for f in facts.values())
    view.add_to_rollups(totals)
