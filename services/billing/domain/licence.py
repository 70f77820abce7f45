"""The monthly licence fee and the early termination fee (Dutch §7.2.1, §7.2.2.1, §7.6.1).

The licence is invoiced monthly in arrears by the number of activated end users (any
role); each end user is billed only for the duration of its activation, and a change is
billed from the date it is registered (§7.3). The unit is therefore the local calendar
day in the tenant's time zone:

- A user counts on a day if it was active at any moment of that day, with activation
  periods half-open ``[activated_at, deactivated_at)``: a user deactivated exactly at
  local midnight does not count on the day that starts then. A user created and deleted
  the same day counts 1 for that day; a zero-length period ``[t, t)`` counts for the day
  containing ``t`` (it was registered that day). A user counts once a day however many
  periods it has that day.
- Going below the contractual minimum is allowed but the minimum keeps being billed, so
  each day bills ``max(active users, minimum)``.
- A month's licence = fee per user x sum of billed user-days / days in the month,
  in Decimal, rounded once to cents ROUND_HALF_UP at the end.
- Days before ``contract_start`` or from ``contract_end`` on are not billed (both dates
  are local days; ``contract_end`` is the first day without contract, i.e. half-open).

Early termination (§7.2.2.1): the licence for the required minimum number of end users
until the end of the current term; the initial term is 2 years from the start, then
yearly renewals. Partial months are prorated by days with the same per-day rule, each
month rounded to cents as it would have been invoiced.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
INITIAL_TERM_YEARS = 2
RENEWAL_YEARS = 1


@dataclass(frozen=True)
class ActivationPeriod:
    user_id: str
    activated_at: datetime
    deactivated_at: datetime | None = None  # None: still active

    def __post_init__(self) -> None:
        for moment in (self.activated_at, self.deactivated_at):
            if moment is not None and moment.utcoffset() is None:
                raise ValueError(f"activation instants must be timezone-aware: {moment!r}")
        if self.deactivated_at is not None and self.deactivated_at < self.activated_at:
            raise ValueError(f"user {self.user_id} deactivated before activation")

    def active_during(self, begin: datetime, end: datetime) -> bool:
        """Active at some moment of ``[begin, end)``; a zero-length period at its instant."""
        if self.deactivated_at == self.activated_at:
            return begin <= self.activated_at < end
        return self.activated_at < end and (
            self.deactivated_at is None or self.deactivated_at > begin
        )


@dataclass(frozen=True)
class LicenceDay:
    day: date
    active: int
    billed: int  # max(active, minimum), 0 outside the contract


@dataclass(frozen=True)
class LicenceLine:
    year: int
    month: int
    fee_per_user: Decimal
    minimum_users: int
    days: tuple[LicenceDay, ...]
    amount: Decimal

    @property
    def billed_user_days(self) -> int:
        return sum(day.billed for day in self.days)


def days_of_month(year: int, month: int) -> list[date]:
    return [date(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1)]


def _local_day(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """The instants ``[start, end)`` of a local day; 23 or 25 hours on DST days."""
    return (datetime.combine(day, time(), tz), datetime.combine(day + timedelta(1), time(), tz))


def active_users_per_day(
    periods: Iterable[ActivationPeriod], year: int, month: int, tz: tzinfo
) -> dict[date, int]:
    """Distinct users active at any moment of each local day of the month."""
    periods = list(periods)
    counts = {}
    for day in days_of_month(year, month):
        begin, end = _local_day(day, tz)
        counts[day] = len({p.user_id for p in periods if p.active_during(begin, end)})
    return counts


def _in_contract(day: date, contract_start: date | None, contract_end: date | None) -> bool:
    return (contract_start is None or day >= contract_start) and (
        contract_end is None or day < contract_end
    )


def monthly_licence(
    periods: Iterable[ActivationPeriod],
    year: int,
    month: int,
    tz: tzinfo,
    fee_per_user: Decimal,
    minimum_users: int,
    contract_start: date | None = None,
    contract_end: date | None = None,
) -> LicenceLine:
    """The licence for one month: fee x sum of max(active, minimum) per day / days."""
    if minimum_users < 0:
        raise ValueError(f"minimum_users must not be negative, got {minimum_users}")
    days = tuple(
        LicenceDay(
            day,
            active,
            max(active, minimum_users) if _in_contract(day, contract_start, contract_end) else 0,
        )
        for day, active in active_users_per_day(periods, year, month, tz).items()
    )
    exact = fee_per_user * sum(d.billed for d in days) / len(days)
    amount = exact.quantize(CENT, rounding=ROUND_HALF_UP)
    return LicenceLine(year, month, fee_per_user, minimum_users, days, amount)


def _add_years(day: date, years: int) -> date:
    """The anniversary; a 29 February start has its anniversary on 1 March."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date(day.year + years, 3, 1)


def term_end(contract_start: date, on: date) -> date:
    """The first day after the term running on ``on`` (2 years, then yearly renewals).

    A day that is exactly a term boundary belongs to the term that ends there, so a
    termination taking effect on the anniversary is not early.
    """
    if on < contract_start:
        raise ValueError(f"{on} precedes the contract start {contract_start}")
    years = INITIAL_TERM_YEARS
    while _add_years(contract_start, years) < on:
        years += RENEWAL_YEARS
    return _add_years(contract_start, years)


def _months(first: date, end: date) -> Iterable[tuple[int, int]]:
    """The (year, month) pairs touched by the days ``[first, end)``."""
    year, month = first.year, first.month
    while date(year, month, 1) < end:
        yield year, month
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def early_termination_fee(
    contract_start: date, termination: date, fee_per_user: Decimal, minimum_users: int
) -> Decimal:
    """The licence for ``minimum_users`` from ``termination`` to the end of the term.

    ``termination`` is the first day without service. Each month is billed as
    ``monthly_licence`` would (per day, rounded per month) and the months are summed.
    """
    end = term_end(contract_start, termination)
    lines = (  # no users, only the minimum: the time zone plays no part
        monthly_licence((), y, m, UTC, fee_per_user, minimum_users, termination, end)
        for y, m in _months(termination, end)
    )
    return sum((line.amount for line in lines), Decimal("0.00"))
