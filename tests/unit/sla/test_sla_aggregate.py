"""The incident aggregate: every command's refusals and the fold, table-driven.

Times are Brussels wall-clock on Tuesday 10 March 2026; ``NOW`` is 17:00 that day.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from services.sla.domain import aggregate as agg
from services.sla.domain.aggregate import IncidentState, Rejected, StopClock
from services.sla.domain.clock import BRUSSELS
from services.sla.domain.targets import Priority

P1, P2, P3 = Priority.P1, Priority.P2, Priority.P3


def at(hour: int, minute: int = 0, day: int = 10) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=BRUSSELS)


NOW = at(17)
T = "7f1c6d0e-0000-4000-8000-000000000001"


def state(**changes) -> IncidentState:  # type: ignore[no-untyped-def]
    base = IncidentState("i-1", T, P2, "portal", at(9))
    return IncidentState(**{**base.__dict__, **changes})


OPEN = state()
STARTED = state(troubleshooting_started_at=at(10))
RESOLVED = state(troubleshooting_started_at=at(10), resolved_at=at(12))
STOPPED = state(stops=(StopClock(1, "customer", at(10), at(11)),))
STOP_OPEN = state(stops=(StopClock(1, "third_party", at(10), None),))


@pytest.mark.parametrize(
    ("priority", "via", "created", "code"),
    [
        (P1, "phone", at(9), None),
        (P1, "portal", at(9), "p1_by_phone_only"),
        (P2, "portal", at(9), None),
        (P3, "phone", at(9), None),
        (P2, "portal", at(18), "in_the_future"),
        (P2, "portal", datetime(2025, 3, 9, 16, tzinfo=BRUSSELS), "too_old"),  # 366 days + 1 h
        (P2, "portal", datetime(2025, 3, 9, 17, tzinfo=BRUSSELS), None),  # 366 days (both CET)
    ],
)
def test_report(priority: Priority, via: str, created: datetime, code: str | None) -> None:
    if code is None:
        event = agg.report(T, priority, via, created, NOW)  # type: ignore[arg-type]
        assert (event.priority, event.reported_via, event.created_at) == (priority, via, created)
    else:
        with pytest.raises(Rejected) as refused:
            agg.report(T, priority, via, created, NOW)  # type: ignore[arg-type]
        assert (refused.value.code, refused.value.kind) == (code, "invalid")


@pytest.mark.parametrize(
    ("before", "command", "code", "kind"),
    [
        # correction
        (OPEN, lambda s: agg.correct_priority(s, P1, at(10), NOW), None, None),
        (
            OPEN,
            lambda s: agg.correct_priority(s, P2, at(10), NOW),
            "priority_unchanged",
            "conflict",
        ),
        (
            OPEN,
            lambda s: agg.correct_priority(s, P1, at(8), NOW),
            "corrected_before_created",
            "invalid",
        ),
        # troubleshooting
        (OPEN, lambda s: agg.start_troubleshooting(s, at(9), NOW), None, None),
        (
            OPEN,
            lambda s: agg.start_troubleshooting(s, at(8, 59), NOW),
            "started_before_created",
            "invalid",
        ),
        (
            STARTED,
            lambda s: agg.start_troubleshooting(s, at(11), NOW),
            "troubleshooting_already_started",
            "conflict",
        ),
        (OPEN, lambda s: agg.start_troubleshooting(s, at(17, 1), NOW), "in_the_future", "invalid"),
        # resolution
        (STARTED, lambda s: agg.resolve(s, at(12), NOW), None, None),
        (OPEN, lambda s: agg.resolve(s, at(12), NOW), None, None),
        (OPEN, lambda s: agg.resolve(s, at(8), NOW), "resolved_before_created", "invalid"),
        (
            STARTED,
            lambda s: agg.resolve(s, at(9, 30), NOW),
            "resolved_before_troubleshooting",
            "invalid",
        ),
        (RESOLVED, lambda s: agg.resolve(s, at(13), NOW), "already_resolved", "conflict"),
        (STOP_OPEN, lambda s: agg.resolve(s, at(13), NOW), "stop_clock_open", "conflict"),
        (
            STOPPED,
            lambda s: agg.resolve(s, at(10, 30), NOW),
            "stop_clock_after_resolution",
            "invalid",
        ),
        (
            RESOLVED,
            lambda s: agg.start_troubleshooting(s, at(13), NOW),
            "troubleshooting_already_started",
            "conflict",
        ),
        (
            state(resolved_at=at(12)),
            lambda s: agg.start_troubleshooting(s, at(13), NOW),
            "started_after_resolved",
            "invalid",
        ),
        # stop clocks: [10:00, 11:00) is recorded in STOPPED
        (OPEN, lambda s: agg.stop_clock(s, "customer", at(10), at(11), NOW), None, None),
        (OPEN, lambda s: agg.stop_clock(s, "customer", at(10), None, NOW), None, None),
        (
            STOPPED,
            lambda s: agg.stop_clock(s, "connectivity", at(11), at(12), NOW),
            None,
            None,
        ),  # touching
        (STOPPED, lambda s: agg.stop_clock(s, "connectivity", at(9), at(10), NOW), None, None),
        (
            STOPPED,
            lambda s: agg.stop_clock(s, "connectivity", at(10, 59), at(12), NOW),
            "stop_clocks_overlap",
            "conflict",
        ),
        (
            STOPPED,
            lambda s: agg.stop_clock(s, "connectivity", at(9), at(10, 1), NOW),
            "stop_clocks_overlap",
            "conflict",
        ),
        (
            STOPPED,
            lambda s: agg.stop_clock(s, "connectivity", at(9), None, NOW),
            "stop_clocks_overlap",
            "conflict",
        ),
        (
            STOPPED,
            lambda s: agg.stop_clock(s, "connectivity", at(10, 15), at(10, 45), NOW),
            "stop_clocks_overlap",
            "conflict",
        ),
        (
            STOP_OPEN,
            lambda s: agg.stop_clock(s, "force_majeure", at(12), at(13), NOW),
            "stop_clocks_overlap",
            "conflict",
        ),
        (
            OPEN,
            lambda s: agg.stop_clock(s, "customer", at(8), at(10), NOW),
            "stop_clock_before_created",
            "invalid",
        ),
        (
            OPEN,
            lambda s: agg.stop_clock(s, "customer", at(11), at(11), NOW),
            "stop_clock_ends_before_start",
            "invalid",
        ),
        (
            OPEN,
            lambda s: agg.stop_clock(s, "customer", at(11), at(10), NOW),
            "stop_clock_ends_before_start",
            "invalid",
        ),
        (
            OPEN,
            lambda s: agg.stop_clock(s, "customer", at(16), at(18), NOW),
            "in_the_future",
            "invalid",
        ),
        (
            RESOLVED,
            lambda s: agg.stop_clock(s, "customer", at(11), at(13), NOW),
            "stop_clock_after_resolution",
            "invalid",
        ),
        (
            RESOLVED,
            lambda s: agg.stop_clock(s, "customer", at(11), None, NOW),
            "stop_clock_open_after_resolution",
            "invalid",
        ),
        (
            RESOLVED,
            lambda s: agg.stop_clock(s, "planned_maintenance", at(11), at(12), NOW),
            None,
            None,
        ),
        # ending an open stop clock
        (STOP_OPEN, lambda s: agg.end_stop_clock(s, 1, at(11), NOW), None, None),
        (
            STOP_OPEN,
            lambda s: agg.end_stop_clock(s, 2, at(11), NOW),
            "unknown_stop_clock",
            "invalid",
        ),
        (
            STOPPED,
            lambda s: agg.end_stop_clock(s, 1, at(12), NOW),
            "stop_clock_already_ended",
            "conflict",
        ),
        (
            STOP_OPEN,
            lambda s: agg.end_stop_clock(s, 1, at(9, 30), NOW),
            "stop_clock_ends_before_start",
            "invalid",
        ),
        (
            state(
                stops=(
                    StopClock(1, "customer", at(10), None),
                    StopClock(2, "customer", at(9), at(9, 30)),
                )
            ),
            lambda s: agg.end_stop_clock(s, 1, at(11), NOW),
            None,
            None,
        ),
    ],
)
def test_commands(before: IncidentState, command, code: str | None, kind: str | None) -> None:  # type: ignore[no-untyped-def]
    if code is None:
        after = agg.evolve(before, before.incident_id, command(before))
        assert after.version == before.version + 1
    else:
        with pytest.raises(Rejected) as refused:
            command(before)
        assert (refused.value.code, refused.value.kind) == (code, kind)


def test_fold_gives_the_measured_incident() -> None:
    events = [
        agg.report(T, P1, "phone", at(9), NOW),
        agg.correct_priority(
            agg.evolve(None, "i-1", agg.report(T, P1, "phone", at(9), NOW)), P2, at(9, 30), NOW
        ),
        agg.StopClockStarted(number=1, reason="customer", start=at(10), end=None),
        agg.StopClockEnded(number=1, end=at(10, 30)),
        agg.TroubleshootingStarted(at=at(11)),
        agg.IncidentResolved(at=at(12)),
    ]
    current = None
    for event in events:
        current = agg.evolve(current, "i-1", event)
    assert current is not None
    assert (current.version, current.priority, current.reported_priority) == (6, P2, P1)
    incident = current.as_incident()
    assert incident.stops == ((at(10), at(10, 30)),)
    assert (incident.troubleshooting_started_at, incident.resolved_at) == (at(11), at(12))


def test_events_before_the_report_are_refused() -> None:
    with pytest.raises(ValueError):
        agg.evolve(None, "i-1", agg.IncidentResolved(at=at(12)))
