"""What billing told us, as the credit rules need it: licence fees per month, unpaid
invoices, and the credits already granted in a month.

"The licence fee invoiced for the previous month" is the sum of the ``licence_cents`` of
the invoices whose period is that month, minus those of its credit notes (a credit note's
amount is taken as a reduction whatever its sign). "Unpaid invoices" are issued invoices
with a positive total whose last payment record is not ``paid`` (the contract has no due
dates, so every issued, unpaid invoice counts).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Connection, select

from services.sla.domain.credits import Breach
from services.sla.domain.targets import Kind, Priority
from services.sla.store.tables import credits, invoices


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def previous_month(day: date) -> date:
    return date(day.year - 1, 12, 1) if day.month == 1 else date(day.year, day.month - 1, 1)


def licence_fee(conn: Connection, tenant_id: str, period: str) -> Decimal | None:
    """Euros invoiced as licence fee for ``period`` (YYYY-MM); None when nothing was invoiced."""
    rows = conn.execute(
        select(invoices.c.kind, invoices.c.licence_cents).where(
            invoices.c.tenant_id == tenant_id,
            invoices.c.period == period,
        )
    ).all()
    if not any(r.kind == "invoice" for r in rows):
        return None
    cents = sum(r.licence_cents if r.kind == "invoice" else -abs(r.licence_cents) for r in rows)
    return Decimal(max(cents, 0)) / 100


def has_unpaid_invoices(conn: Connection, tenant_id: str) -> bool:
    return (
        conn.scalar(
            select(invoices.c.invoice_id)
            .where(
                invoices.c.tenant_id == tenant_id,
                invoices.c.kind == "invoice",
                invoices.c.total_cents > 0,
                invoices.c.paid.is_(False),
            )
            .limit(1)
        )
        is not None
    )


def granted_breaches(conn: Connection, tenant_id: str, breach_month: str) -> list[Breach]:
    """The breaches already credited in ``breach_month`` (what the caps have used up)."""
    rows = conn.execute(
        select(
            credits.c.kind, credits.c.priority, credits.c.breached_at, credits.c.incident_id
        ).where(credits.c.tenant_id == tenant_id, credits.c.breach_month == breach_month)
    ).all()
    return [Breach(Kind(r.kind), Priority(r.priority), r.breached_at, r.incident_id) for r in rows]


def granted_cents(conn: Connection, tenant_id: str, breach_month: str) -> int:
    rows = conn.scalars(
        select(credits.c.amount_cents).where(
            credits.c.tenant_id == tenant_id, credits.c.breach_month == breach_month
        )
    )
    return int(sum(rows))
