"""The SQL behind ``application.ledger``: billing's invoices as this service copied them
(consumers), and the credits it granted. The rules that read these rows are there."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, select

from services.sla.store.tables import credits, invoices


def licence_lines(conn: Connection, tenant_id: str, period: str) -> list[Row[Any]]:
    """``kind`` and ``licence_cents`` of the tenant's invoices and credit notes of ``period``."""
    return list(
        conn.execute(
            select(invoices.c.kind, invoices.c.licence_cents).where(
                invoices.c.tenant_id == tenant_id, invoices.c.period == period
            )
        ).all()
    )


def payment_states(conn: Connection, tenant_id: str) -> list[Row[Any]]:
    """``kind``, ``total_cents`` and ``paid`` of each of the tenant's invoices."""
    return list(
        conn.execute(
            select(invoices.c.kind, invoices.c.total_cents, invoices.c.paid).where(
                invoices.c.tenant_id == tenant_id
            )
        ).all()
    )


def granted_in(conn: Connection, tenant_id: str, breach_month: str) -> list[Row[Any]]:
    """The credits granted for breaches of ``breach_month`` (what the caps have used up)."""
    return list(
        conn.execute(
            select(
                credits.c.kind,
                credits.c.priority,
                credits.c.breached_at,
                credits.c.incident_id,
                credits.c.amount_cents,
            ).where(credits.c.tenant_id == tenant_id, credits.c.breach_month == breach_month)
        ).all()
    )
