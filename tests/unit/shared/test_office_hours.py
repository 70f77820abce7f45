"""Office hours (spec §3.1.7): hand-computed cases with UTC instants, plus properties.

Europe/Brussels is UTC+1 (CET) until 2026-03-29 01:00 UTC, UTC+2 (CEST) until
2026-10-25 01:00 UTC, then UTC+1 again.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.office_hours import (
    NEVER_OPEN,
    WEEKDAYS,
    ClosingDay,
    OfficeHours,
    OpeningInterval,
    closed_period_start,
    is_open,
    next_opening,
)


def iv(start: str, end: str) -> OpeningInterval:
    return OpeningInterval(start=time.fromisoformat(start), end=time.fromisoformat(end))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


DAY = [iv("09:00", "12:00"), iv("13:00", "17:00")]
STANDARD = OfficeHours(
    weekly={
        "monday": DAY,
        "tuesday": DAY,
        "wednesday": DAY,
        "thursday": [iv("09:00", "12:00"), iv("18:00", "00:00")],  # late shift to midnight
        "friday": [iv("09:00", "12:00"), iv("13:00", "16:00")],
    },
    closing_days=[
        ClosingDay(date=date(2026, 5, 14), label="Ascension 2026"),
        ClosingDay(date=date(2020, 12, 25), recurring_yearly=True, label="Christmas"),
        ClosingDay(date=date(2024, 2, 29), recurring_yearly=True, label="Leap day"),
    ],
)
NIGHT = OfficeHours(weekly={"sunday": [iv("01:00", "04:00")]})  # spans both DST changes
GAP_HOUR = OfficeHours(weekly={"sunday": [iv("02:00", "03:00")]})  # the skipped/repeated hour
TO_HALF_PAST_TWO = OfficeHours(weekly={"sunday": [iv("01:00", "02:30")]})
WEDNESDAY = {"wednesday": [iv("09:00", "17:00")]}
BRUSSELS_WED = OfficeHours(weekly=WEDNESDAY)
NEW_YORK_WED = OfficeHours(time_zone="America/New_York", weekly=WEDNESDAY)
NEVER = OfficeHours()
ALWAYS = OfficeHours(always_open=True)


@pytest.mark.parametrize(
    ("hours", "at", "expected"),
    [
        # Wednesday 2026-01-14, CET: 09-12 and 13-17 local = 08-11 and 12-16 UTC.
        pytest.param(STANDARD, "2026-01-14T09:00", True, id="weekday-inside"),
        pytest.param(STANDARD, "2026-01-14T07:59", False, id="weekday-before-opening"),
        pytest.param(STANDARD, "2026-01-14T08:00", True, id="start-inclusive"),
        pytest.param(STANDARD, "2026-01-14T10:59:59", True, id="last-second-before-lunch"),
        pytest.param(STANDARD, "2026-01-14T11:00", False, id="end-exclusive-lunch"),
        pytest.param(STANDARD, "2026-01-14T11:30", False, id="lunch-break"),
        pytest.param(STANDARD, "2026-01-14T12:00", True, id="afternoon-start"),
        pytest.param(STANDARD, "2026-01-14T16:00", False, id="evening"),
        # Summer (CEST): 09:00 local is 07:00 UTC.
        pytest.param(STANDARD, "2026-07-15T07:00", True, id="summer-start"),
        pytest.param(STANDARD, "2026-07-15T06:59", False, id="summer-before"),
        # Thursday 18:00-00:00 local: 23:59 local open, Friday 00:00 local closed.
        pytest.param(STANDARD, "2026-01-15T22:59", True, id="midnight-end-inside"),
        pytest.param(STANDARD, "2026-01-15T23:00", False, id="midnight-end-exclusive"),
        pytest.param(STANDARD, "2026-01-17T11:00", False, id="saturday"),
        pytest.param(STANDARD, "2026-01-18T11:00", False, id="sunday"),
        # Closing days (10:00 local).
        pytest.param(STANDARD, "2026-05-14T08:00", False, id="one-off-closing-day"),
        pytest.param(STANDARD, "2026-05-13T08:00", True, id="day-before-closing-day"),
        pytest.param(STANDARD, "2027-05-14T08:00", True, id="one-off-not-next-year"),
        pytest.param(STANDARD, "2026-12-25T09:00", False, id="recurring-other-year"),
        pytest.param(STANDARD, "2026-12-24T09:00", True, id="day-before-recurring"),
        pytest.param(STANDARD, "2028-02-29T09:00", False, id="feb29-leap-year"),
        pytest.param(STANDARD, "2025-02-28T09:00", True, id="feb28-non-leap-year"),
        pytest.param(STANDARD, "2027-03-01T09:00", True, id="mar1-non-leap-year"),
        # Spring forward 2026-03-29: 01:00 UTC is 02:00 CET -> 03:00 CEST.
        pytest.param(NIGHT, "2026-03-28T23:59", False, id="spring-00:59-local"),
        pytest.param(NIGHT, "2026-03-29T00:00", True, id="spring-01:00-local"),
        pytest.param(NIGHT, "2026-03-29T00:59", True, id="spring-01:59-cet"),
        pytest.param(NIGHT, "2026-03-29T01:00", True, id="spring-03:00-cest"),
        pytest.param(NIGHT, "2026-03-29T01:30", True, id="spring-03:30-spans-gap"),
        pytest.param(NIGHT, "2026-03-29T02:00", False, id="spring-04:00-cest"),
        pytest.param(GAP_HOUR, "2026-03-29T00:59", False, id="spring-gap-interval-01:59"),
        pytest.param(GAP_HOUR, "2026-03-29T01:00", False, id="spring-gap-interval-03:00"),
        # Fall back 2026-10-25: 01:00 UTC is 03:00 CEST -> 02:00 CET.
        pytest.param(NIGHT, "2026-10-24T22:59", False, id="fall-00:59-cest"),
        pytest.param(NIGHT, "2026-10-24T23:00", True, id="fall-01:00-cest"),
        pytest.param(NIGHT, "2026-10-25T00:59", True, id="fall-02:59-cest"),
        pytest.param(NIGHT, "2026-10-25T01:00", True, id="fall-02:00-cet"),
        pytest.param(NIGHT, "2026-10-25T02:59", True, id="fall-03:59-cet"),
        pytest.param(NIGHT, "2026-10-25T03:00", False, id="fall-04:00-cet"),
        pytest.param(GAP_HOUR, "2026-10-24T23:59", False, id="fall-01:59-cest"),
        pytest.param(GAP_HOUR, "2026-10-25T00:30", True, id="fall-first-02:30"),
        pytest.param(GAP_HOUR, "2026-10-25T01:30", True, id="fall-second-02:30"),
        pytest.param(GAP_HOUR, "2026-10-25T02:00", False, id="fall-03:00-cet"),
        pytest.param(TO_HALF_PAST_TWO, "2026-10-25T00:15", True, id="fall-first-02:15"),
        pytest.param(TO_HALF_PAST_TWO, "2026-10-25T00:45", False, id="fall-first-02:45"),
        pytest.param(TO_HALF_PAST_TWO, "2026-10-25T01:15", True, id="fall-second-02:15"),
        pytest.param(TO_HALF_PAST_TWO, "2026-10-25T01:45", False, id="fall-second-02:45"),
        # Wednesday 09-17 in New York (EST, UTC-5) versus Brussels (CET, UTC+1).
        pytest.param(NEW_YORK_WED, "2026-01-14T20:00", True, id="new-york-15:00"),
        pytest.param(BRUSSELS_WED, "2026-01-14T20:00", False, id="brussels-21:00"),
        pytest.param(NEW_YORK_WED, "2026-01-14T13:59", False, id="new-york-08:59"),
        pytest.param(BRUSSELS_WED, "2026-01-14T13:59", True, id="brussels-14:59"),
        pytest.param(NEVER, "2026-01-14T09:00", False, id="nothing-configured-closed"),
        pytest.param(ALWAYS, "2026-12-25T03:00", True, id="always-open"),
    ],
)
def test_is_open(hours: OfficeHours, at: str, expected: bool) -> None:
    assert is_open(hours, utc(at)) is expected


def test_other_offsets_of_the_same_instant_agree() -> None:
    at = utc("2026-01-14T09:00")
    assert is_open(STANDARD, at.astimezone(NEW_YORK_WED.zone)) is is_open(STANDARD, at)


@pytest.mark.parametrize("function", [is_open, closed_period_start, next_opening])
def test_naive_datetime_is_refused(function) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        function(STANDARD, datetime(2026, 1, 14, 9, 0))


@pytest.mark.parametrize(
    ("hours", "at", "expected"),
    [
        # Friday 2026-01-16 closes 16:00 local = 15:00 UTC; that night ends Monday 09:00.
        pytest.param(STANDARD, "2026-01-16T18:00", "2026-01-16T15:00", id="friday-evening"),
        pytest.param(STANDARD, "2026-01-17T11:00", "2026-01-16T15:00", id="saturday"),
        pytest.param(STANDARD, "2026-01-19T07:59", "2026-01-16T15:00", id="monday-early"),
        pytest.param(STANDARD, "2026-01-20T19:00", "2026-01-20T16:00", id="tuesday-evening"),
        pytest.param(STANDARD, "2026-01-14T11:30", "2026-01-14T11:00", id="lunch-break"),
        pytest.param(STANDARD, "2026-01-16T02:00", "2026-01-15T23:00", id="after-midnight-end"),
        pytest.param(STANDARD, "2026-01-16T11:30", "2026-01-16T11:00", id="friday-lunch"),
        pytest.param(STANDARD, "2026-05-14T08:00", "2026-05-13T15:00", id="on-closing-day"),
        pytest.param(TO_HALF_PAST_TWO, "2026-10-25T00:45", "2026-10-25T00:30", id="fall-gap-1"),
        pytest.param(TO_HALF_PAST_TWO, "2026-10-25T01:45", "2026-10-25T01:30", id="fall-gap-2"),
        pytest.param(STANDARD, "2026-01-14T09:00", None, id="open"),
        pytest.param(ALWAYS, "2026-01-17T11:00", None, id="always-open"),
        pytest.param(NEVER, "2026-01-17T11:00", "1970-01-01T00:00", id="never-open"),
    ],
)
def test_closed_period_start(hours: OfficeHours, at: str, expected: str | None) -> None:
    assert closed_period_start(hours, utc(at)) == (expected and utc(expected))


def test_one_closed_period_one_key_and_different_nights_differ() -> None:
    friday_evening = closed_period_start(STANDARD, utc("2026-01-16T18:00"))
    saturday = closed_period_start(STANDARD, utc("2026-01-17T11:00"))
    tuesday_evening = closed_period_start(STANDARD, utc("2026-01-20T19:00"))
    assert friday_evening == saturday == utc("2026-01-16T15:00")
    assert tuesday_evening != friday_evening
    assert closed_period_start(NEVER, utc("2027-06-01T00:00")) == NEVER_OPEN


@pytest.mark.parametrize(
    ("hours", "at", "expected"),
    [
        pytest.param(STANDARD, "2026-01-16T18:00", "2026-01-19T08:00", id="friday-to-monday"),
        # Wednesday 2026-05-13 20:00 CEST; Thursday 14 is closed -> Friday 09:00 CEST.
        pytest.param(STANDARD, "2026-05-13T18:00", "2026-05-15T07:00", id="skips-closing-day"),
        # Friday 2026-03-27 19:00 CET -> Monday 2026-03-30 09:00 CEST.
        pytest.param(STANDARD, "2026-03-27T18:00", "2026-03-30T07:00", id="across-dst"),
        pytest.param(STANDARD, "2026-01-14T11:30", "2026-01-14T12:00", id="after-lunch"),
        pytest.param(STANDARD, "2026-01-14T09:00", "2026-01-14T09:00", id="open-now"),
        # 02:30-04:00 starts in the spring gap: opens when the clock jumps to 03:00.
        pytest.param(
            OfficeHours(weekly={"sunday": [iv("02:30", "04:00")]}),
            "2026-03-28T12:00",
            "2026-03-29T01:00",
            id="opens-at-spring-jump",
        ),
        pytest.param(TO_HALF_PAST_TWO, "2026-10-25T00:45", "2026-10-25T01:00", id="fall-reopen"),
        pytest.param(NEVER, "2026-01-14T09:00", None, id="never"),
    ],
)
def test_next_opening(hours: OfficeHours, at: str, expected: str | None) -> None:
    assert next_opening(hours, utc(at)) == (expected and utc(expected))


def test_results_are_utc() -> None:
    at = utc("2026-01-16T18:00").astimezone(STANDARD.zone)
    assert next_opening(STANDARD, at).tzinfo is UTC
    assert closed_period_start(STANDARD, at).tzinfo is UTC


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            {
                "weekly": {
                    "monday": [
                        {"start": "09:00", "end": "12:00"},
                        {"start": "11:00", "end": "13:00"},
                    ]
                }
            },
            id="overlap",
        ),
        pytest.param(
            {
                "weekly": {
                    "monday": [
                        {"start": "09:00", "end": "00:00"},
                        {"start": "20:00", "end": "21:00"},
                    ]
                }
            },
            id="overlap-midnight",
        ),
        pytest.param({"weekly": {"monday": [{"start": "12:00", "end": "09:00"}]}}, id="end-before"),
        pytest.param({"weekly": {"monday": [{"start": "09:00", "end": "09:00"}]}}, id="empty"),
        pytest.param({"time_zone": "Mars/Olympus_Mons"}, id="unknown-zone"),
        pytest.param({"time_zone": ""}, id="empty-zone"),
        pytest.param({"weekly": {"funday": []}}, id="unknown-weekday"),
        pytest.param({"weekly": {}, "holidays": []}, id="extra-field"),
        pytest.param({"closing_days": [{"date": "2026-01-01", "name": "x"}]}, id="extra-nested"),
        pytest.param(
            {"always_open": True, "weekly": {"monday": [{"start": "09:00", "end": "12:00"}]}},
            id="always-open-with-hours",
        ),
    ],
)
def test_invalid_models_are_refused(data: dict) -> None:
    with pytest.raises(ValidationError):
        OfficeHours.model_validate(data)


def test_unknown_zone_message_is_clear() -> None:
    with pytest.raises(ValueError, match=r"unknown time zone 'Mars/Olympus_Mons'.*IANA"):
        OfficeHours(time_zone="Mars/Olympus_Mons")


def test_valid_json_body_round_trips() -> None:
    body = {
        "time_zone": "Europe/Brussels",
        "weekly": {
            "monday": [{"start": "13:00", "end": "17:00"}, {"start": "09:00", "end": "13:00"}],
            "sunday": [{"start": "00:00", "end": "00:00"}],
        },
        "closing_days": [{"date": "2026-12-25", "recurring_yearly": True, "label": "Christmas"}],
    }
    hours = OfficeHours.model_validate_json(OfficeHours.model_validate(body).model_dump_json())
    assert is_open(hours, utc("2026-01-12T11:59"))  # touching intervals are not an overlap
    assert is_open(hours, utc("2026-01-18T22:30"))  # all day Sunday 00:00-00:00


# --- properties -----------------------------------------------------------------------------

ZONES = ["Europe/Brussels", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
QUARTERS = [time(h, m) for h in range(24) for m in (0, 15, 30, 45)]


@st.composite
def office_hours(draw: st.DrawFn) -> OfficeHours:
    weekly = {}
    for day in draw(st.sets(st.sampled_from(WEEKDAYS))):
        points = sorted(draw(st.sets(st.sampled_from(QUARTERS), min_size=1, max_size=6)))
        if len(points) % 2:
            points.append(time(0))  # odd point count: last interval runs to midnight
        weekly[day] = [
            OpeningInterval(start=s, end=e) for s, e in zip(points[::2], points[1::2], strict=True)
        ]
    closing_days = draw(
        st.lists(
            st.builds(
                ClosingDay,
                date=st.dates(date(2024, 1, 1), date(2027, 12, 31)),
                recurring_yearly=st.booleans(),
            ),
            max_size=4,
        )
    )
    return OfficeHours(
        time_zone=draw(st.sampled_from(ZONES)), weekly=weekly, closing_days=closing_days
    )


instants = st.datetimes(datetime(2024, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC))
TICK = timedelta(microseconds=1)


@settings(max_examples=300, deadline=None)
@given(hours=office_hours(), at=instants)
def test_closed_iff_in_a_closed_period_and_next_opening_is_open(hours, at) -> None:
    start = closed_period_start(hours, at)
    assert (start is None) is is_open(hours, at)
    if start is None:
        assert next_opening(hours, at) == at
        return
    following = next_opening(hours, at)
    if following is not None:
        assert following > at
        assert is_open(hours, following)
        assert not is_open(hours, following - TICK)  # the earliest opening, not just any
    if start != NEVER_OPEN:
        assert start <= at
        assert is_open(hours, start - TICK)
        assert not is_open(hours, start)
        assert closed_period_start(hours, start + (at - start) / 2) == start  # one period, one key
