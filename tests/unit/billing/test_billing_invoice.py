"""An invoice's lines from the price list, the contract and the credits (SPEC §7).

Prices in euro cents: licence Hub 1500, Pro 2500, Bot 3500 per user per month; SDK option
5000 a month; set-up 25000, SDK set-up 10000. Each line = round(price x quantity / per),
half up, once. Every expected amount is worked out beside its case.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from services.billing.domain.invoice import (
    AvailableCredit,
    Contract,
    Period,
    PriceList,
    deduct_credits,
    early_termination,
    end_day,
    monthly_lines,
    setup_lines,
    to_cents,
)
from services.billing.domain.licence import ActivationPeriod

BRUSSELS = ZoneInfo("Europe/Brussels")
PRICES = PriceList(
    licence_fee_cents={"hub": Decimal(1500), "pro": Decimal(2500), "bot": Decimal(3500)},
    sdk_option_fee_cents=Decimal(5000),
    setup_fee_cents=Decimal(25000),
    sdk_setup_fee_cents=Decimal(10000),
)


def bx(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=BRUSSELS)


def contract(
    plan: str = "pro",
    sdk: bool = False,
    minimum: int = 0,
    start: date = date(2025, 1, 1),
    end: date | None = None,
) -> Contract:
    return Contract(plan, sdk, minimum, BRUSSELS, start, end)


def users(count: int, since: datetime = bx(2025, 1, 1, 9)) -> list[ActivationPeriod]:
    return [ActivationPeriod(f"u{i}", since) for i in range(count)]


@pytest.mark.parametrize(
    ("periods", "period", "terms", "amounts"),
    [
        # Contract from 16 Sep, minimum 5, 3 users from then, SDK option. September: 30 days.
        # licence: 15 days x max(3, 5) = 75 user-days; 2500 x 75 / 30 = 6250
        # SDK: 15 days; 5000 x 15 / 30 = 2500
        pytest.param(
            users(3, bx(2026, 9, 16, 9)),
            Period(2026, 9),
            contract(sdk=True, minimum=5, start=date(2026, 9, 16)),
            [6250, 2500],
            id="first-month-below-minimum-with-sdk",
        ),
        # Hub, 1 user from 17 Jan: 15 of 31 days. 1500 x 15 / 31 = 725.806 -> 726
        pytest.param(
            users(1, bx(2026, 1, 17, 8)),
            Period(2026, 1),
            contract("hub"),
            [726],
            id="rounded-once-to-cents",
        ),
        # Bot, 4 users all February 2028 (29 days): 3500 x 4 x 29 / 29 = 14000
        pytest.param(users(4), Period(2028, 2), contract("bot"), [14000], id="leap-february"),
        # Contract ended 11 Sep (first day without): days 1..10 x max(2, 3) = 30 user-days,
        # 2500 x 30 / 30 = 2500; SDK 10 days: 5000 x 10 / 30 = 1666.67 -> 1667
        pytest.param(
            users(2),
            Period(2026, 9),
            contract(sdk=True, minimum=3, end=date(2026, 9, 11)),
            [2500, 1667],
            id="last-month-of-contract",
        ),
    ],
)
def test_monthly_lines(
    periods: list[ActivationPeriod], period: Period, terms: Contract, amounts: list[int]
) -> None:
    lines = monthly_lines(periods, period, terms, PRICES)
    assert [line.amount_cents for line in lines] == amounts
    assert lines[0].kind == "licence"


def test_licence_line_shows_how_it_was_computed() -> None:
    (line,) = monthly_lines(users(3, bx(2026, 9, 16, 9)), Period(2026, 9), contract(), PRICES)
    assert (line.quantity, line.per, line.unit_price_cents, line.amount_cents) == (
        45,
        30,
        Decimal(2500),
        3750,  # 2500 x 45 / 30
    )


@pytest.mark.parametrize(
    ("exact", "cents"),
    [
        (Decimal("1000.5"), 1001),  # half up, not to even
        (Decimal("1001.5"), 1002),
        (Decimal("725.806"), 726),
        (Decimal("725.499"), 725),
        (Decimal("-3000"), -3000),
    ],
)
def test_the_rounding_rule(exact: Decimal, cents: int) -> None:
    assert to_cents(exact) == cents


def test_a_fraction_of_a_cent_in_a_price_is_rounded_on_the_line() -> None:
    prices = PriceList({"pro": Decimal("1000.5")}, Decimal(0), Decimal(0), Decimal(0))
    # one user the whole of February 2026: 1000.5 x 28 / 28 = 1000.5 -> 1001
    (line,) = monthly_lines(users(1), Period(2026, 2), contract(), prices)
    assert line.amount_cents == 1001


def credit(cid: str, cents: int) -> AvailableCredit:
    return AvailableCredit(cid, f"incident-{cid}", "2026-08", cents)


@pytest.mark.parametrize(
    ("subtotal", "credits", "deducted"),
    [
        (8750, [credit("a", 3000)], [-3000]),
        # oldest first; the second only as far as the total allows (8750 - 3000 = 5750)
        (8750, [credit("a", 3000), credit("b", 7000)], [-3000, -5750]),
        # nothing left for the third
        (1000, [credit("a", 600), credit("b", 400), credit("c", 50)], [-600, -400]),
        (0, [credit("a", 600)], []),
        (5000, [], []),
    ],
)
def test_service_credits_are_deducted_never_below_zero(
    subtotal: int, credits: list[AvailableCredit], deducted: list[int]
) -> None:
    lines = deduct_credits(subtotal, credits)
    assert [line.amount_cents for line in lines] == deducted
    assert all(line.kind == "service_credit" and line.credit_id for line in lines)


def test_credits_come_after_the_charges_on_the_monthly_invoice() -> None:
    # 4 Pro users all September: 2500 x 4 = 10000; a 1250 credit -> total 8750
    lines = monthly_lines(users(4), Period(2026, 9), contract(), PRICES, [credit("a", 1250)])
    assert [(line.kind, line.amount_cents) for line in lines] == [
        ("licence", 10000),
        ("service_credit", -1250),
    ]


@pytest.mark.parametrize(
    ("sdk", "setup", "amounts"),
    [
        (True, Decimal(25000), [25000, 10000]),
        (False, Decimal(25000), [25000]),
        (False, Decimal(0), []),  # a price of 0 leaves no line (and no invoice)
    ],
)
def test_setup_lines(sdk: bool, setup: Decimal, amounts: list[int]) -> None:
    prices = PriceList(PRICES.licence_fee_cents, Decimal(5000), setup, Decimal(10000))
    assert [line.amount_cents for line in setup_lines(prices, contract(sdk=sdk))] == amounts


@pytest.mark.parametrize(
    ("end", "first_day_without"),
    [
        (None, None),
        (bx(2026, 9, 11), date(2026, 9, 11)),  # at local midnight: the 11th is not served
        (bx(2026, 9, 10, 15), date(2026, 9, 11)),  # served on the 10th: billed
        # 22:30Z on 10 Sep is 00:30 CEST on the 11th: served on the 11th
        (datetime(2026, 9, 10, 22, 30, tzinfo=UTC), date(2026, 9, 12)),
        # 23:00Z on 25 Oct (after the 25-hour day) is midnight CET starting the 26th
        (datetime(2026, 10, 25, 23, 0, tzinfo=UTC), date(2026, 10, 26)),
    ],
)
def test_contract_end_day(end: datetime | None, first_day_without: date | None) -> None:
    assert end_day(end, BRUSSELS) == first_day_without


def test_contract_start_is_the_local_day() -> None:
    # 23:30Z on 30 Sep is 01:30 CEST on 1 Oct
    terms = Contract.from_instants(
        "pro", False, 1, BRUSSELS, datetime(2026, 9, 30, 23, 30, tzinfo=UTC)
    )
    assert terms.start_day == date(2026, 10, 1)
    assert not terms.covers_some_of(Period(2026, 9))
    assert terms.covers_some_of(Period(2026, 10))


@pytest.mark.parametrize(
    ("period", "as_of", "closed"),
    [
        # October 2026 ends at 1 Nov 00:00 CET = 31 Oct 23:00Z
        (Period(2026, 10), datetime(2026, 10, 31, 22, 59, tzinfo=UTC), False),
        (Period(2026, 10), datetime(2026, 10, 31, 23, 0, tzinfo=UTC), True),
        # March 2026 ends at 1 Apr 00:00 CEST = 31 Mar 22:00Z
        (Period(2026, 3), datetime(2026, 3, 31, 22, 0, tzinfo=UTC), True),
        (Period(2026, 3), datetime(2026, 3, 31, 21, 59, tzinfo=UTC), False),
    ],
)
def test_a_month_closes_at_local_midnight(period: Period, as_of: datetime, closed: bool) -> None:
    assert period.closed(BRUSSELS, as_of) is closed


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-01", "2026-1", "1999-12", "x"])
def test_bad_periods_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Period.parse(text)


def test_period_arithmetic() -> None:
    assert str(Period.parse("2026-12").next()) == "2027-01"
    assert str(Period.parse("2026-01").previous()) == "2025-12"
    assert Period(2028, 2).last_day == date(2028, 2, 29)


@pytest.mark.parametrize(
    ("start", "termination", "term_end", "cents"),
    [
        # Pro 2500 x minimum 5 = 12500 a month. Term ends 2028-03-01.
        # Sep 16..30: 12500 x 15 / 30 = 6250; Oct 2026..Feb 2028: 17 x 12500 = 212500
        (date(2026, 3, 1), date(2026, 9, 16), date(2028, 3, 1), 218750),
        # in the first renewal year (2028-03-01..2029-03-01), from 1 Jan 2029: Jan, Feb
        (date(2026, 3, 1), date(2029, 1, 1), date(2029, 3, 1), 25000),
        # on the term's last boundary: nothing is due
        (date(2026, 3, 1), date(2028, 3, 1), date(2028, 3, 1), 0),
    ],
)
def test_early_termination_in_cents(
    start: date, termination: date, term_end: date, cents: int
) -> None:
    fee = early_termination(contract(minimum=5, start=start), termination, PRICES)
    assert (fee.term_end, fee.amount_cents) == (term_end, cents)
