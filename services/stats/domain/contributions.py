"""What one conversation adds to each rollup table: the rollups are sums of these.

The view keeps its rollups by adding ``after - before`` of every conversation a batch
touched, and rebuilds them by adding every conversation once; both use this one function,
so they cannot disagree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from services.stats.domain.buckets import GRAINS, bucket_start, local_day_and_hour
from services.stats.domain.facts import ConversationFact, elapsed_ms

#: (rollup table name, key tuple) -> {counter column: amount}
Contributions = dict[tuple[str, tuple], dict[str, int]]


def contributions(fact: ConversationFact, tz: ZoneInfo) -> Contributions:
    day, hour = local_day_and_hour(fact.opened_at, tz)
    t, ch = fact.tenant_id, fact.channel_type
    daily = {
        "conversations": 1,
        "assigned": int(fact.first_assigned_at is not None),
        "closed": int(fact.closed_at is not None),
        "messages": fact.messages,
        "messages_in": fact.messages_in,
        "messages_out": fact.messages_out,
        "messages_with_attachments": fact.messages_with_attachments,
    }
    wanted = fact.human_wanted_at
    _duration(daily, "first_responses", "first_response_ms", wanted, fact.first_response_at)
    _duration(daily, "queue_waits", "queue_wait_ms", wanted, fact.first_taken_at)
    _duration(daily, "handled", "handling_ms", fact.first_taken_at, fact.closed_at)
    if fact.bot_active:
        daily["bot_conversations"] = 1
        if fact.closed_at is not None:
            daily["bot_closed"] = 1
            daily["bot_contained"] = int(not fact.handed_over)
        _duration(
            daily, "handover_waits", "handover_wait_ms", fact.handover_requested_at, fact.human_at
        )
    out: Contributions = {}
    for grain in GRAINS:  # the same figures in the day's, the week's and the month's rows
        g = (t, grain, bucket_start(day, grain))
        out[("daily_conversations", (*g, ch))] = daily
        out[("hourly_conversations", (*g, hour, ch))] = {"conversations": 1}
        out[("daily_message_counts", (*g, ch, fact.messages))] = {"conversations": 1}
        for topic in fact.topics:
            out[("daily_topics", (*g, ch, topic))] = {"conversations": 1}
        for user, sent in fact.handlers.items():
            out[("daily_end_users", (*g, ch, user))] = {"conversations": 1, "messages_sent": sent}
    return out


def _duration(row: dict[str, int], count: str, total: str, start, end) -> None:  # type: ignore[no-untyped-def]
    ms = elapsed_ms(start, end)
    if ms is not None:
        row[count] = 1
        row[total] = ms


def add(into: dict[tuple[str, tuple], dict[str, int]], parts: Contributions, sign: int = 1) -> None:
    for key, counters in parts.items():
        row = into.setdefault(key, defaultdict(int))
        for column, amount in counters.items():
            row[column] += sign * amount


def total(parts: Iterable[Contributions]) -> dict[tuple[str, tuple], dict[str, int]]:
    out: dict[tuple[str, tuple], dict[str, int]] = {}
    for p in parts:
        add(out, p)
    return out


def changes(
    before: dict[tuple[str, tuple], dict[str, int]], after: dict[tuple[str, tuple], dict[str, int]]
) -> dict[tuple[str, tuple], dict[str, int]]:
    """``after - before``, without the keys and counters that did not move."""
    delta: dict[tuple[str, tuple], dict[str, int]] = {}
    add(delta, after)
    add(delta, before, -1)
    return {
        key: moved
        for key, row in delta.items()
        if (moved := {column: amount for column, amount in row.items() if amount})
    }
