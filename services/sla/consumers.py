"""What the SLA service learns from others: tenants and contract ends (directory topic),
invoices and payments (billing topic). One transaction per batch (``ConsumerService``);
every change is idempotent, so a redelivered or re-published event changes nothing."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select, update

from services.sla.store.tables import invoices, metadata, outbox, tenants
from shared import events as ev
from shared.events import UnreadableEvent
from shared.kafka import Delivery
from shared.purge import PURGED, delete_mentioning, delete_tenant_rows

WANTED = frozenset(
    {"TenantCreated", "ContractEnded", "InvoiceIssued", "InvoicePaymentRecorded", PURGED}
)


def apply(conn: Connection, batch: list[Delivery]) -> None:
    for d in batch:
        p, tenant_id = d.payload, str(d.envelope.tenant_id)
        if isinstance(p, ev.TenantPurged):
            _purge(conn, tenant_id)
        elif isinstance(p, ev.TenantCreated):
            _tenant_created(conn, tenant_id, p)
        elif isinstance(p, ev.ContractEnded):
            conn.execute(
                update(tenants)
                .where(tenants.c.tenant_id == tenant_id)
                .values(contract_end=p.contract_end)
            )
        elif isinstance(p, ev.InvoiceIssued):
            _invoice_issued(conn, tenant_id, p)
        elif isinstance(p, ev.InvoicePaymentRecorded):
            _payment_recorded(conn, tenant_id, p)


def _tenant_created(conn: Connection, tenant_id: str, p: ev.TenantCreated) -> None:
    known = conn.scalar(select(tenants.c.plan).where(tenants.c.tenant_id == tenant_id))
    if known is None:
        conn.execute(insert(tenants).values(tenant_id=tenant_id, plan=p.plan))


def _invoice_issued(conn: Connection, tenant_id: str, p: ev.InvoiceIssued) -> None:
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


def _payment_recorded(conn: Connection, tenant_id: str, p: ev.InvoicePaymentRecorded) -> None:
    """Billing publishes an invoice before its payments, on the tenant's partition, so a
    payment for an invoice never seen cannot be placed (its period is unknown)."""
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


def _purge(conn: Connection, tenant_id: str) -> None:
    """Retention ended (SPEC §3.4): incidents, stop clocks, credits and the copies of
    invoices go, and so do the tenant's events in the outbox."""
    delete_tenant_rows(conn, metadata, tenant_id)
    delete_mentioning(conn, outbox, outbox.c.envelope, tenant_id)
