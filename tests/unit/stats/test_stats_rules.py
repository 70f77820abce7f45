"""The statistics' pure rules: buckets in the tenant's time zone, periods, fact folding,
contributions and figures, with hand-computed expectations."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.stats.domain import contributions as contrib
from services.stats.domain.buckets import (
    InvalidFilters,
    Period,
    bucket_start,
    local_day_and_hour,
    period,
    segments,
    zone,
)
from services.stats.domain.facts import apply_event, opened
from services.stats.domain.figures import fold, median
from shared import events as ev

BRUSSELS = ZoneInfo("Europe/Brussels")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Brussels


@pytest.mark.parametrize(
    ("at", "tz", "day", "hour"),
    [
        (datetime(2026, 1, 31, 22, 30, tzinfo=UTC), "Europe/Brussels", date(2026, 1, 31), 23),
        (datetime(2026, 1, 31, 23, 30, tzinfo=UTC), "Europe/Brussels", date(2026, 2, 1), 0),
        (datetime(2026, 7, 31, 22, 30, tzinfo=UTC), "Europe/Brussels", date(2026, 8, 1), 0),
        (datetime(2026, 1, 1, 3, 0, tzinfo=UTC), "America/New_York", date(2025, 12, 31), 22),
        (datetime(2026, 1, 1, 3, 0, tzinfo=UTC), "Asia/Kolkata", date(2026, 1, 1), 8),
        (datetime(2026, 1, 1, 3, 0, tzinfo=UTC), "Not/AZone", date(2026, 1, 1), 3),
    ],
)
def test_an_event_counts_in_the_local_day_and_hour(at, tz, day, hour) -> None:
    assert local_day_and_hour(at, zone(tz)) == (day, hour)


@pytest.mark.parametrize(
    ("day", "bucket", "start"),
    [
        (date(2026, 3, 4), "day", date(2026, 3, 4)),
        (date(2026, 3, 4), "week", date(2026, 3, 2)),  # Wednesday -> Monday
        (date(2026, 3, 2), "week", date(2026, 3, 2)),
        (date(2026, 3, 8), "week", date(2026, 3, 2)),  # Sunday ends the week
        (date(2026, 1, 1), "week", date(2025, 12, 29)),  # weeks cross years
        (date(2026, 3, 31), "month", date(2026, 3, 1)),
    ],
)
def test_bucket_start(day, bucket, start) -> None:
    assert bucket_start(day, bucket) == start


TODAY = date(2026, 3, 15)


@pytest.mark.parametrize(
    ("first", "last", "bucket", "expected"),
    [
        (None, None, "day", Period(date(2026, 2, 14), TODAY, "day")),
        (date(2026, 1, 1), None, "week", Period(date(2026, 1, 1), TODAY, "week")),
        (None, date(2026, 1, 30), "day", Period(date(2026, 1, 1), date(2026, 1, 30), "day")),
        (
            date(2026, 1, 1),
            date(2026, 4, 2),
            "day",
            Period(date(2026, 1, 1), date(2026, 4, 2), "day"),
        ),
        (
            date(2025, 1, 1),
            date(2026, 12, 31),
            "week",
            Period(date(2025, 1, 1), date(2026, 12, 31), "week"),
        ),
        (
            date(2020, 1, 1),
            date(2024, 12, 31),
            "month",
            Period(date(2020, 1, 1), date(2024, 12, 31), "month"),
        ),
    ],
)
def test_periods_accepted(first, last, bucket, expected) -> None:
    assert period(first, last, bucket, TODAY) == expected


@pytest.mark.parametrize(
    ("first", "last", "bucket", "reasons"),
    [
        (
            date(2026, 2, 2),
            date(2026, 2, 1),
            "day",
            ["'from' (2026-02-02) is after 'to' (2026-02-01)"],
        ),
        (
            date(2026, 1, 1),
            date(2026, 4, 3),
            "day",
            [
                "the period has 93 days; at most 92 with bucket=day (use a larger bucket or a shorter period)"
            ],
        ),
        (
            date(2024, 1, 1),
            date(2026, 1, 2),
            "week",
            [
                "the period has 733 days; at most 732 with bucket=week (use a larger bucket or a shorter period)"
            ],
        ),
        (
            date(2016, 1, 1),
            date(2026, 1, 1),
            "month",
            [
                "the period has 3654 days; at most 1830 with bucket=month (use a larger bucket or a shorter period)"
            ],
        ),
        (
            date(2026, 2, 2),
            date(2026, 2, 1),
            "year",
            [
                "bucket must be one of day, week, month, not 'year'",
                "'from' (2026-02-02) is after 'to' (2026-02-01)",
            ],
        ),
    ],
)
def test_periods_refused_with_every_reason(first, last, bucket, reasons) -> None:
    with pytest.raises(InvalidFilters) as refused:
        period(first, last, bucket, TODAY)
    assert refused.value.reasons == reasons


def _conversation(bot: bool = False):  # type: ignore[no-untyped-def]
    return opened(
        "t1",
        ev.ConversationOpened(
            conversation_id=uuid.uuid4(),
            channel_id=uuid.uuid4(),
            channel_type="whatsapp",
            visitor_id=uuid.uuid4(),
            language="nl",
            opened_at=T0,
            bot_active=bot,
        ),
    )


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _sent(fact, author, user=None, minutes=0.0):  # type: ignore[no-untyped-def]
    return ev.MessageSent(
        conversation_id=uuid.UUID(fact.conversation_id),
        message_id=uuid.uuid4(),
        author=author,
        author_id=user,
        content=ev.MessageContent(text="x"),
        at=_at(minutes),
    )


def test_a_human_conversation_folds_into_its_figures() -> None:
    fact = _conversation()
    cid = uuid.UUID(fact.conversation_id)
    eric, nora = uuid.uuid4(), uuid.uuid4()
    received = ev.MessageReceived(
        conversation_id=cid,
        message_id=uuid.uuid4(),
        channel_message_id="m",
        content=ev.MessageContent(text="hi"),
        received_at=_at(0),
    )
    photo = ev.Attachment(
        attachment_id=uuid.uuid4(),
        kind="image",
        file_name="cup.jpg",
        content_type="image/jpeg",
        size=1000,
        sha256="0" * 64,
        key="tenants/t1/attachments/x/original",
    )
    with_photo = received.model_copy(
        update={"content": ev.MessageContent(kind="attachment", attachments=[photo])}
    )
    for p in [
        received,
        ev.ConversationQueued(conversation_id=cid, at=_at(0.1)),
        ev.ConversationAssigned(conversation_id=cid, assignee_id=eric, at=_at(1)),
        ev.ConversationTaken(conversation_id=cid, user_id=eric, at=_at(2)),  # waited 2 min
        _sent(fact, "system", minutes=2.5),
        _sent(fact, "agent", eric, minutes=3),  # first response after 3 min
        with_photo,
        ev.ConversationTaken(conversation_id=cid, user_id=nora, at=_at(4)),
        _sent(fact, "agent", nora, minutes=5),
        _sent(fact, "agent", nora, minutes=6),
        ev.ConversationArchived(conversation_id=cid, topics=["Billing", " Returns", ""], at=_at(9)),
        ev.ConversationClosed(conversation_id=cid, at=_at(12)),  # handled 10 min
    ]:
        apply_event(fact, p)
    assert (fact.messages_in, fact.messages_out, fact.messages) == (2, 4, 6)
    assert fact.messages_with_attachments == 1
    assert fact.handlers == {str(eric): 1, str(nora): 2}
    every = contrib.contributions(fact, BRUSSELS)
    day = date(2026, 3, 2)
    parts = {(name, key[:1] + key[2:]): v for (name, key), v in every.items() if key[1] == "day"}
    # The week's and the month's rows get the same (a Monday the 2nd: week of the 2nd, month of the 1st).
    for grain, start in (("week", day), ("month", date(2026, 3, 1))):
        assert {
            (name, key[:1] + key[3:]): v for (name, key), v in every.items() if key[1] == grain
        } == {(name, key[:1] + key[2:]): v for (name, key), v in parts.items()}
        assert all(key[2] == start for (_, key) in every if key[1] == grain)
    assert parts[("daily_conversations", ("t1", day, "whatsapp"))] == {
        "conversations": 1,
        "assigned": 1,
        "closed": 1,
        "messages": 6,
        "messages_in": 2,
        "messages_out": 4,
        "messages_with_attachments": 1,
        "first_responses": 1,
        "first_response_ms": 180_000,
        "queue_waits": 1,
        "queue_wait_ms": 120_000,
        "handled": 1,
        "handling_ms": 600_000,
    }
    assert parts[("hourly_conversations", ("t1", day, 10, "whatsapp"))] == {"conversations": 1}
    assert parts[("daily_message_counts", ("t1", day, "whatsapp", 6))] == {"conversations": 1}
    assert ("daily_topics", ("t1", day, "whatsapp", "Billing")) in parts
    assert ("daily_topics", ("t1", day, "whatsapp", "Returns")) in parts
    assert parts[("daily_end_users", ("t1", day, "whatsapp", str(nora)))] == {
        "conversations": 1,
        "messages_sent": 2,
    }
    assert len(parts) == 7


@pytest.mark.parametrize(
    ("states", "closed", "expected"),
    [
        # the bot answered alone and the conversation closed: contained
        ([], True, {"bot_conversations": 1, "bot_closed": 1, "bot_contained": 1}),
        # still open: not yet counted as contained or not
        ([], False, {"bot_conversations": 1}),
        # handed over after 1.5 min of waiting for a human
        (
            [("waiting_for_human", 1), ("human", 2.5)],
            True,
            {
                "bot_conversations": 1,
                "bot_closed": 1,
                "bot_contained": 0,
                "handover_waits": 1,
                "handover_wait_ms": 90_000,
                "queue_waits": 1,
                "queue_wait_ms": 90_000,  # taken 1.5 min after the request
            },
        ),
        # a colleague paused the bot directly: handed over, no handover wait
        (
            [("human", 3)],
            True,
            {
                "bot_conversations": 1,
                "bot_closed": 1,
                "bot_contained": 0,
                "queue_waits": 1,
                "queue_wait_ms": 0,
            },
        ),
    ],
)
def test_bot_containment_and_handover_wait(states, closed, expected) -> None:
    fact = _conversation(bot=True)
    cid = uuid.UUID(fact.conversation_id)
    apply_event(fact, _sent(fact, "bot", minutes=0.1))
    for state, minutes in states:
        apply_event(
            fact, ev.HandoverChanged(conversation_id=cid, state=state, reason="r", at=_at(minutes))
        )
        if state == "human":
            apply_event(
                fact,
                ev.ConversationTaken(conversation_id=cid, user_id=uuid.uuid4(), at=_at(minutes)),
            )
    if closed:
        apply_event(fact, ev.ConversationClosed(conversation_id=cid, at=_at(20)))
    daily = contrib.contributions(fact, BRUSSELS)[
        ("daily_conversations", ("t1", "day", date(2026, 3, 2), "whatsapp"))
    ]
    measured = {k: v for k, v in daily.items() if k.startswith(("bot_", "handover_", "queue_"))}
    assert measured == expected


def test_changes_keep_only_what_moved() -> None:
    fact = _conversation()
    before = contrib.contributions(fact, BRUSSELS)
    apply_event(
        fact,
        ev.MessageReceived(
            conversation_id=uuid.UUID(fact.conversation_id),
            message_id=uuid.uuid4(),
            channel_message_id="m",
            content=ev.MessageContent(),
            received_at=_at(1),
        ),
    )
    day = date(2026, 3, 2)
    moved = contrib.changes(before, contrib.contributions(fact, BRUSSELS))
    assert {k: v for k, v in moved.items() if k[1][1] == "day"} == {
        ("daily_conversations", ("t1", "day", day, "whatsapp")): {"messages": 1, "messages_in": 1},
        ("daily_message_counts", ("t1", "day", day, "whatsapp", 0)): {"conversations": -1},
        ("daily_message_counts", ("t1", "day", day, "whatsapp", 1)): {"conversations": 1},
    }
    assert len(moved) == 9  # and the same in the week's and the month's rows


@pytest.mark.parametrize(
    ("histogram", "expected"),
    [
        ({}, None),
        ({3: 1}, 3.0),
        ({1: 1, 2: 1}, 1.5),
        ({1: 2, 10: 1}, 1.0),
        ({1: 1, 2: 1, 7: 2}, 4.5),
        ({0: 5, 4: 5}, 2.0),
    ],
)
def test_median_of_a_histogram(histogram, expected) -> None:
    assert median(histogram) == expected


def test_rows_fold_into_totals() -> None:
    series = [
        {"bucket": date(2026, 3, 2), "channel_type": "webchat", "conversations": 2},
        {"bucket": date(2026, 3, 2), "channel_type": "messenger", "conversations": 8},
        {"bucket": date(2026, 3, 9), "channel_type": "webchat", "conversations": 4},
    ]
    assert fold(series, ("channel_type",), ("conversations",)) == [
        {"channel_type": "messenger", "conversations": 8},
        {"channel_type": "webchat", "conversations": 6},
    ]
    assert fold(series, (), ("conversations",)) == [{"conversations": 14}]
    assert fold([], (), ("conversations",)) == [{"conversations": 0}]


@pytest.mark.parametrize(
    ("first", "last", "grain", "expected"),
    [
        (
            date(2026, 3, 4),
            date(2026, 3, 20),
            "day",
            [("day", date(2026, 3, 4), date(2026, 3, 20))],
        ),
        # Wed 4th .. Fri 20th: days 4-8, whole week 9-15, days 16-20
        (
            date(2026, 3, 4),
            date(2026, 3, 20),
            "week",
            [
                ("day", date(2026, 3, 4), date(2026, 3, 8)),
                ("week", date(2026, 3, 9), date(2026, 3, 9)),
                ("day", date(2026, 3, 16), date(2026, 3, 20)),
            ],
        ),
        # Mon 2nd .. Sun 15th: two whole weeks, no edges
        (
            date(2026, 3, 2),
            date(2026, 3, 15),
            "week",
            [("week", date(2026, 3, 2), date(2026, 3, 9))],
        ),
        # no whole week inside
        (
            date(2026, 3, 4),
            date(2026, 3, 10),
            "week",
            [("day", date(2026, 3, 4), date(2026, 3, 10))],
        ),
        (
            date(2025, 12, 15),
            date(2026, 3, 10),
            "month",
            [
                ("day", date(2025, 12, 15), date(2025, 12, 31)),
                ("month", date(2026, 1, 1), date(2026, 2, 1)),
                ("day", date(2026, 3, 1), date(2026, 3, 10)),
            ],
        ),
        (
            date(2024, 1, 1),
            date(2024, 2, 29),
            "month",
            [("month", date(2024, 1, 1), date(2024, 2, 1))],
        ),
        (
            date(2026, 2, 2),
            date(2026, 2, 27),
            "month",
            [("day", date(2026, 2, 2), date(2026, 2, 27))],
        ),
    ],
)
def test_periods_are_covered_by_whole_weeks_and_months(first, last, grain, expected) -> None:
    assert segments(first, last, grain) == expected


@pytest.mark.parametrize("grain", ["week", "month"])
def test_segments_cover_every_day_once(grain) -> None:  # type: ignore[no-untyped-def]
    first = date(2025, 11, 3)
    for length in range(0, 120, 7):
        for shift in range(0, 9):
            a = first + timedelta(days=shift)
            b = a + timedelta(days=length)
            covered: list[date] = []
            for g, lo, hi in segments(a, b, grain):
                day = lo
                while day <= hi:
                    if g == "day":
                        covered.append(day)
                    else:
                        span = 7 if g == "week" else 0
                        end = (
                            day + timedelta(days=span)
                            if span
                            else _month_end(day) + timedelta(days=1)
                        )
                        covered += [day + timedelta(days=i) for i in range((end - day).days)]
                    day = (
                        day + timedelta(days=1)
                        if g == "day"
                        else (
                            day + timedelta(days=7)
                            if g == "week"
                            else _month_end(day) + timedelta(days=1)
                        )
                    )
            assert covered == [a + timedelta(days=i) for i in range((b - a).days + 1)]


def _month_end(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)
