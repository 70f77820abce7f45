"""The SQL of the SLA consumer: what it keeps of the directory topic (tenants, contract
ends) and of the billing topic (invoices and their payment state), and a tenant's purge.

Plain functions on the batch's connection, so a batch stays one transaction
(``consumers`` decides what each event means; this reads and writes).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from services.sla.store.tables import invoices, metadata, outbox, tenants
from shared.purge import delete_mentioning, delete_tenant_rows


def purge_tenant(conn: Connection, tenant_id: str) -> None:
    """Every row of the tenant, and its events in the outbox."""
    delete_tenant_rows(conn, metadata, tenant_id)
    delete_mentioning(conn, outbox, outbox.c.envelope, tenant_id)


def end_contract(conn: Connection, tenant_id: str, contract_end: datetime) -> None:
    conn.execute(
        update(tenants).where(tenants.c.tenant_id == tenant_id).values(contract_end=contract_end)
    )


def add_tenant(conn: Connection, tenant_id: str, plan: str) -> None:
    """The tenant and its plan, unless it is known already (the first plan stands)."""
    known = conn.scalar(select(tenants.c.plan).where(tenants.c.tenant_id == tenant_id))
    if known is None:
        conn.execute(insert(tenants).values(tenant_id=tenant_id, plan=plan))


def invoice_owner(conn: Connection, invoice_id: str) -> str | None:
    """The tenant of the invoice copied under this id, if any."""
    return conn.scalar(select(invoices.c.tenant_id).where(invoices.c.invoice_id == invoice_id))


def update_invoice(conn: Connection, invoice_id: str, **columns: Any) -> None:
    conn.execute(update(invoices).where(invoices.c.invoice_id == invoice_id).values(**columns))


def insert_invoice(conn: Connection, invoice_id: str, **columns: Any) -> None:
    conn.execute(insert(invoices).values(invoice_id=invoice_id, **columns))
