"""The stats consumer: the handler table of what it reads, and the batch applier.

``ConsumerService`` hands each batch of new deliveries to :func:`apply` inside one
transaction that also records the batch's event ids (idempotence). A purged tenant's
other events in the batch are dropped first; then each delivery goes to its handler:
directory events change the view at once, conversation events are collected and folded
together at the end (``projector.fold_conversations``), after which the tenants whose
time zone changed get their rollups recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection

from services.stats.application import projector
from services.stats.domain.facts import CONVERSATION_EVENTS
from services.stats.store.view import View
from shared import events as ev
from shared.dispatch import Handlers
from shared.kafka import Delivery


@dataclass
class Batch:
    """One batch in the applying: its transaction's view and what the handlers gathered."""

    view: View
    #: Tenants' time zones as this batch has them so far (read on first need).
    known: dict[str, str] = field(default_factory=dict)
    #: Tenants whose time zone is new or changed: their rollups are recomputed.
    rezoned: set[str] = field(default_factory=set)
    conversations: list[Delivery] = field(default_factory=list)


handlers: Handlers[Batch, None] = Handlers()


def apply(conn: Connection, batch: list[Delivery]) -> None:
    purged = {d.envelope.tenant_id for d in batch if isinstance(d.payload, ev.TenantPurged)}
    if purged:  # what the batch still carried for a purged tenant is not counted
        batch = [
            d
            for d in batch
            if d.envelope.tenant_id not in purged or isinstance(d.payload, ev.TenantPurged)
        ]
    state = Batch(View(conn))
    for delivery in batch:
        handlers.dispatch(state, delivery)
    if state.conversations:
        projector.fold_conversations(state.view, state.conversations, skip_rollups_of=state.rezoned)
    for tenant_id in state.rezoned:
        projector.recompute_rollups(state.view, tenant_id)


@handlers.on(ev.TenantPurged)
def _purged(b: Batch, _p: ev.TenantPurged, d: Delivery) -> None:
    projector.forget_tenant(b.view, str(d.envelope.tenant_id))


@handlers.on(ev.TenantCreated)
def _tenant_created(b: Batch, p: ev.TenantCreated, d: Delivery) -> None:
    tenant_id = str(d.envelope.tenant_id)
    if tenant_id not in b.known:
        b.known.update(b.view.time_zones([tenant_id]))
    if projector.tenant_created(b.view, tenant_id, p, b.known):
        b.rezoned.add(tenant_id)


@handlers.on(ev.EndUserCreated, ev.EndUserUpdated)
def _end_user_named(b: Batch, p: ev.EndUserCreated | ev.EndUserUpdated, d: Delivery) -> None:
    projector.end_user_named(b.view, str(d.envelope.tenant_id), p)


@handlers.on(ev.EndUserDeleted)
def _end_user_deleted(b: Batch, p: ev.EndUserDeleted, d: Delivery) -> None:
    projector.end_user_deleted(b.view, str(d.envelope.tenant_id), p)


@handlers.on(*(getattr(ev, name) for name in sorted(CONVERSATION_EVENTS)))
def _conversation_event(b: Batch, _p: ev.Payload, d: Delivery) -> None:
    b.conversations.append(d)
