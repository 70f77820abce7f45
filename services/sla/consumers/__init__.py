"""What the SLA service learns from others: tenants and contract ends (directory topic),
invoices and payments (billing topic). One transaction per batch (``ConsumerService``);
every change is idempotent, so a redelivered or re-published event changes nothing."""

from __future__ import annotations

from sqlalchemy import Connection

from services.sla.store import inputs
from shared import events as ev
from shared.dispatch import Handlers
from shared.events import UnreadableEvent
from shared.kafka import Delivery

handlers: Handlers[Connection, None] = Handlers()


def apply(conn: Connection, batch: list[Delivery]) -> None:
    for delivery in batch:
        handlers.dispatch(conn, delivery)


@handlers.on(ev.TenantPurged)
def _purge(conn: Connection, _p: ev.TenantPurged, d: Delivery) -> None:
    """Retention ended (SPEC §3.4): incidents, stop clocks, credits and the copies of
    invoices go, and so do the tenant's events in the outbox."""
    inputs.purge_tenant(conn, str(d.envelope.tenant_id))


@handlers.on(ev.ContractEnded)
def _contract_ended(conn: Connection, p: ev.ContractEnded, d: Delivery) -> None:
    inputs.end_contract(conn, str(d.envelope.tenant_id), p.contract_end)


@handlers.on(ev.TenantCreated)
def _tenant_created(conn: Connection, p: ev.TenantCreated, d: Delivery) -> None:
    inputs.add_tenant(conn, str(d.envelope.tenant_id), p.plan)


@handlers.on(ev.InvoiceIssued)
def _invoice_issued(conn: Connection, p: ev.InvoiceIssued, d: Delivery) -> None:
    tenant_id = str(d.envelope.tenant_id)
    issued = {
        "tenant_id": tenant_id,
        "kind": p.kind,
        "period": p.period,
        "licence_cents": p.licence_cents,
        "total_cents": p.total_cents,
        "issued_at": p.issued_at,
    }
    if _owner(conn, str(p.invoice_id), tenant_id):
        inputs.update_invoice(conn, str(p.invoice_id), **issued)
    else:
        inputs.insert_invoice(conn, str(p.invoice_id), paid=False, **issued)


@handlers.on(ev.InvoicePaymentRecorded)
def _payment_recorded(conn: Connection, p: ev.InvoicePaymentRecorded, d: Delivery) -> None:
    """Billing publishes an invoice before its payments, on the tenant's partition, so a
    payment for an invoice never seen cannot be placed (its period is unknown)."""
    tenant_id = str(d.envelope.tenant_id)
    if not _owner(conn, str(p.invoice_id), tenant_id):
        raise UnreadableEvent(f"payment for unknown invoice {p.invoice_id}")
    inputs.update_invoice(conn, str(p.invoice_id), paid=p.paid)


def _owner(conn: Connection, invoice_id: str, tenant_id: str) -> bool:
    """Whether the invoice is known (False: new); another tenant's id is never applied."""
    owner = inputs.invoice_owner(conn, invoice_id)
    if owner is not None and owner != tenant_id:
        raise UnreadableEvent(f"invoice {invoice_id} belongs to another tenant")
    return owner is not None
