"""What goes on an invoice (Dutch §7.6.1): one-time fees in advance, the month in arrears.

Money rule (the only one): prices are ``Decimal`` euro cents; every invoice line is
computed exactly as ``unit price x quantity / per`` and rounded **once** to whole cents,
``ROUND_HALF_UP``; an invoice's total is the sum of its rounded lines. Amounts stored,
shown and published are integer cents.

- Set-up invoice, at activation: the set-up fee, and the SDK option's set-up fee.
- Monthly invoice, after the month: the licence (``licence.monthly_licence``: per local
  day, ``max(active users, minimum)``), the SDK option prorated by the contract's days
  in the month the same way (as one user always billed), then the granted service
  credits not yet deducted, oldest first, never taking the total below zero (what is
  left of a credit waits for the next invoice).
- A contract runs on local days ``[start_day, end_day)`` in the tenant's time zone: the
  day of the start instant, to the day after the end instant unless the end is exactly
  a local midnight (a day served at any moment is a day billed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from services.billing.domain.licence import (
    ActivationPeriod,
    days_of_month,
    early_termination_fee,
    monthly_licence,
    term_end,
)

LineKind = Literal["licence", "sdk_option", "setup", "sdk_setup", "service_credit", "correction"]
PLAN_NAMES = {"hub": "Hub", "pro": "Pro", "bot": "Bot"}
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
HUNDRED = Decimal(100)


def to_cents(exact: Decimal) -> int:
    """The one rounding of the service: to whole cents, half up."""
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month, written ``YYYY-MM``."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period:
        match = _PERIOD.match(text)
        if match is None or not 2000 <= int(match[1]) <= 2999:
            raise ValueError(f"a period is YYYY-MM (2000-2999), got {text!r}")
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def of(cls, day: date) -> Period:
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return days_of_month(self.year, self.month)[-1]

    def next(self) -> Period:
        return Period.of(self.last_day + timedelta(days=1))

    def previous(self) -> Period:
        return Period.of(self.first_day - timedelta(days=1))

    def bounds(self, tz: tzinfo) -> tuple[datetime, datetime]:
        """The instants ``[start, end)`` of the month in a time zone."""
        return _midnight(self.first_day, tz), _midnight(self.next().first_day, tz)

    def closed(self, tz: tzinfo, as_of: datetime) -> bool:
        """The month has ended in that time zone (an invoice may be issued)."""
        return as_of >= self.bounds(tz)[1]


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(), tz)


@dataclass(frozen=True)
class PriceList:
    licence_fee_cents: Mapping[str, Decimal]  # per plan: per activated end user per month
    sdk_option_fee_cents: Decimal  # per month
    setup_fee_cents: Decimal  # one-time
    sdk_setup_fee_cents: Decimal  # one-time

    def licence_fee(self, plan: str) -> Decimal:
        return self.licence_fee_cents[plan]


@dataclass(frozen=True)
class Contract:
    plan: str
    sdk_option: bool
    minimum_end_users: int
    tz: tzinfo
    start_day: date
    end_day: date | None = None  # first local day without contract

    @classmethod
    def from_instants(
        cls,
        plan: str,
        sdk_option: bool,
        minimum_end_users: int,
        tz: tzinfo,
        start: datetime,
        end: datetime | None = None,
    ) -> Contract:
        return cls(plan, sdk_option, minimum_end_users, tz, local_day(start, tz), end_day(end, tz))

    def covers_some_of(self, period: Period) -> bool:
        return self.start_day <= period.last_day and (
            self.end_day is None or self.end_day > period.first_day
        )


def local_day(moment: datetime, tz: tzinfo) -> date:
    return moment.astimezone(tz).date()


def end_day(end: datetime | None, tz: tzinfo) -> date | None:
    """The first local day without contract: a day served at any moment is billed."""
    if end is None:
        return None
    local = end.astimezone(tz)
    return local.date() if local.time() == time() else local.date() + timedelta(days=1)


@dataclass(frozen=True)
class Line:
    """``amount_cents = round(unit_price_cents x quantity / per)``, shown as it was computed."""

    kind: LineKind
    description: str
    quantity: int
    per: int
    unit_price_cents: Decimal
    amount_cents: int
    credit_id: str | None = None


@dataclass(frozen=True)
class AvailableCredit:
    """A granted service credit with what is left of it to deduct."""

    credit_id: str
    incident_id: str
    breach_month: str
    remaining_cents: int


def setup_lines(prices: PriceList, contract: Contract) -> list[Line]:
    """The one-time fees, invoiced in advance at activation (lines of 0 are left out)."""
    fees: list[tuple[LineKind, str, Decimal]] = [("setup", "Set-up fee", prices.setup_fee_cents)]
    if contract.sdk_option:
        fees.append(("sdk_setup", "Set-up fee, website chat SDK", prices.sdk_setup_fee_cents))
    return [Line(kind, text, 1, 1, fee, to_cents(fee)) for kind, text, fee in fees if to_cents(fee)]


def licence_line(
    periods: Iterable[ActivationPeriod], period: Period, contract: Contract, prices: PriceList
) -> Line:
    fee = prices.licence_fee(contract.plan)
    line = monthly_licence(
        periods,
        period.year,
        period.month,
        contract.tz,
        fee / HUNDRED,  # euros in, rounded once to euro cents
        contract.minimum_end_users,
        contract.start_day,
        contract.end_day,
    )
    return Line(
        "licence",
        f"Licence {PLAN_NAMES.get(contract.plan, contract.plan)} {period}: "
        f"{line.billed_user_days} billed user-days (minimum {contract.minimum_end_users}) "
        f"/ {len(line.days)} days",
        line.billed_user_days,
        len(line.days),
        fee,
        int(line.amount * HUNDRED),
    )


def sdk_option_line(period: Period, contract: Contract, prices: PriceList) -> Line:
    """The SDK option per day of contract, like one user always billed."""
    fee = prices.sdk_option_fee_cents
    line = monthly_licence(
        (),
        period.year,
        period.month,
        contract.tz,
        fee / HUNDRED,
        1,
        contract.start_day,
        contract.end_day,
    )
    return Line(
        "sdk_option",
        f"Website chat SDK option {period}: {line.billed_user_days} / {len(line.days)} days",
        line.billed_user_days,
        len(line.days),
        fee,
        int(line.amount * HUNDRED),
    )


def deduct_credits(subtotal_cents: int, credits: Sequence[AvailableCredit]) -> list[Line]:
    """Credits oldest first, each as far as the total allows; the rest waits."""
    lines, left = [], subtotal_cents
    for credit in credits:
        taken = min(credit.remaining_cents, left)
        if taken <= 0:
            continue
        left -= taken
        lines.append(
            Line(
                "service_credit",
                f"Service credit, incident {credit.incident_id} ({credit.breach_month})",
                1,
                1,
                Decimal(-taken),
                -taken,
                credit.credit_id,
            )
        )
    return lines


def monthly_lines(
    periods: Iterable[ActivationPeriod],
    period: Period,
    contract: Contract,
    prices: PriceList,
    credits: Sequence[AvailableCredit] = (),
) -> list[Line]:
    """The month's invoice: licence, SDK option, then the service credits deducted."""
    lines = [licence_line(periods, period, contract, prices)]
    if contract.sdk_option:
        lines.append(sdk_option_line(period, contract, prices))
    subtotal = sum(line.amount_cents for line in lines)
    return lines + deduct_credits(subtotal, credits)


@dataclass(frozen=True)
class EarlyTermination:
    term_end: date
    amount_cents: int


def early_termination(contract: Contract, termination: date, prices: PriceList) -> EarlyTermination:
    """§7.2.2.1: the licence for the minimum number of users until the end of the term."""
    fee = prices.licence_fee(contract.plan) / HUNDRED
    amount = early_termination_fee(contract.start_day, termination, fee, contract.minimum_end_users)
    return EarlyTermination(term_end(contract.start_day, termination), int(amount * HUNDRED))
