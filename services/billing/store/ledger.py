"""The SQL of the billing use cases: contracts, activation periods and credits read from
the view; invoices, their lines and payments written (never changed, only added to).

Plain functions on the use case's connection, so each use case stays one transaction
(``application.invoicing`` decides; this reads and writes).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, or_, select

from services.billing.domain.invoice import AvailableCredit, Line
from services.billing.domain.licence import ActivationPeriod
from services.billing.store.tables import (
    activations,
    invoice_lines,
    invoices,
    payments,
    service_credits,
    tenants,
)


def tenant_ids(conn: Connection) -> list[str]:
    return list(conn.scalars(select(tenants.c.tenant_id).order_by(tenants.c.tenant_id)))


def tenant_row(conn: Connection, tenant_id: str, lock: bool = False) -> Row | None:
    """The tenant's contract row; ``lock``: one issuer per tenant at a time (PostgreSQL)."""
    query = select(tenants).where(tenants.c.tenant_id == tenant_id)
    return conn.execute(query.with_for_update() if lock else query).first()


def activation_periods(
    conn: Connection, tenant_id: str, begin: datetime, end: datetime
) -> list[ActivationPeriod]:
    """The periods touching ``[begin, end)``: all a month's licence depends on."""
    rows = conn.execute(
        select(activations).where(
            activations.c.tenant_id == tenant_id,
            activations.c.activated_at < end,
            or_(activations.c.deactivated_at.is_(None), activations.c.deactivated_at >= begin),
        )
    ).all()
    return [ActivationPeriod(r.user_id, r.activated_at, r.deactivated_at) for r in rows]


def available_credits(conn: Connection, tenant_id: str, as_of: datetime) -> list[AvailableCredit]:
    """Granted credits not yet deducted in full, oldest first."""
    deducted = (
        select(invoice_lines.c.credit_id, func.sum(-invoice_lines.c.amount_cents).label("cents"))
        .where(invoice_lines.c.credit_id.is_not(None))
        .group_by(invoice_lines.c.credit_id)
        .subquery()
    )
    rows = conn.execute(
        select(service_credits, func.coalesce(deducted.c.cents, 0).label("deducted"))
        .outerjoin(deducted, deducted.c.credit_id == service_credits.c.credit_id)
        .where(service_credits.c.tenant_id == tenant_id, service_credits.c.granted_at <= as_of)
        .order_by(service_credits.c.granted_at, service_credits.c.credit_id)
    ).all()
    return [
        AvailableCredit(r.credit_id, r.incident_id, r.breach_month, r.amount_cents - r.deducted)
        for r in rows
        if r.amount_cents > r.deducted
    ]


def invoice_numbered(conn: Connection, tenant_id: str, number: str) -> str | None:
    """The id of the tenant's invoice with that number, if it was issued."""
    return conn.scalar(
        select(invoices.c.invoice_id).where(
            invoices.c.tenant_id == tenant_id, invoices.c.number == number
        )
    )


def invoice_row(conn: Connection, invoice_id: str) -> Row | None:
    return conn.execute(select(invoices).where(invoices.c.invoice_id == invoice_id)).first()


def credited(conn: Connection, invoice_id: str) -> tuple[int, int]:
    """Licence and total cents of the credit notes against an invoice so far (negative)."""
    row = conn.execute(
        select(
            func.coalesce(func.sum(invoices.c.licence_cents), 0),
            func.coalesce(func.sum(invoices.c.total_cents), 0),
        ).where(invoices.c.corrects_invoice_id == invoice_id)
    ).one()
    return row[0], row[1]


def credit_notes_in(conn: Connection, tenant_id: str, period: str) -> int:
    return conn.scalar(
        select(func.count()).where(
            invoices.c.tenant_id == tenant_id,
            invoices.c.period == period,
            invoices.c.kind == "credit_note",
        )
    )


def insert_invoice(conn: Connection, lines: Sequence[Line], **invoice: Any) -> None:
    """The invoice row (``invoice``: its columns) and its lines, numbered from 1."""
    conn.execute(insert(invoices).values(**invoice))
    conn.execute(
        insert(invoice_lines),
        [
            {
                "invoice_id": invoice["invoice_id"],
                "line_no": no,
                "kind": line.kind,
                "description": line.description,
                "quantity": line.quantity,
                "per": line.per,
                "unit_price_cents": str(line.unit_price_cents),
                "amount_cents": line.amount_cents,
                "credit_id": line.credit_id,
            }
            for no, line in enumerate(lines, start=1)
        ],
    )


def record_payment(conn: Connection, invoice_id: str, paid: bool, at: datetime) -> None:
    """The invoice's one payment record, replacing an earlier one."""
    conn.execute(delete(payments).where(payments.c.invoice_id == invoice_id))
    conn.execute(insert(payments).values(invoice_id=invoice_id, paid=paid, recorded_at=at))
