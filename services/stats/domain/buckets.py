"""Which bucket a conversation counts in, and which periods a dashboard may ask for.

The rule: a conversation, and every figure about it, counts in the day of its
``opened_at`` in the tenant's time zone. A week is Monday to Sunday and is named by its
Monday; a month is named by its first day. A period is a range of those local days,
both ends included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.errors import Refusal

Bucket = Literal["day", "week", "month"]
BUCKETS: tuple[str, ...] = ("day", "week", "month")

#: The longest period per bucket size, in days (both ends included): a quarter by day,
#: two years by week, five by month. A longer series is unreadable on a chart, and these
#: bounds keep every report query within the benchmark's budget (bench/stats.py).
MAX_DAYS: dict[str, int] = {"day": 92, "week": 2 * 366, "month": 5 * 366}
#: The period shown when none is asked for: the last 30 days up to today.
DEFAULT_DAYS = 30


def zone(name: str | None) -> ZoneInfo:
    """The tenant's time zone; UTC when unknown (not yet seen, or a name we cannot read)."""
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_day_and_hour(at: datetime, tz: ZoneInfo) -> tuple[date, int]:
    local = at.astimezone(tz)
    return local.date(), local.hour


GRAINS: tuple[str, ...] = ("day", "week", "month")


def bucket_start(day: date, bucket: str) -> date:
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    return day


@dataclass(frozen=True, slots=True)
class Period:
    first_day: date
    last_day: date
    bucket: str


class InvalidFilters(Refusal, ValueError):
    """The period asked for is refused, with every reason at once (``details``)."""

    kind = "invalid"

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("invalid_filters", "; ".join(reasons), reasons)
        self.reasons = reasons


def period(first: date | None, last: date | None, bucket: str, today: date) -> Period:
    """The period asked for, with the defaults filled in, or every reason it is refused."""
    reasons: list[str] = []
    if bucket not in BUCKETS:
        reasons.append(f"bucket must be one of {', '.join(BUCKETS)}, not {bucket!r}")
    last = last or today
    first = first or max(date.min, last - timedelta(days=DEFAULT_DAYS - 1))
    if first > last:
        reasons.append(f"'from' ({first}) is after 'to' ({last})")
    elif bucket in MAX_DAYS and (last - first).days + 1 > MAX_DAYS[bucket]:
        reasons.append(
            f"the period has {(last - first).days + 1} days; at most {MAX_DAYS[bucket]} "
            f"with bucket={bucket} (use a larger bucket or a shorter period)"
        )
    if reasons:
        raise InvalidFilters(reasons)
    return Period(first, last, bucket)


def today_in(tz: ZoneInfo, now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(tz).date()


def segments(first: date, last: date, grain: str) -> list[tuple[str, date, date]]:
    """Cover the days ``first..last`` with as many whole weeks or months (``grain``) as fit,
    and single days at the edges: ``(grain, lowest row day, highest row day)``, where a
    week's or month's rollup row is dated by its first day. Sums over them equal sums over
    the days."""
    if grain == "week":
        start = first + timedelta(days=(7 - first.weekday()) % 7)
        end = last - timedelta(days=(last.weekday() + 1) % 7)  # last Sunday <= last
        whole = (start, end - timedelta(days=6))
    elif grain == "month":
        start = first if first.day == 1 else _next_month(first)
        end = _next_month(last) - timedelta(days=1)
        if end != last:
            end = last.replace(day=1) - timedelta(days=1)
        whole = (start, end.replace(day=1))
    else:
        return [("day", first, last)]
    if start > end:
        return [("day", first, last)]
    out = []
    if first < start:
        out.append(("day", first, start - timedelta(days=1)))
    out.append((grain, *whole))
    if end < last:
        out.append(("day", end + timedelta(days=1), last))
    return out


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)
