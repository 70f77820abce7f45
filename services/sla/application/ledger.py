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

from services.sla.application.ports import Records
from services.sla.domain.credits import Breach
from services.sla.domain.targets import Kind, Priority


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def previous_month(day: date) -> date:
    return date(day.year - 1, 12, 1) if day.month == 1 else date(day.year, day.month - 1, 1)


def licence_fee(records: Records, tenant_id: str, period: str) -> Decimal | None:
    """Euros invoiced as licence fee for ``period`` (YYYY-MM); None when nothing was invoiced."""
    rows = records.licence_lines(tenant_id, period)
    if not any(r.kind == "invoice" for r in rows):
        return None
    cents = sum(r.licence_cents if r.kind == "invoice" else -abs(r.licence_cents) for r in rows)
    return Decimal(max(cents, 0)) / 100


def has_unpaid_invoices(records: Records, tenant_id: str) -> bool:
    return any(
        r.kind == "invoice" and r.total_cents > 0 and not r.paid
        for r in records.payment_states(tenant_id)
    )


def granted_breaches(records: Records, tenant_id: str, breach_month: str) -> list[Breach]:
    """The breaches already credited in ``breach_month`` (what the caps have used up)."""
    return [
        Breach(Kind(r.kind), Priority(r.priority), r.breached_at, r.incident_id)
        for r in records.granted_in(tenant_id, breach_month)
    ]


def granted_cents(records: Records, tenant_id: str, breach_month: str) -> int:
    return int(sum(r.amount_cents for r in records.granted_in(tenant_id, breach_month)))
