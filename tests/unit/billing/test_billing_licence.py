"""Monthly licence per active user-day, the minimum, and the early termination fee (§7).

Every expected amount is computed by hand in the comment beside it:
licence = fee x sum over the month's days of max(active users, minimum) / days in month.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from services.billing.domain.licence import (
    ActivationPeriod,
    active_users_per_day,
    early_termination_fee,
    monthly_licence,
    term_end,
)

BRUSSELS = ZoneInfo("Europe/Brussels")
LONG_AGO = datetime(2025, 1, 1, 9, tzinfo=BRUSSELS)


def bx(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BRUSSELS)


def user(uid: str, since: datetime = LONG_AGO, until: datetime | None = None) -> ActivationPeriod:
    return ActivationPeriod(uid, since, until)


def users(count: int) -> list[ActivationPeriod]:
    return [user(f"u{i}") for i in range(count)]


@pytest.mark.parametrize(
    ("periods", "year", "month", "fee", "minimum", "amount"),
    [
        # September: 30 days. a, b all month; c from the 16th = 15 days.
        # 20 x (2 x 30 + 15) / 30 = 50.00
        pytest.param(
            [*users(2), user("c", bx(2026, 9, 16, 9))],
            2026,
            9,
            "20.00",
            0,
            "50.00",
            id="mid-month-activation",
        ),
        # deactivated at midnight starting the 11th: days 1..10 = 10; 20 x 10 / 30
        pytest.param(
            [user("a", until=bx(2026, 9, 11))], 2026, 9, "20.00", 0, "6.67", id="deactivation"
        ),
        # November (30): a all month; b active 1..10 and again 21..30 = 20 days.
        # 30 x (30 + 20) / 30 = 50.00
        pytest.param(
            [
                user("a"),
                user("b", until=bx(2026, 11, 10, 12)),
                user("b", bx(2026, 11, 21, 9)),
            ],
            2026,
            11,
            "30.00",
            0,
            "50.00",
            id="deactivated-and-reactivated",
        ),
        # b off and on again the same day: counts once that day, so 30 days. 30 x 60 / 30
        pytest.param(
            [
                user("a"),
                user("b", until=bx(2026, 11, 10, 12)),
                user("b", bx(2026, 11, 10, 15)),
            ],
            2026,
            11,
            "30.00",
            0,
            "60.00",
            id="reactivated-same-day",
        ),
        # 2 users, minimum 5: 5 billed every day. 20 x 5 x 30 / 30 = 100.00
        pytest.param(users(2), 2026, 9, "20.00", 5, "100.00", id="below-minimum"),
        # minimum 3; 2 users on days 1..15, 4 users on 16..30: 3 x 15 + 4 x 15 = 105.
        # 10 x 105 / 30 = 35.00
        pytest.param(
            [*users(2), user("c", bx(2026, 9, 16)), user("d", bx(2026, 9, 16))],
            2026,
            9,
            "10.00",
            3,
            "35.00",
            id="crossing-minimum",
        ),
        # February 2026 (28 days): from the 15th = 14 days. 28 x 14 / 28 = 14.00
        pytest.param([user("a", bx(2026, 2, 15))], 2026, 2, "28.00", 0, "14.00", id="feb-28"),
        # February 2028 (29 days): from the 15th = 15 days. 29 x 15 / 29 = 15.00
        pytest.param([user("a", bx(2028, 2, 15))], 2028, 2, "29.00", 0, "15.00", id="feb-29"),
        # January (31 days): from the 22nd = 10 days. 31 x 10 / 31 = 10.00
        pytest.param([user("a", bx(2026, 1, 22))], 2026, 1, "31.00", 0, "10.00", id="jan-31"),
        # 31 days, from the 17th = 15 days: 20 x 15 / 31 = 9.677... -> 9.68
        pytest.param([user("a", bx(2026, 1, 17))], 2026, 1, "20.00", 0, "9.68", id="rounding"),
        # whole 31-day month with 3 users: 20 x 93 / 31 = 60.00
        pytest.param(users(3), 2026, 1, "20.00", 0, "60.00", id="full-31-day-month"),
        # created 10:00 and deleted 14:00 on the 10th: 1 day. 30 x 1 / 30 = 1.00
        pytest.param(
            [user("a", bx(2026, 9, 10, 10), bx(2026, 9, 10, 14))],
            2026,
            9,
            "30.00",
            0,
            "1.00",
            id="created-and-deleted-same-day",
        ),
        # zero-length period [t, t) counts for the day containing t
        pytest.param(
            [user("a", bx(2026, 9, 10, 10), bx(2026, 9, 10, 10))],
            2026,
            9,
            "30.00",
            0,
            "1.00",
            id="zero-length",
        ),
        # 25-hour 2026-10-25: 00:30Z-01:30Z is 02:30 CEST - 02:30 CET, one local day.
        # October has 31 days: 31 x 1 / 31 = 1.00
        pytest.param(
            [
                user(
                    "a",
                    datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
                    datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
                )
            ],
            2026,
            10,
            "31.00",
            0,
            "1.00",
            id="dst-day",
        ),
        # no users in a month after activation with a zero minimum
        pytest.param([], 2026, 9, "20.00", 0, "0.00", id="nobody"),
    ],
)
def test_monthly_licence(
    periods: list[ActivationPeriod], year: int, month: int, fee: str, minimum: int, amount: str
) -> None:
    line = monthly_licence(periods, year, month, BRUSSELS, Decimal(fee), minimum)
    assert line.amount == Decimal(amount)
    assert line.amount.as_tuple().exponent == -2


def test_breakdown_per_day() -> None:
    # the spec example: c activated on the 16th
    line = monthly_licence(
        [*users(2), user("c", bx(2026, 9, 16, 9))], 2026, 9, BRUSSELS, Decimal("20.00"), 0
    )
    assert len(line.days) == 30
    assert [d.active for d in line.days] == [2] * 15 + [3] * 15
    assert line.billed_user_days == 75


def test_minimum_shown_per_day() -> None:
    line = monthly_licence(users(2), 2026, 9, BRUSSELS, Decimal("20.00"), 5)
    assert {(d.active, d.billed) for d in line.days} == {(2, 5)}


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        # 00:30Z-01:30Z on 25 Oct: 02:30 CEST .. 02:30 CET, only the 25th
        pytest.param(
            (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
            {date(2026, 10, 25): 1},
            id="inside-25-hour-day",
        ),
        # 22:30Z-23:30Z on 24 Oct is 00:30-01:30 CEST on the 25th, not the 24th
        pytest.param(
            (
                datetime(2026, 10, 24, 22, 30, tzinfo=UTC),
                datetime(2026, 10, 24, 23, 30, tzinfo=UTC),
            ),
            {date(2026, 10, 25): 1},
            id="utc-day-before",
        ),
        # 22:30Z on 25 Oct is 23:30 CET, still the 25th (the day ends at 23:00Z)
        pytest.param(
            (
                datetime(2026, 10, 25, 22, 30, tzinfo=UTC),
                datetime(2026, 10, 25, 22, 45, tzinfo=UTC),
            ),
            {date(2026, 10, 25): 1},
            id="last-hour-of-long-day",
        ),
        # 23:00Z on 25 Oct is midnight starting the 26th
        pytest.param(
            (datetime(2026, 10, 25, 23, 0, tzinfo=UTC), datetime(2026, 10, 25, 23, 1, tzinfo=UTC)),
            {date(2026, 10, 26): 1},
            id="next-midnight",
        ),
        # spring forward: 29 Mar has 23 hours; 22:30Z is 00:30 CEST on the 30th
        pytest.param(
            (datetime(2026, 3, 29, 22, 30, tzinfo=UTC), datetime(2026, 3, 29, 22, 45, tzinfo=UTC)),
            {date(2026, 3, 30): 1},
            id="short-day",
        ),
    ],
)
def test_active_users_per_local_day(
    period: tuple[datetime, datetime], expected: dict[date, int]
) -> None:
    start, end = period
    counts = active_users_per_day([user("a", start, end)], start.year, start.month, BRUSSELS)
    assert {day: n for day, n in counts.items() if n} == expected


def test_counts_cover_every_day_of_the_month() -> None:
    counts = active_users_per_day([], 2028, 2, BRUSSELS)
    assert list(counts) == [date(2028, 2, d) for d in range(1, 30)]


@pytest.mark.parametrize(
    ("start", "end", "fee", "minimum", "amount"),
    [
        # contract from 16 Sep, nobody yet, minimum 5: 5 x 15 days; 20 x 75 / 30 = 50.00
        pytest.param(date(2026, 9, 16), None, "20.00", 5, "50.00", id="from-contract-start"),
        # contract ended on the 11th (first day without): days 1..10 x 3; 30 x 30 / 30
        pytest.param(None, date(2026, 9, 11), "30.00", 3, "30.00", id="until-contract-end"),
    ],
)
def test_days_outside_the_contract_are_not_billed(
    start: date | None, end: date | None, fee: str, minimum: int, amount: str
) -> None:
    line = monthly_licence([], 2026, 9, BRUSSELS, Decimal(fee), minimum, start, end)
    assert line.amount == Decimal(amount)


def test_activation_periods_refuse_naive_or_reversed() -> None:
    with pytest.raises(ValueError):
        ActivationPeriod("a", datetime(2026, 9, 1))
    with pytest.raises(ValueError):
        ActivationPeriod("a", bx(2026, 9, 2), bx(2026, 9, 1))


# --- early termination ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "on", "end"),
    [
        (date(2026, 3, 1), date(2026, 3, 1), date(2028, 3, 1)),
        (date(2026, 3, 1), date(2027, 12, 31), date(2028, 3, 1)),
        (date(2026, 3, 1), date(2028, 3, 1), date(2028, 3, 1)),  # boundary: ends there
        (date(2026, 3, 1), date(2028, 3, 2), date(2029, 3, 1)),  # first renewal
        (date(2024, 3, 1), date(2026, 9, 16), date(2027, 3, 1)),
        (date(2028, 2, 29), date(2029, 1, 1), date(2030, 3, 1)),  # leap-day start
    ],
)
def test_term_end(start: date, on: date, end: date) -> None:
    assert term_end(start, on) == end


@pytest.mark.parametrize(
    ("start", "termination", "amount"),
    [
        # year 1: term ends 2028-03-01. Sep 16..30 = 15/30 x 100 = 50;
        # Oct 2026..Feb 2028 = 17 months x 100 = 1700. Total 1750.00
        pytest.param(date(2026, 3, 1), date(2026, 9, 16), "1750.00", id="year-1"),
        # terminated on the start day: the whole 24 months x 100
        pytest.param(date(2026, 3, 1), date(2026, 3, 1), "2400.00", id="on-start-day"),
        # renewal year (2026-03-01..2027-03-01): 50 + Oct..Feb 5 x 100 = 550.00
        pytest.param(date(2024, 3, 1), date(2026, 9, 16), "550.00", id="renewal-year"),
        # renewal year from its 2nd day: Mar 2..31 = 30/31 x 100 = 96.774 -> 96.77;
        # Apr 2026..Feb 2027 = 11 x 100. Total 1196.77
        pytest.param(date(2024, 3, 1), date(2026, 3, 2), "1196.77", id="renewal-prorated"),
        # exactly at the end of the initial term: not early, nothing due
        pytest.param(date(2024, 3, 1), date(2026, 3, 1), "0.00", id="at-term-end"),
    ],
)
def test_early_termination_fee(start: date, termination: date, amount: str) -> None:
    # fee 20.00 per user, minimum 5 users: 100.00 for a full month
    assert early_termination_fee(start, termination, Decimal("20.00"), 5) == Decimal(amount)


def test_termination_before_start_is_an_error() -> None:
    with pytest.raises(ValueError):
        early_termination_fee(date(2026, 3, 1), date(2026, 2, 1), Decimal("20.00"), 5)
