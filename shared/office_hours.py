"""Office hours (spec §3.1.7): is the tenant open at instant T?

One pure module (no I/O, stdlib ``zoneinfo`` only) shared by out-of-office replies, routing
and reports, so they all agree on what "open" means. The models are Pydantic so the API can
take them as request bodies unchanged.

Rules
-----
* An instant is converted to the tenant's zone. It is closed on a closing day (a one-off day
  matches its date; a recurring day matches month and day every year, so Feb 29 only closes
  leap years). Otherwise it is open iff the local *wall-clock* time lies in ``[start, end)`` of
  one of that weekday's intervals; ``end == 00:00`` means end of day.
* A tenant with nothing configured is expressed as ``OfficeHours(always_open=True)``: a plain
  JSON flag, so the API can store and send it like any other setting. It excludes weekly hours
  and closing days (24/7 with closing days is seven ``00:00-00:00`` intervals instead).

DST (e.g. Europe/Brussels: 02:00->03:00 on the last Sunday of March, 03:00->02:00 on the
last Sunday of October) follows from deciding by wall-clock time, because that is what the
tenant typed:

* Spring gap: wall times 02:00-02:59 never occur, so an interval lying inside the gap never
  opens, while one spanning it (01:00-04:00) is open at 03:30 local. An interval starting in
  the gap (02:30-04:00) opens at the instant the clock jumps to 03:00.
* Autumn overlap: both occurrences of 02:30 are in 02:00-03:00, so that interval is open for
  two real hours; an interval 01:00-02:30 is open, closed from the first 02:30 to 03:00, then
  open again from the second 02:00 until 02:30.

``closed_period_start`` and ``next_opening`` work on the same rule, turned into UTC ranges per
local day (see ``_open_ranges``), and both search at most ``SEARCH_DAYS`` days.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from itertools import pairwise
from typing import Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

__all__ = [
    "NEVER_OPEN",
    "SEARCH_DAYS",
    "WEEKDAYS",
    "ClosingDay",
    "OfficeHours",
    "OpeningInterval",
    "Weekday",
    "closed_period_start",
    "is_open",
    "next_opening",
]

UTC = dt.UTC
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)  # index = date.weekday()

SEARCH_DAYS = 400
"""How far ``closed_period_start`` looks back and ``next_opening`` looks ahead."""

NEVER_OPEN = dt.datetime(1970, 1, 1, tzinfo=UTC)
"""``closed_period_start`` when there was no opening in the last ``SEARCH_DAYS`` days.

A fixed instant rather than "start of the search window": the window moves with ``at``, and
callers key "one out-of-office per conversation per closed period" on the returned value, so
an always-closed tenant must get one stable key.
"""

_MIDNIGHT = dt.time(0)
_DAY = dt.timedelta(days=1)


def _since_midnight(t: dt.time) -> dt.timedelta:
    return dt.timedelta(
        hours=t.hour, minutes=t.minute, seconds=t.second, microseconds=t.microsecond
    )


class OpeningInterval(BaseModel):
    """Open from ``start`` (inclusive) to ``end`` (exclusive) local wall time; 00:00 end = 24:00."""

    model_config = ConfigDict(extra="forbid")

    start: dt.time
    end: dt.time

    @model_validator(mode="after")
    def _check(self) -> OpeningInterval:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("opening times are wall-clock times: give them without a UTC offset")
        if self.end != _MIDNIGHT and self.end <= self.start:
            raise ValueError(f"interval end {self.end} must be after start {self.start} (or 00:00)")
        return self

    def bounds(self) -> tuple[dt.timedelta, dt.timedelta]:
        """Start and end as offsets from local midnight, with end 00:00 as 24 hours."""
        end = _DAY if self.end == _MIDNIGHT else _since_midnight(self.end)
        return _since_midnight(self.start), end


class ClosingDay(BaseModel):
    """A day closed all day; ``recurring_yearly`` repeats it on the same month and day."""

    model_config = ConfigDict(extra="forbid")

    date: dt.date
    recurring_yearly: bool = False
    label: str | None = None

    def matches(self, day: dt.date) -> bool:
        if self.recurring_yearly:
            return (self.date.month, self.date.day) == (day.month, day.day)
        return self.date == day


class OfficeHours(BaseModel):
    """A tenant's weekly opening intervals (missing weekday = closed) and closing days."""

    model_config = ConfigDict(extra="forbid")

    time_zone: str = "Europe/Brussels"
    weekly: dict[Weekday, list[OpeningInterval]] = {}
    closing_days: list[ClosingDay] = []
    always_open: bool = False

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(
                f"unknown time zone {value!r}: expected an IANA name such as 'Europe/Brussels'"
            ) from None
        return value

    @model_validator(mode="after")
    def _check(self) -> OfficeHours:
        if self.always_open and (any(self.weekly.values()) or self.closing_days):
            raise ValueError("always_open excludes weekly intervals and closing days")
        for day, intervals in self.weekly.items():
            ordered = sorted(interval.bounds() for interval in intervals)
            for (_, previous_end), (start, _) in pairwise(ordered):
                if start < previous_end:
                    raise ValueError(f"opening intervals on {day} overlap")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)  # ZoneInfo caches instances per key

    def is_closing_day(self, day: dt.date) -> bool:
        return any(closing.matches(day) for closing in self.closing_days)


def _aware_utc(at: dt.datetime) -> dt.datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"instant must be timezone-aware, got naive {at!r}")
    return at.astimezone(UTC)


def is_open(hours: OfficeHours, at: dt.datetime) -> bool:
    """Whether the tenant is open at ``at`` (must be timezone-aware)."""
    local = _aware_utc(at).astimezone(hours.zone)
    if hours.always_open:
        return True
    if hours.is_closing_day(local.date()):
        return False
    wall = _since_midnight(local.time())
    intervals = hours.weekly.get(WEEKDAYS[local.weekday()], [])
    return any(start <= wall < end for start, end in (i.bounds() for i in intervals))


def closed_period_start(hours: OfficeHours, at: dt.datetime) -> dt.datetime | None:
    """When closed, the UTC instant the current closed period began; None when open.

    That is the end of the last opening before ``at``, so every instant of one closed period
    gets the same value and different closed periods get different values: callers key the
    "one out-of-office per conversation per closed period" rule on it. Without an opening in
    the last ``SEARCH_DAYS`` local days the value is ``NEVER_OPEN``.
    """
    at_utc = _aware_utc(at)
    if is_open(hours, at_utc):
        return None
    today = at_utc.astimezone(hours.zone).date()
    for back in range(SEARCH_DAYS + 1):
        ends = [end for _, end in _open_ranges(hours, today - back * _DAY) if end <= at_utc]
        if ends:  # ranges of a later local day all lie after those of an earlier one
            return max(ends)
    return NEVER_OPEN


def next_opening(hours: OfficeHours, at: dt.datetime) -> dt.datetime | None:
    """The earliest UTC instant at or after ``at`` when the tenant is open.

    That is ``at`` itself when already open ("when can a human answer?"), else the start of the
    next opening; None when there is none within ``SEARCH_DAYS`` local days.
    """
    at_utc = _aware_utc(at)
    if is_open(hours, at_utc):
        return at_utc
    today = at_utc.astimezone(hours.zone).date()
    for ahead in range(SEARCH_DAYS + 1):
        starts = [start for start, _ in _open_ranges(hours, today + ahead * _DAY) if start > at_utc]
        if starts:
            return min(starts)
    return None


def _open_ranges(hours: OfficeHours, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
    """The UTC ranges ``[start, end)`` in which ``is_open`` holds on local date ``day``.

    Within a stretch of constant UTC offset the wall clock is ``utc + offset``, so an interval
    maps to ``[wall start - offset, wall end - offset)`` clipped to that stretch. Clipping to
    each stretch is what yields the DST rules of the module docstring.
    """
    intervals = hours.weekly.get(WEEKDAYS[day.weekday()], [])
    if hours.always_open or not intervals or hours.is_closing_day(day):
        return []
    wall_midnight = dt.datetime.combine(day, _MIDNIGHT, tzinfo=UTC)  # wall clock read as UTC
    ranges = []
    for stretch_start, stretch_end, offset in _constant_offset_stretches(hours.time_zone, day):
        for start, end in (interval.bounds() for interval in intervals):
            lo = max(stretch_start, wall_midnight + start - offset)
            hi = min(stretch_end, wall_midnight + end - offset)
            if lo < hi:
                ranges.append((lo, hi))
    return sorted(ranges)


_HOUR = dt.timedelta(hours=1)
_SECOND = dt.timedelta(seconds=1)
_MARGIN = dt.timedelta(hours=15)  # UTC offsets lie within -12h..+14h


@lru_cache(maxsize=4096)
def _constant_offset_stretches(
    time_zone: str, day: dt.date
) -> tuple[tuple[dt.datetime, dt.datetime, dt.timedelta], ...]:
    """Split a UTC window covering every instant of local ``day`` into constant-offset stretches.

    ``zoneinfo`` does not expose its transitions, so sample hourly and bisect to the second
    where the offset changes (transitions are whole seconds, and never two within an hour).
    """
    zone = ZoneInfo(time_zone)

    def offset(t: dt.datetime) -> dt.timedelta:
        return t.astimezone(zone).utcoffset()  # type: ignore[return-value]

    t = dt.datetime.combine(day, _MIDNIGHT, tzinfo=UTC) - _MARGIN
    window_end = t + _DAY + 2 * _MARGIN
    stretch_start, current = t, offset(t)
    stretches = []
    while t < window_end:
        sample = t + _HOUR
        if offset(sample) != current:
            lo, hi = t, sample  # offset(lo) == current != offset(hi)
            while hi - lo > _SECOND:
                mid = lo + dt.timedelta(seconds=(hi - lo) // _SECOND // 2)
                lo, hi = (mid, hi) if offset(mid) == current else (lo, mid)
            stretches.append((stretch_start, hi, current))
            stretch_start, current = hi, offset(hi)
        t = sample
    stretches.append((stretch_start, window_end, current))
    return tuple(stretches)
