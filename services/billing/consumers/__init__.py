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

from sqlalchemy import Connection

from services.billing.application.invoicing import contract_of, issue_setup_invoice, zone
from services.billing.domain.invoice import PriceList
from services.billing.store import inputs
from services.billing.store.inputs import KEPT_AFTER_PURGE
from services.billing.store.ledger import Books
from shared import events as ev
from shared.dispatch import Handlers
from shared.kafka import Delivery

__all__ = ["KEPT_AFTER_PURGE", "Batch", "handlers", "make_apply"]

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
    """Retention ended: the end users' activation periods go; invoices stay
    (``KEPT_AFTER_PURGE``)."""
    inputs.purge_tenant(b.conn, str(d.envelope.tenant_id))
    return False


@handlers.on(ev.EndUserDeactivated)
def _deactivated(b: Batch, p: ev.EndUserDeactivated, d: Delivery) -> bool:
    inputs.end_activation(b.conn, str(d.envelope.tenant_id), str(p.user_id), p.at)
    return False


@handlers.on(ev.ContractEnded)
def _contract_ended(b: Batch, p: ev.ContractEnded, d: Delivery) -> bool:
    inputs.end_contract(b.conn, str(d.envelope.tenant_id), p.contract_end)
    return False


@handlers.on(ev.ServiceCreditGranted)
def _credit_granted(b: Batch, p: ev.ServiceCreditGranted, d: Delivery) -> bool:
    if not inputs.credit_known(b.conn, str(p.credit_id)):  # granted once, whatever copies
        inputs.insert_credit(  # the SLA service sends
            b.conn,
            credit_id=str(p.credit_id),
            tenant_id=str(d.envelope.tenant_id),
            incident_id=str(p.incident_id),
            breach_month=p.breach_month,
            amount_cents=p.amount_cents,
            granted_at=p.granted_at,
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
    if inputs.tenant_known(conn, tenant_id):
        return False
    start = p.contract_start or envelope.occurred_at
    if start.utcoffset() is None:
        raise ev.UnreadableEvent("TenantCreated.contract_start has no time zone")
    row = inputs.insert_tenant(
        conn,
        tenant_id=tenant_id,
        plan=p.plan,
        sdk_option=p.sdk_option,
        minimum_end_users=max(p.minimum_end_users, 0),
        time_zone=p.time_zone,
        contract_start=start,
    )
    invoice = issue_setup_invoice(
        Books(conn), tenant_id, contract_of(row), b.prices, envelope.occurred_at
    )
    return invoice is not None


@handlers.on(ev.EndUserActivated)
def _activated(b: Batch, p: ev.EndUserActivated, d: Delivery) -> bool:
    conn, tenant_id, user_id = b.conn, str(d.envelope.tenant_id), str(p.user_id)
    if inputs.open_activation(conn, tenant_id, user_id) is not None:
        return False  # already active: the earlier activation stands
    if not inputs.activation_at(conn, user_id, p.at):
        inputs.insert_activation(conn, tenant_id, user_id, p.at)
    return False
