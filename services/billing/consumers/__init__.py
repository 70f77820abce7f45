"""Billing's view from the directory and SLA topics, one transaction per batch.

``ConsumerService`` records each applied ``event_id`` in the same transaction, so a
redelivered event is skipped; everything here depends only on the events (instants and
ids come from them, never from the clock), so replaying from position 0 into an empty
database gives the same rows. A tenant's activation also issues its set-up invoice
(one-time fees are invoiced in advance), written with its outbox row in this transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from services.billing.application.invoicing import contract_of, issue_setup_invoice, zone
from services.billing.domain.invoice import PriceList
from services.billing.store.tables import activations, metadata, outbox, service_credits, tenants
from shared import events as ev
from shared.dispatch import Handlers
from shared.kafka import Delivery
from shared.purge import delete_mentioning, delete_tenant_rows

#: The operator's own records, kept after a tenant's purge (SPEC §3.4 names content,
#: configuration and statistics; invoices, payments and credits are accounting records
#: that hold amounts, periods and ids, no personal data). ``tenants`` holds the contract
#: terms credit notes of those invoices are computed from.
KEPT_AFTER_PURGE = frozenset(
    {"invoices", "invoice_lines", "payments", "service_credits", "tenants"}
)

Applier = Callable[[Connection, list[Delivery]], bool]


@dataclass(frozen=True)
class Batch:
    """What every handler works in: the batch's transaction and the price list."""

    conn: Connection
    prices: PriceList


#: The one list of what billing reads; a handler returns whether it wrote to the outbox.
handlers: Handlers[Batch, bool] = Handlers()


def make_apply(prices: PriceList) -> Applier:
    """The batch applier; it returns whether it wrote to the outbox (to wake the relay)."""

    def apply(conn: Connection, batch: list[Delivery]) -> bool:
        context, wrote = Batch(conn, prices), False
        for delivery in batch:
            wrote = bool(handlers.dispatch(context, delivery)) or wrote
        return wrote

    return apply


@handlers.on(ev.TenantPurged)
def _purge(b: Batch, _p: ev.TenantPurged, d: Delivery) -> bool:
    """Retention ended: the end users' activation periods go; invoices stay (above)."""
    tenant_id = str(d.envelope.tenant_id)
    delete_tenant_rows(b.conn, metadata, tenant_id, keep=KEPT_AFTER_PURGE)
    delete_mentioning(b.conn, outbox, outbox.c.envelope, tenant_id)
    return False


@handlers.on(ev.EndUserDeactivated)
def _deactivated(b: Batch, p: ev.EndUserDeactivated, d: Delivery) -> bool:
    b.conn.execute(
        update(activations)
        .where(
            activations.c.tenant_id == str(d.envelope.tenant_id),
            activations.c.user_id == str(p.user_id),
            activations.c.deactivated_at.is_(None),
            activations.c.activated_at <= p.at,
        )
        .values(deactivated_at=p.at)
    )
    return False


@handlers.on(ev.ContractEnded)
def _contract_ended(b: Batch, p: ev.ContractEnded, d: Delivery) -> bool:
    b.conn.execute(
        update(tenants)
        .where(tenants.c.tenant_id == str(d.envelope.tenant_id))
        .values(contract_end=p.contract_end)
    )
    return False


@handlers.on(ev.ServiceCreditGranted)
def _credit_granted(b: Batch, p: ev.ServiceCreditGranted, d: Delivery) -> bool:
    known = b.conn.scalar(
        select(service_credits.c.credit_id).where(service_credits.c.credit_id == str(p.credit_id))
    )
    if known is None:  # granted once, whatever copies the SLA service sends
        b.conn.execute(
            insert(service_credits).values(
                credit_id=str(p.credit_id),
                tenant_id=str(d.envelope.tenant_id),
                incident_id=str(p.incident_id),
                breach_month=p.breach_month,
                amount_cents=p.amount_cents,
                granted_at=p.granted_at,
            )
        )
    return False


@handlers.on(ev.TenantCreated)
def _tenant_created(b: Batch, p: ev.TenantCreated, d: Delivery) -> bool:
    """A new tenant's contract, and its set-up invoice (one-time fees, in advance)."""
    conn, tenant_id, envelope = b.conn, str(d.envelope.tenant_id), d.envelope
    try:
        zone(p.time_zone)
    except ValueError as exc:  # nothing can be billed without the tenant's days
        raise ev.UnreadableEvent(str(exc)) from exc
    if conn.scalar(select(tenants.c.tenant_id).where(tenants.c.tenant_id == tenant_id)):
        return False
    start = p.contract_start or envelope.occurred_at
    if start.utcoffset() is None:
        raise ev.UnreadableEvent("TenantCreated.contract_start has no time zone")
    conn.execute(
        insert(tenants).values(
            tenant_id=tenant_id,
            plan=p.plan,
            sdk_option=p.sdk_option,
            minimum_end_users=max(p.minimum_end_users, 0),
            time_zone=p.time_zone,
            contract_start=start,
        )
    )
    row = conn.execute(select(tenants).where(tenants.c.tenant_id == tenant_id)).one()
    invoice = issue_setup_invoice(conn, tenant_id, contract_of(row), b.prices, envelope.occurred_at)
    return invoice is not None


@handlers.on(ev.EndUserActivated)
def _activated(b: Batch, p: ev.EndUserActivated, d: Delivery) -> bool:
    conn, tenant_id = b.conn, str(d.envelope.tenant_id)
    open_period = conn.scalar(
        select(activations.c.activated_at).where(
            activations.c.tenant_id == tenant_id,
            activations.c.user_id == str(p.user_id),
            activations.c.deactivated_at.is_(None),
        )
    )
    if open_period is not None:  # already active: the earlier activation stands
        return False
    same_instant = conn.scalar(
        select(activations.c.user_id).where(
            activations.c.user_id == str(p.user_id), activations.c.activated_at == p.at
        )
    )
    if same_instant is None:
        conn.execute(
            insert(activations).values(
                user_id=str(p.user_id), activated_at=p.at, tenant_id=tenant_id
            )
        )
    return False
