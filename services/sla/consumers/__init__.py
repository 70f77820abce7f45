"""What the SLA service learns from others: tenants and contract ends (directory topic),
invoices and payments (billing topic). One transaction per batch (``ConsumerService``);
every change is idempotent, so a redelivered or re-published event changes nothing."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select, update

from services.sla.store.tables import invoices, metadata, outbox, tenants
from shared import events as ev
from shared.dispatch import Handlers
from shared.events import UnreadableEvent
from shared.kafka import Delivery
from shared.purge import delete_mentioning, delete_tenant_rows

handlers: Handlers[Connection, None] = Handlers()


def apply(conn: Connection, batch: list[Delivery]) -> None:
    for delivery in batch:
        handlers.dispatch(conn, delivery)


@handlers.on(ev.TenantPurged)
def _purge(conn: Connection, _p: ev.TenantPurged, d: Delivery) -> None:
    """Retention ended (SPEC §3.4): incidents, stop clocks, credits and the copies of
    invoices go, and so do the tenant's events in the outbox."""
    tenant_id = str(d.envelope.tenant_id)
    delete_tenant_rows(conn, metadata, tenant_id)
    delete_mentioning(conn, outbox, outbox.c.envelope, tenant_id)


@handlers.on(ev.ContractEnded)
def _contract_ended(conn: Connection, p: ev.ContractEnded, d: Delivery) -> None:
    conn.execute(
        update(tenants)
        .where(tenants.c.tenant_id == str(d.envelope.tenant_id))
        .values(contract_end=p.contract_end)
    )


@handlers.on(ev.TenantCreated)
def _tenant_created(conn: Connection, p: ev.TenantCreated, d: Delivery) -> None:
    tenant_id = str(d.envelope.tenant_id)
    known = conn.scalar(select(tenants.c.plan).where(tenants.c.tenant_id == tenant_id))
    if known is None:
        conn.execute(insert(tenants).values(tenant_id=tenant_id, plan=p.plan))


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
        conn.execute(
            update(invoices).where(invoices.c.invoice_id == str(p.invoice_id)).values(issued)
        )
    else:
        conn.execute(insert(invoices).values(invoice_id=str(p.invoice_id), paid=False, **issued))


@handlers.on(ev.InvoicePaymentRecorded)
def _payment_recorded(conn: Connection, p: ev.InvoicePaymentRecorded, d: Delivery) -> None:
    """Billing publishes an invoice before its payments, on the tenant's partition, so a
    payment for an invoice never seen cannot be placed (its period is unknown)."""
    tenant_id = str(d.envelope.tenant_id)
    if not _owner(conn, str(p.invoice_id), tenant_id):
        raise UnreadableEvent(f"payment for unknown invoice {p.invoice_id}")
    conn.execute(
        update(invoices).where(invoices.c.invoice_id == str(p.invoice_id)).values(paid=p.paid)
    )


def _owner(conn: Connection, invoice_id: str, tenant_id: str) -> bool:
    """Whether the invoice is known (False: new); another tenant's id is never applied."""
    owner = conn.scalar(select(invoices.c.tenant_id).where(invoices.c.invoice_id == invoice_id))
    if owner is not None and owner != tenant_id:
        raise UnreadableEvent(f"invoice {invoice_id} belongs to another tenant")
    return owner is not None
