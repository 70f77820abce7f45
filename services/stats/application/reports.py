"""The dashboard's reports: one query per report, whose rows are the series; the summary,
the breakdown and the CSV export are all made from those rows, so they always agree.

Every query reads a rollup table by (tenant, local day range[, channel]) through its
primary key and groups by bucket (day, week or month start) and the report's dimension;
the queries are in ``store.rollups`` (reached through ``application.ports.Rollups``), the
figures made of their rows are here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

from services.stats.application.ports import Rollups
from services.stats.domain.buckets import Period, period, today_in, zone
from services.stats.domain.figures import (
    Row,
    average_seconds,
    fold,
    median,
    ratio,
)
from shared.errors import Refusal


@dataclass(frozen=True, slots=True)
class Filters:
    tenant_id: str
    period: Period
    channel: str | None = None


@dataclass(slots=True)
class Report:
    name: str
    #: The series' columns, in CSV order.
    columns: list[str]
    series: list[Row]
    summary: Row
    breakdown: list[Row] = field(default_factory=list)


def _series(
    db: Rollups, rollup: str, f: Filters, dimensions: Sequence[str], measures: Sequence[str]
) -> list[Row]:
    """The report's one query: measures summed per bucket and dimension, in order."""
    return db.series(rollup, f.tenant_id, f.period, f.channel, dimensions, measures)


def _totals(
    db: Rollups, rollup: str, f: Filters, dimensions: Sequence[str], measures: Sequence[str]
) -> list[Row]:
    return db.totals(rollup, f.tenant_id, f.period, f.channel, dimensions, measures)


# --- conversations -------------------------------------------------------------------

CONVERSATION_MEASURES = (
    "conversations",
    "assigned",
    "closed",
    "messages",
    "messages_with_attachments",
    "first_responses",
    "first_response_ms",
    "queue_waits",
    "queue_wait_ms",
    "handled",
    "handling_ms",
)


CONVERSATION_FIGURES = (
    "average_first_response_seconds",
    "average_queue_wait_seconds",
    "average_handling_seconds",
)


def _conversation_figures(row: Row) -> Row:
    return row | {
        "average_first_response_seconds": average_seconds(
            row["first_response_ms"], row["first_responses"]
        ),
        "average_queue_wait_seconds": average_seconds(row["queue_wait_ms"], row["queue_waits"]),
        "average_handling_seconds": average_seconds(row["handling_ms"], row["handled"]),
    }


def conversations(db: Rollups, f: Filters) -> Report:
    """Conversations received per channel, with response, queue and handling times."""
    dims = ("channel_type",)
    series = _series(db, "daily_conversations", f, dims, CONVERSATION_MEASURES)
    return Report(
        "conversations",
        ["bucket", *dims, *CONVERSATION_MEASURES, *CONVERSATION_FIGURES],
        [_conversation_figures(r) for r in series],
        _conversation_figures(fold(series, (), CONVERSATION_MEASURES)[0]),
        [_conversation_figures(r) for r in fold(series, dims, CONVERSATION_MEASURES)],
    )


# --- hour of day ---------------------------------------------------------------------


def per_hour(db: Rollups, f: Filters) -> Report:
    """Conversations by the local hour of day they opened in (0-23): the hours are the
    buckets, so the series has 24 rows whatever the bucket size."""
    found = {
        r["hour"]: r["conversations"]
        for r in _totals(db, "hourly_conversations", f, ("hour",), ("conversations",))
    }
    series = [{"hour": h, "conversations": found.get(h, 0)} for h in range(24)]
    return Report(
        "per-hour",
        ["hour", "conversations"],
        series,
        fold(series, (), ("conversations",))[0],
        series,
    )


# --- topics --------------------------------------------------------------------------


def per_topic(db: Rollups, f: Filters) -> Report:
    """Conversations per topic they were archived under (one under two topics counts twice)."""
    series = _series(db, "daily_topics", f, ("topic",), ("conversations",))
    breakdown = fold(series, ("topic",), ("conversations",))
    breakdown.sort(key=lambda r: (-r["conversations"], r["topic"]))
    return Report(
        "per-topic",
        ["bucket", "topic", "conversations"],
        series,
        fold(series, (), ("conversations",))[0],
        breakdown,
    )


# --- messages ------------------------------------------------------------------------


def messages(db: Rollups, f: Filters) -> Report:
    """Messages per conversation (visitor's and ours): average, median and distribution."""
    rows = _series(db, "daily_message_counts", f, ("messages",), ("conversations",))
    histograms: dict[Any, dict[int, int]] = {}
    for r in rows:
        histograms.setdefault(r["bucket"], {})[r["messages"]] = r["conversations"]
    series = [{"bucket": b, **_message_figures(h)} for b, h in histograms.items()]
    overall: dict[int, int] = {}
    for h in histograms.values():
        for n, count in h.items():
            overall[n] = overall.get(n, 0) + count
    return Report(
        "messages",
        ["bucket", "conversations", "messages", "average", "median"],
        series,
        _message_figures(overall),
        [{"messages": n, "conversations": overall[n]} for n in sorted(overall)],
    )


def _message_figures(histogram: dict[int, int]) -> Row:
    conversations = sum(histogram.values())
    total = sum(n * count for n, count in histogram.items())
    return {
        "conversations": conversations,
        "messages": total,
        "average": round(total / conversations, 2) if conversations else None,
        "median": median(histogram),
    }


# --- end users -----------------------------------------------------------------------


def per_end_user(db: Rollups, f: Filters) -> Report:
    """Conversations each end user took or answered in (one handled by two counts for both)."""
    measures = ("conversations", "messages_sent")
    series = _series(db, "daily_end_users", f, ("user_id",), measures)
    names = db.end_user_names(f.tenant_id)
    named = [r | {"name": names.get(r["user_id"])} for r in series]
    breakdown = [
        r | {"name": names.get(r["user_id"])} for r in fold(series, ("user_id",), measures)
    ]
    breakdown.sort(key=lambda r: (-r["conversations"], r["name"] or "", r["user_id"]))
    return Report(
        "per-end-user",
        ["bucket", "user_id", "name", *measures],
        named,
        fold(series, (), measures)[0],
        breakdown,
    )


# --- bot (Bot plan) ------------------------------------------------------------------

BOT_MEASURES = (
    "bot_conversations",
    "bot_closed",
    "bot_contained",
    "handover_waits",
    "handover_wait_ms",
)


def _bot_figures(row: Row) -> Row:
    return row | {
        "containment_rate": ratio(row["bot_contained"], row["bot_closed"]),
        "average_handover_wait_seconds": average_seconds(
            row["handover_wait_ms"], row["handover_waits"]
        ),
    }


def bot(db: Rollups, f: Filters) -> Report:
    """Bot containment (closed bot conversations never handed to a human) and handover wait."""
    series = _series(db, "daily_conversations", f, (), BOT_MEASURES)
    return Report(
        "bot",
        ["bucket", *BOT_MEASURES, "containment_rate", "average_handover_wait_seconds"],
        [_bot_figures(r) for r in series],
        _bot_figures(fold(series, (), BOT_MEASURES)[0]),
    )


REPORTS: dict[str, Callable[[Rollups, Filters], Report]] = {
    "conversations": conversations,
    "per-hour": per_hour,
    "per-topic": per_topic,
    "messages": messages,
    "per-end-user": per_end_user,
    "bot": bot,
}


class PlanRequired(Refusal):
    """The report needs a plan the tenant does not have (the Bot tab: the Bot plan)."""

    kind = "forbidden"

    def __init__(self, plan: str) -> None:
        super().__init__("plan_required", f"This needs the {plan} plan.", {"plan": plan})


class Answer(NamedTuple):
    report: Report
    filters: Filters
    time_zone: str


def answer(
    db: Rollups,
    name: str,
    tenant_id: str,
    first: date | None,
    last: date | None,
    bucket: str,
    channel: str | None = None,
    need_plan: str | None = None,
) -> Answer:
    """The report ``name`` for the tenant's local days ``first`` to ``last`` (defaults
    filled in from the tenant's today), or a refusal (``PlanRequired``, ``InvalidFilters``)."""
    time_zone, plan = db.tenant_settings(tenant_id)
    if need_plan and plan != need_plan:
        raise PlanRequired(need_plan)
    asked = period(first, last, bucket, today_in(zone(time_zone)))
    filters = Filters(tenant_id, asked, channel)
    return Answer(REPORTS[name](db, filters), filters, time_zone)
