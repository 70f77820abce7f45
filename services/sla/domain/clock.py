"""The SLA clock: how much service time lies between two instants, and its inverse.

Service hours ("SDU", Standaarddiensturen, Dutch §6.3) are Monday-Friday 08:00-18:00.
The Dutch text names no time zone; the English spec says Belgian time, so Europe/Brussels
with its daylight-saving rules. A service day therefore always holds exactly 10 hours
(the DST changes happen at 02:00/03:00 on a Sunday), but its UTC position moves.

Public holidays: the Dutch text mentions "Belgische feestdagen" only in the planned
maintenance schedule (§6.5: interruptions allowed on holidays 23:00-07:00), never in the
SDU row, and the stop-clock list (§6.1) excludes only "tijd buiten het Dienstrooster".
So a weekday public holiday is an ordinary service day and no holiday calendar is used.
(The maintenance windows, 00:00-06:00 and 23:00-07:00, lie outside service hours anyway.)

Stop clock (§6.1): time caused by the customer, force majeure, connectivity, third
parties, and planned works does not count. Stops are given as intervals; overlapping
stops count once and the part of a stop outside service hours subtracts nothing extra.

Intervals are half-open ``[start, end)``. All arithmetic happens in UTC because
subtracting two aware datetimes that share one ZoneInfo compares wall clocks, which is
wrong across a DST change.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

BRUSSELS = ZoneInfo("Europe/Brussels")
OPENS = time(8)
CLOSES = time(18)
FRIDAY = 4

Interval = tuple[datetime, datetime]


def _utc(moment: datetime, what: str) -> datetime:
    """Refuse naive datetimes: a wall-clock time without a zone is not an instant."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {moment!r}")
    return moment.astimezone(UTC)


def _merged(stops: Iterable[Interval]) -> list[Interval]:
    """Stops in UTC, sorted and merged, so overlapping stops are subtracted once."""
    spans = []
    for begin, end in stops:
        begin, end = _utc(begin, "stop start"), _utc(end, "stop end")
        if end < begin:
            raise ValueError(f"stop ends before it starts: {begin} > {end}")
        if end > begin:
            spans.append((begin, end))
    merged: list[Interval] = []
    for begin, end in sorted(spans):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def _service_windows(since: datetime) -> Iterator[Interval]:
    """Service-hour windows in UTC, in order, from the Brussels day of ``since`` on."""
    day = since.astimezone(BRUSSELS).date()
    while True:
        if day.weekday() <= FRIDAY:
            opens = datetime.combine(day, OPENS, BRUSSELS).astimezone(UTC)
            closes = datetime.combine(day, CLOSES, BRUSSELS).astimezone(UTC)
            yield opens, closes
        day += timedelta(days=1)


def _running(since: datetime, stops: Iterable[Interval]) -> Iterator[Interval]:
    """The stretches from ``since`` on during which the clock runs (endless, in order)."""
    merged = _merged(stops)
    first = 0
    for opens, closes in _service_windows(since):
        cursor = max(opens, since)
        if cursor >= closes:
            continue
        while first < len(merged) and merged[first][1] <= cursor:
            first += 1
        for begin, end in merged[first:]:
            if begin >= closes:
                break
            if begin > cursor:
                yield cursor, begin
            cursor = max(cursor, end)
            if cursor >= closes:
                break
        if cursor < closes:
            yield cursor, closes


def service_time(start: datetime, end: datetime, stops: Iterable[Interval] = ()) -> timedelta:
    """Time in ``[start, end)`` inside service hours and outside every stop."""
    start, end = _utc(start, "start"), _utc(end, "end")
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    used = timedelta()
    for begin, stretch_end in _running(start, stops):
        if begin >= end:
            break
        used += min(stretch_end, end) - begin
    return used


def deadline(start: datetime, budget: timedelta, stops: Iterable[Interval] = ()) -> datetime:
    """The first instant at which ``budget`` of service time has run since ``start``.

    The inverse of ``service_time``: ``service_time(start, deadline(start, b)) == b``.
    A zero budget is used up at ``start`` itself. The answer is in ``start``'s zone.
    """
    since = _utc(start, "start")
    if budget < timedelta():
        raise ValueError(f"budget must not be negative, got {budget}")
    if not budget:
        return start
    left = budget
    for begin, end in _running(since, stops):
        if end - begin >= left:
            return (begin + left).astimezone(start.tzinfo)
        left -= end - begin
    raise AssertionError("unreachable: service windows never run out")
