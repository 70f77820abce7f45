"""SLA clock, targets, measurement, service credits and claims (SPEC §6, Dutch §6).

Every expected value is computed by hand in the comment beside it. Service hours are
Mon-Fri 08:00-18:00 Europe/Brussels; 2026-03-06 is a Friday, 2026-03-29 and 2026-10-25
are the DST Sundays (CET->CEST, CEST->CET).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.sla.domain.clock import BRUSSELS, deadline, service_time
from services.sla.domain.credits import (
    Breach,
    breaches_of,
    claim_deadline,
    claim_decision,
    credits_for_month,
)
from services.sla.domain.incident import Incident, measure
from services.sla.domain.targets import TARGETS, Kind, Level, Priority, level_of

H = timedelta(hours=1)
M = timedelta(minutes=1)
P1, P2, P3, P4 = Priority.P1, Priority.P2, Priority.P3, Priority.P4
RESPONSE, RESTORE = Kind.RESPONSE, Kind.RESTORE


def bx(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    """An instant given as Brussels wall-clock time."""
    return datetime(year, month, day, hour, minute, tzinfo=BRUSSELS)


def utc(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- service_time ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "stops", "expected"),
    [
        pytest.param(bx(3, 10, 10), bx(3, 10, 10), [], 0 * M, id="empty"),
        pytest.param(bx(3, 10, 10), bx(3, 10, 11, 30), [], 90 * M, id="inside-one-day"),
        # Fri 17:30-18:00 = 30, weekend 0, Mon 08:00-08:45 = 45
        pytest.param(bx(3, 6, 17, 30), bx(3, 9, 8, 45), [], 75 * M, id="over-weekend"),
        pytest.param(bx(3, 7, 9), bx(3, 8, 17), [], 0 * M, id="saturday-sunday"),
        pytest.param(bx(3, 10, 18), bx(3, 11, 8), [], 0 * M, id="overnight"),
        pytest.param(bx(3, 9, 0), bx(3, 16, 0), [], 50 * H, id="whole-week"),
        pytest.param(bx(3, 10, 6), bx(3, 10, 20), [], 10 * H, id="clipped-to-hours"),
        # weekday public holiday (Easter Monday 2026-04-06) is a normal service day
        pytest.param(bx(4, 6, 8), bx(4, 6, 18), [], 10 * H, id="holiday-counts"),
        # stop Fri 18:00 -> Mon 08:00 lies wholly outside service hours
        pytest.param(
            bx(3, 6, 17, 30),
            bx(3, 9, 8, 45),
            [(bx(3, 6, 18), bx(3, 9, 8))],
            75 * M,
            id="stop-across-weekend",
        ),
        pytest.param(
            bx(3, 6, 17, 30),
            bx(3, 9, 8, 45),
            [(bx(3, 7, 10), bx(3, 8, 20))],
            75 * M,
            id="stop-saturday-sunday",
        ),
        # 09:00-17:00 = 480 min minus stop 10:00-10:40 = 440
        pytest.param(
            bx(3, 10, 9),
            bx(3, 10, 17),
            [(bx(3, 10, 10), bx(3, 10, 10, 40))],
            440 * M,
            id="stop-inside-hours",
        ),
        # Tue 17:00-18:00 + Wed 08:00-10:00 = 180; stop overlap 17:30-18:00 + 08:00-08:30 = 60
        pytest.param(
            bx(3, 10, 17),
            bx(3, 11, 10),
            [(bx(3, 10, 17, 30), bx(3, 11, 8, 30))],
            120 * M,
            id="stop-partly-outside-hours",
        ),
        # union of 09:30-10:30 and 10:00-11:00 is 09:30-11:00 = 90; 180 - 90
        pytest.param(
            bx(3, 10, 9),
            bx(3, 10, 12),
            [(bx(3, 10, 10), bx(3, 10, 11)), (bx(3, 10, 9, 30), bx(3, 10, 10, 30))],
            90 * M,
            id="overlapping-stops-once",
        ),
        # stop 08:00-09:30 counts only from start 09:00: 180 - 30
        pytest.param(
            bx(3, 10, 9),
            bx(3, 10, 12),
            [(bx(3, 10, 8), bx(3, 10, 9, 30))],
            150 * M,
            id="stop-before-start",
        ),
        pytest.param(
            bx(3, 10, 9),
            bx(3, 10, 12),
            [(bx(3, 10, 11, 30), bx(3, 10, 15))],
            150 * M,
            id="stop-after-end",
        ),
        # DST spring: Fri 27 Mar 17:30 CET = 16:30Z; Mon 30 Mar 08:30 CEST = 06:30Z.
        # 30 + 30 = 60 (UTC windows 07:00-17:00 would wrongly give 30).
        pytest.param(utc(3, 27, 16, 30), utc(3, 30, 6, 30), [], 60 * M, id="dst-march"),
        # DST autumn: Fri 23 Oct 17:00 CEST = 15:00Z; Mon 26 Oct 09:00 CET = 08:00Z: 60 + 60
        pytest.param(utc(10, 23, 15), utc(10, 26, 8), [], 120 * M, id="dst-october"),
        # same instants given in another zone: the zone of the input does not matter
        pytest.param(
            bx(3, 27, 17, 30).astimezone(ZoneInfo("America/New_York")),
            bx(3, 30, 8, 30),
            [],
            60 * M,
            id="mixed-zones",
        ),
    ],
)
def test_service_time(
    start: datetime, end: datetime, stops: list[tuple[datetime, datetime]], expected: timedelta
) -> None:
    assert service_time(start, end, stops) == expected


@pytest.mark.parametrize(
    ("start", "end", "stops"),
    [
        (datetime(2026, 3, 10, 9), bx(3, 10, 10), []),
        (bx(3, 10, 9), datetime(2026, 3, 10, 10), []),
        (bx(3, 10, 9), bx(3, 10, 10), [(datetime(2026, 3, 10, 9), bx(3, 10, 10))]),
        (bx(3, 10, 10), bx(3, 10, 9), []),
        (bx(3, 10, 9), bx(3, 10, 12), [(bx(3, 10, 11), bx(3, 10, 10))]),
    ],
    ids=["naive-start", "naive-end", "naive-stop", "end-before-start", "stop-reversed"],
)
def test_service_time_refuses(
    start: datetime, end: datetime, stops: list[tuple[datetime, datetime]]
) -> None:
    with pytest.raises(ValueError):
        service_time(start, end, stops)


# --- deadline -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "budget", "stops", "expected"),
    [
        pytest.param(bx(3, 6, 17, 30), 1 * H, [], bx(3, 9, 8, 30), id="p1-response-friday"),
        pytest.param(bx(3, 10, 9), 10 * H, [], bx(3, 11, 9), id="one-service-day"),
        pytest.param(bx(3, 9, 8), 30 * H, [], bx(3, 11, 18), id="ends-at-closing"),
        pytest.param(bx(3, 7, 12), 1 * H, [], bx(3, 9, 9), id="from-saturday"),
        pytest.param(bx(3, 10, 20), 0 * H, [], bx(3, 10, 20), id="zero-budget"),
        pytest.param(
            bx(3, 10, 9),
            2 * H,
            [(bx(3, 10, 10), bx(3, 10, 10, 30))],
            bx(3, 10, 11, 30),
            id="with-stop",
        ),
        pytest.param(utc(3, 27, 16, 30), 1 * H, [], utc(3, 30, 6, 30), id="dst-march"),
        pytest.param(utc(10, 23, 15), 2 * H, [], utc(10, 26, 8), id="dst-october"),
    ],
)
def test_deadline(
    start: datetime, budget: timedelta, stops: list[tuple[datetime, datetime]], expected: datetime
) -> None:
    assert deadline(start, budget, stops) == expected


def test_deadline_refuses_negative_budget_and_naive_start() -> None:
    with pytest.raises(ValueError):
        deadline(bx(3, 10, 9), -M)
    with pytest.raises(ValueError):
        deadline(datetime(2026, 3, 10, 9), H)


instants = st.datetimes(
    min_value=datetime(2020, 1, 1),
    max_value=datetime(2035, 12, 31),
    timezones=st.sampled_from([BRUSSELS, UTC]),
    allow_imaginary=False,
)
budgets = st.timedeltas(min_value=timedelta(0), max_value=1300 * H)
stop_lists = st.lists(
    st.tuples(st.timedeltas(min_value=-20 * H, max_value=400 * H), st.timedeltas(0 * H, 80 * H)),
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(start=instants, budget=budgets, stop_offsets=stop_lists)
def test_deadline_inverts_service_time(
    start: datetime, budget: timedelta, stop_offsets: list[tuple[timedelta, timedelta]]
) -> None:
    stops = [(start + offset, start + offset + length) for offset, length in stop_offsets]
    due = deadline(start, budget, stops)
    assert service_time(start, due, stops) == budget
    if budget:  # and it is the first such instant
        assert service_time(start, due - timedelta(microseconds=1), stops) < budget


@settings(max_examples=200, deadline=None)
@given(start=instants, first=st.timedeltas(0 * H, 500 * H), second=st.timedeltas(0 * H, 500 * H))
def test_service_time_is_additive(start: datetime, first: timedelta, second: timedelta) -> None:
    middle, end = start + first, start + first + second
    assert service_time(start, end) == service_time(start, middle) + service_time(middle, end)


# --- targets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "response", "restore", "level"),
    [
        (P1, 1 * H, 6 * H, Level.SLA),
        (P2, 2 * H, 10 * H, Level.SLA),
        (P3, 5 * H, 30 * H, Level.SLO),  # 3 service days of 10 h
        (P4, 10 * H, 1300 * H, Level.SLO),  # 6 months = 130 service days of 10 h
    ],
)
def test_targets(priority: Priority, response: timedelta, restore: timedelta, level: Level) -> None:
    assert TARGETS[priority][RESPONSE] == response
    assert TARGETS[priority][RESTORE] == restore
    assert TARGETS[priority.value][RESPONSE.value] == response  # plain strings work too
    assert level_of(priority) is level


# --- measure --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("incident", "now", "response", "restore"),
    [
        # (used, left, breached, breached_at) per KPI
        pytest.param(
            # response: 30 + 45 = 75 > 60; restore: 30 + 240 = 270 <= 360
            Incident(P1, bx(3, 6, 17, 30), None, bx(3, 9, 8, 45), bx(3, 9, 12)),
            bx(3, 20, 12),
            (75 * M, -15 * M, True, bx(3, 9, 8, 30)),
            (270 * M, 90 * M, False, None),
            id="p1-friday-response-breach",
        ),
        pytest.param(
            # corrected to P3: 75 min against 5 h, 270 min against 30 h
            Incident(P1, bx(3, 6, 17, 30), P3, bx(3, 9, 8, 45), bx(3, 9, 12)),
            bx(3, 20, 12),
            (75 * M, 225 * M, False, None),
            (270 * M, 30 * H - 270 * M, False, None),
            id="downgraded-p1-to-p3",
        ),
        pytest.param(
            # corrected up to P1: 90 min against 1 h
            Incident(P3, bx(3, 10, 9), P1, bx(3, 10, 10, 30)),
            bx(3, 10, 11),
            (90 * M, -30 * M, True, bx(3, 10, 10)),
            (120 * M, 240 * M, False, None),
            id="upgraded-p3-to-p1",
        ),
        pytest.param(
            Incident(P1, bx(3, 10, 9), None, bx(3, 10, 10)),
            bx(3, 10, 10),
            (60 * M, 0 * M, False, None),
            (60 * M, 300 * M, False, None),
            id="exactly-on-target",
        ),
        pytest.param(
            # open, no troubleshooting yet: 3 h used of 2 h, breached at 11:00
            Incident(P2, bx(3, 10, 9)),
            bx(3, 10, 12),
            (3 * H, -1 * H, True, bx(3, 10, 11)),
            (3 * H, 7 * H, False, None),
            id="open-p2-response-breach",
        ),
        pytest.param(
            # restore still open; stop clock from 10:00 still running: 60 min used
            Incident(P1, bx(3, 10, 9), None, bx(3, 10, 9, 30), stops=((bx(3, 10, 10), None),)),
            bx(3, 10, 17),
            (30 * M, 30 * M, False, None),
            (60 * M, 300 * M, False, None),
            id="open-stop-clock",
        ),
        pytest.param(
            # restore Tue 09:00 -> Wed 10:30 = 9 h + 2.5 h > 10 h; 10 h reached Wed 09:00
            Incident(P2, bx(3, 10, 9), None, bx(3, 10, 9, 15), bx(3, 11, 10, 30)),
            bx(3, 12, 9),
            (15 * M, 105 * M, False, None),
            (11 * H + 30 * M, -90 * M, True, bx(3, 11, 9)),
            id="p2-restore-breach",
        ),
    ],
)
def test_measure(
    incident: Incident,
    now: datetime,
    response: tuple[timedelta, timedelta, bool, datetime | None],
    restore: tuple[timedelta, timedelta, bool, datetime | None],
) -> None:
    measured = measure(incident, now)
    assert measured.priority == incident.priority
    for kpi, (used, left, breached, breached_at) in (
        (measured.response, response),
        (measured.restore, restore),
    ):
        assert (kpi.used, kpi.left, kpi.breached, kpi.breached_at) == (
            used,
            left,
            breached,
            breached_at,
        )
        assert kpi.target == TARGETS[incident.priority][kpi.kind]
        assert kpi.level is level_of(incident.priority)


def test_measure_refuses_now_before_creation() -> None:
    with pytest.raises(ValueError):
        measure(Incident(P1, bx(3, 10, 9)), bx(3, 10, 8))


# --- service credits ------------------------------------------------------------------

FEE = Decimal("1000.00")  # licence fee invoiced for the previous month


def breaches(kind: Kind, priority: Priority, count: int, when: datetime = bx(1, 14, 10)):
    return [Breach(kind, priority, when, f"{kind}-{priority}-{i}") for i in range(count)]


@pytest.mark.parametrize(
    ("plan", "found", "month_fee", "total"),
    [
        pytest.param("pro", breaches(RESPONSE, P1, 1), None, "100.00", id="p1-response-10pct"),
        pytest.param("bot", breaches(RESPONSE, P2, 1), None, "50.00", id="p2-response-5pct"),
        pytest.param("pro", breaches(RESTORE, P1, 1), None, "200.00", id="p1-restore-20pct"),
        pytest.param("pro", breaches(RESTORE, P2, 1), None, "150.00", id="p2-restore-15pct"),
        # 2 x 10 % = 20 %, under the cap
        pytest.param("pro", breaches(RESPONSE, P1, 2), None, "200.00", id="two-p1-response"),
        # 3 x 20 % = 60 % -> row capped at 25 %
        pytest.param("pro", breaches(RESTORE, P1, 3), None, "250.00", id="row-cap-p1-restore"),
        # 2 x 15 % = 30 % -> 25 %
        pytest.param("pro", breaches(RESTORE, P2, 2), None, "250.00", id="row-cap-p2-restore"),
        # P3/P4 are SLOs: no credits
        pytest.param(
            "pro",
            breaches(RESPONSE, P3, 4) + breaches(RESTORE, P4, 2),
            None,
            "0.00",
            id="slo-no-credit",
        ),
        # Hub has no service levels
        pytest.param("hub", breaches(RESTORE, P1, 3), None, "0.00", id="hub-nothing"),
        # each row capped at 250 -> 4 x 250 = 1000 = 100 % of the previous month
        pytest.param(
            "pro",
            breaches(RESPONSE, P1, 3)
            + breaches(RESPONSE, P2, 6)
            + breaches(RESTORE, P1, 2)
            + breaches(RESTORE, P2, 2),
            None,
            "1000.00",
            id="all-rows-capped",
        ),
        # same, but only 800.00 paid for the breach month itself: total capped at 800
        pytest.param(
            "pro",
            breaches(RESPONSE, P1, 3)
            + breaches(RESPONSE, P2, 6)
            + breaches(RESTORE, P1, 2)
            + breaches(RESTORE, P2, 2),
            Decimal("800.00"),
            "800.00",
            id="month-total-capped",
        ),
        # 1 x 10 % + 1 x 20 % = 300 < 400 paid for the month: no month cap
        pytest.param(
            "pro",
            breaches(RESPONSE, P1, 1) + breaches(RESTORE, P1, 1),
            Decimal("400.00"),
            "300.00",
            id="under-month-cap",
        ),
        # breaches in other months do not count: 2026-02-01 00:30 Brussels is February,
        # 2026-01-31 23:30 Brussels (22:30Z) is January
        pytest.param(
            "pro",
            breaches(RESTORE, P1, 1, bx(2, 1, 0, 30))
            + breaches(RESPONSE, P1, 1, utc(1, 31, 22, 30))
            + breaches(RESPONSE, P2, 1, bx(12, 31, 12, year=2025)),
            None,
            "100.00",
            id="only-breach-month",
        ),
    ],
)
def test_credits_for_january(
    plan: str, found: list[Breach], month_fee: Decimal | None, total: str
) -> None:
    credits = credits_for_month(plan, found, 2026, 1, FEE, month_fee)
    assert credits.total == Decimal(total)
    assert credits.total.as_tuple().exponent == -2


def test_credit_rows_show_the_caps() -> None:
    credits = credits_for_month("pro", breaches(RESTORE, P1, 3), 2026, 1, FEE)
    row = next(r for r in credits.rows if (r.kind, r.priority) == (RESTORE, P1))
    assert (row.incidents, row.rate, row.uncapped, row.amount) == (
        3,
        Decimal("0.20"),
        Decimal("600.00"),
        Decimal("250.00"),
    )
    assert len(credits.rows) == 4
    assert credits_for_month("hub", breaches(RESTORE, P1, 3), 2026, 1, FEE).rows == ()


@pytest.mark.parametrize(
    ("fee", "found", "total"),
    [
        # 5 % of 333.33 = 16.6665 -> 16.67 (half up)
        (Decimal("333.33"), breaches(RESPONSE, P2, 1), "16.67"),
        # rounded per incident: 2 x 16.67 = 33.34 (not 33.3330 -> 33.33)
        (Decimal("333.33"), breaches(RESPONSE, P2, 2), "33.34"),
        # 10 % of 333.33 = 33.333 -> 33.33; 3 x 33.33 = 99.99 > cap 83.3325 -> 83.33
        (Decimal("333.33"), breaches(RESPONSE, P1, 3), "83.33"),
        # 25 % cap of 0.10 = 0.025 -> 0.03; 3 x 15 % x 0.10 = 3 x 0.02 = 0.06 > 0.03
        (Decimal("0.10"), breaches(RESTORE, P2, 3), "0.03"),
    ],
)
def test_credit_rounding(fee: Decimal, found: list[Breach], total: str) -> None:
    assert credits_for_month("pro", found, 2026, 1, fee).total == Decimal(total)


def test_measured_incidents_to_credits() -> None:
    # P1 response breached Mon 9 Mar 08:30 (see test_measure), restore in time;
    # the P3 (SLO) breaches, response at 14:00 and still-open restore at 30 h = Fri 13
    # 09:00 (9 + 10 + 10 + 1 h), are listed as breaches but never credited.
    p1 = Incident(P1, bx(3, 6, 17, 30), None, bx(3, 9, 8, 45), bx(3, 9, 12), incident_id="a")
    p3 = Incident(P3, bx(3, 10, 9), None, bx(3, 10, 15), incident_id="b")
    found = [b for i in (p1, p3) for b in breaches_of(measure(i, bx(3, 31, 12)))]
    assert [(b.incident_id, b.kind, b.priority, b.breached_at) for b in found] == [
        ("a", RESPONSE, P1, bx(3, 9, 8, 30)),
        ("b", RESPONSE, P3, bx(3, 10, 14)),
        ("b", RESTORE, P3, bx(3, 13, 9)),
    ]
    assert credits_for_month("pro", found, 2026, 3, FEE).total == Decimal("100.00")
    assert credits_for_month("pro", found, 2026, 4, FEE).total == Decimal("0.00")


def test_credits_refuse_unknown_plan() -> None:
    with pytest.raises(ValueError):
        credits_for_month("gold", [], 2026, 1, FEE)


# --- claims ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("breach_month", "last_day"),
    [
        (date(2026, 1, 14), date(2026, 4, 30)),
        (date(2025, 11, 1), date(2026, 2, 28)),
        (date(2027, 11, 30), date(2028, 2, 29)),
        (date(2025, 12, 31), date(2026, 3, 31)),
    ],
)
def test_claim_deadline(breach_month: date, last_day: date) -> None:
    assert claim_deadline(breach_month) == last_day


JAN = date(2026, 1, 1)


@pytest.mark.parametrize(
    ("breach_month", "claimed_on", "unpaid", "contract_end", "granted_on", "expected"),
    [
        pytest.param(JAN, date(2026, 4, 30), False, None, None, "granted", id="last-day"),
        pytest.param(JAN, date(2026, 1, 20), False, None, None, "granted", id="same-month"),
        pytest.param(JAN, date(2026, 5, 1), False, None, None, "late", id="late"),
        pytest.param(
            date(2025, 11, 5), date(2026, 3, 1), False, None, None, "late", id="late-over-year"
        ),
        pytest.param(JAN, date(2026, 2, 1), True, None, None, "unpaid_invoices", id="unpaid"),
        pytest.param(
            JAN, date(2026, 2, 1), False, date(2026, 3, 1), None, "lapsed", id="ended-ungranted"
        ),
        pytest.param(
            JAN,
            date(2026, 2, 1),
            False,
            date(2026, 3, 1),
            date(2026, 3, 1),
            "lapsed",
            id="granted-on-end-day",
        ),
        pytest.param(
            JAN,
            date(2026, 2, 1),
            False,
            date(2026, 3, 1),
            date(2026, 2, 15),
            "granted",
            id="granted-before-end",
        ),
        # late wins over the other reasons
        pytest.param(JAN, date(2026, 5, 1), True, date(2026, 3, 1), None, "late", id="order"),
    ],
)
def test_claim_decision(
    breach_month: date,
    claimed_on: date,
    unpaid: bool,
    contract_end: date | None,
    granted_on: date | None,
    expected: str,
) -> None:
    assert claim_decision(breach_month, claimed_on, unpaid, contract_end, granted_on) == expected


def test_claim_refused_when_customer_in_breach() -> None:
    decision = claim_decision(JAN, date(2026, 2, 1), False, None, None, customer_in_breach=True)
    assert decision == "in_breach"


def test_claim_before_breach_month_is_an_error() -> None:
    with pytest.raises(ValueError):
        claim_decision(JAN, date(2025, 12, 31), False, None, None)
