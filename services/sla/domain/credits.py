"""Service credits for SLA breaches and the rules for claiming them (Dutch §6.2, §6.6).

Amounts: a percentage of the licence fee invoiced for the month before the breach month,
per validated incident with a breach: response P1 10 %, P2 5 %; restore P1 20 %, P2 15 %.
The Dutch P2 rows say "voor elk gevalideerd P1-incident"; that is a copy of the P1 row
(the rows are headed "P2-incidenten" and valid for P2 incidents), so P2 breaches count.

Caps: each of the four SLA rows is capped at 25 % of that previous-month fee; all credits
of one calendar month together at the licence fees paid for that month (the footnote's
"de maand in kwestie"). The month a breach belongs to is the Brussels calendar month of
the instant the target was exceeded.

Money is Decimal euros. Each incident's credit is rounded to cents ROUND_HALF_UP on its
own (a credit is claimed and granted per incident), as is the 25 % cap; the row and month
caps then apply to those cent amounts, so every figure printed is already in cents.

SLO breaches (P3/P4) never give credits; Hub tenants have no service levels at all.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from services.sla.domain.clock import BRUSSELS
from services.sla.domain.incident import Measurement
from services.sla.domain.targets import Kind, Priority

Plan = Literal["hub", "pro", "bot"]  # as shared.events.Plan
ClaimDecision = Literal["granted", "late", "unpaid_invoices", "in_breach", "lapsed"]

CENT = Decimal("0.01")
RATES: dict[tuple[Kind, Priority], Decimal] = {
    (Kind.RESPONSE, Priority.P1): Decimal("0.10"),
    (Kind.RESPONSE, Priority.P2): Decimal("0.05"),
    (Kind.RESTORE, Priority.P1): Decimal("0.20"),
    (Kind.RESTORE, Priority.P2): Decimal("0.15"),
}
ROW_CAP = Decimal("0.25")
CLAIM_MONTHS = 3


@dataclass(frozen=True)
class Breach:
    kind: Kind
    priority: Priority  # the corrected priority the incident was measured against
    breached_at: datetime
    incident_id: str = ""


@dataclass(frozen=True)
class CreditRow:
    kind: Kind
    priority: Priority
    incidents: int
    rate: Decimal
    uncapped: Decimal  # sum of the per-incident credits
    amount: Decimal  # after the 25 % row cap


@dataclass(frozen=True)
class MonthlyCredits:
    year: int
    month: int
    rows: tuple[CreditRow, ...]
    uncapped_total: Decimal  # sum of the capped rows, before the monthly cap
    total: Decimal


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def breaches_of(measurement: Measurement) -> list[Breach]:
    """The SLA and SLO breaches of one measured incident, with the instant of each."""
    return [
        Breach(kpi.kind, kpi.priority, kpi.breached_at, measurement.incident_id)
        for kpi in (measurement.response, measurement.restore)
        if kpi.breached and kpi.breached_at is not None
    ]


def in_month(moment: datetime, year: int, month: int, tz: ZoneInfo = BRUSSELS) -> bool:
    """Whether ``moment`` falls in the given calendar month in ``tz``."""
    if moment.tzinfo is None:
        raise ValueError(f"breach instant must be timezone-aware, got {moment!r}")
    local = moment.astimezone(tz)
    return (local.year, local.month) == (year, month)


def _row(kind: Kind, priority: Priority, count: int, previous_month_fee: Decimal) -> CreditRow:
    """One SLA row: a cent-rounded credit per incident, capped at 25 % of the fee."""
    rate = RATES[(kind, priority)]
    uncapped = count * _cents(rate * previous_month_fee)
    amount = min(uncapped, _cents(ROW_CAP * previous_month_fee))
    return CreditRow(kind, priority, count, rate, uncapped, amount)


def credits_for_month(
    plan: Plan,
    breaches: Iterable[Breach],
    year: int,
    month: int,
    previous_month_fee: Decimal,
    month_fee: Decimal | None = None,
    tz: ZoneInfo = BRUSSELS,
) -> MonthlyCredits:
    """Credits for the validated breaches that fall in ``year``-``month``.

    ``previous_month_fee`` is the licence fee invoiced for the month before (the base of
    every percentage); ``month_fee`` is the licence fee paid for the month itself (the
    monthly cap), defaulting to ``previous_month_fee``. Pass only validated breaches:
    admissibility of a claim is ``claim_decision``'s business.
    """
    if plan not in ("hub", "pro", "bot"):
        raise ValueError(f"unknown plan {plan!r}")
    if plan == "hub":
        return MonthlyCredits(year, month, (), Decimal("0.00"), Decimal("0.00"))
    counts = dict.fromkeys(RATES, 0)
    for breach in breaches:
        key = (breach.kind, breach.priority)
        if key in counts and in_month(breach.breached_at, year, month, tz):
            counts[key] += 1
    rows = tuple(_row(kind, prio, n, previous_month_fee) for (kind, prio), n in counts.items())
    uncapped_total = sum((row.amount for row in rows), Decimal("0.00"))
    cap = previous_month_fee if month_fee is None else month_fee
    return MonthlyCredits(year, month, rows, uncapped_total, min(uncapped_total, _cents(cap)))


def claim_deadline(breach_month: date) -> date:
    """The last day a claim may arrive: the end of the 3rd month after the breach month."""
    index = breach_month.year * 12 + breach_month.month - 1 + CLAIM_MONTHS
    year, month = divmod(index, 12)
    return date(year, month + 1, calendar.monthrange(year, month + 1)[1])


def claim_decision(
    breach_month: date,
    claimed_on: date,
    has_unpaid_invoices: bool,
    contract_end: date | None,
    granted_on: date | None,
    customer_in_breach: bool = False,
) -> ClaimDecision:
    """Whether a credit for a breach in ``breach_month`` (any day of it) is due.

    Rules, checked in this order, the first that fails decides:
    late: written claim after the end of the 3rd month following the breach month;
    unpaid_invoices: the customer has unpaid Proximus invoices;
    in_breach: the customer was in breach of the agreement at the time of the incident;
    lapsed: the contract expired or was terminated (``contract_end``, the first day
    without contract; None while it runs) before the credit was granted - a credit not
    yet granted (``granted_on`` None) or granted on/after that day is void.
    """
    if claimed_on < breach_month.replace(day=1):
        raise ValueError(f"claim on {claimed_on} precedes the breach month {breach_month}")
    if claimed_on > claim_deadline(breach_month):
        return "late"
    if has_unpaid_invoices:
        return "unpaid_invoices"
    if customer_in_breach:
        return "in_breach"
    if contract_end is not None and (granted_on is None or granted_on >= contract_end):
        return "lapsed"
    return "granted"
