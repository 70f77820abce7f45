"""The incident aggregate: the service desk's commands, decided against the incident's history.

Every command either returns one event (past tense) or raises :class:`Rejected` with the
reason; the state is the fold of the events (``evolve``). No I/O: the application loads
the history, calls a command here, appends the event and projects the new state.

Rules (SPEC §6, Dutch §5.1.1, §6.1, §6.4):

- An incident is reported by phone or through the portal; P1 only by phone.
- The service desk corrects the priority after diagnosis; the corrected one is measured.
  A correction to P1 is the desk's own finding, so it is allowed whatever the channel.
- Troubleshooting starts and the incident is resolved once each, never before creation,
  and troubleshooting never after resolution (a resolution without a recorded start
  counts as the start, see ``incident.measure``).
- Stop-clock intervals carry a reason, start at or after creation, end after they start,
  never overlap one another, and end no later than the resolution. At most one stays
  open (end unknown); it must be ended before the incident is resolved.
- Nothing happens in the future: instants after ``now`` are refused; a ticket is
  recorded at most ``MAX_AGE`` (a year) after its creation, which bounds the clock's work
  and covers the claim window (3 months after the breach month) with room to spare.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from services.sla.domain.incident import Incident
from services.sla.domain.targets import Priority
from shared.errors import Refusal

MAX_AGE = timedelta(days=366)

ReportedVia = Literal["phone", "portal"]
StopReason = Literal[
    "customer", "force_majeure", "connectivity", "third_party", "planned_maintenance"
]


class Rejected(Refusal, ValueError):
    """A command the incident refuses (a ``shared.errors.Refusal``). ``kind``: ``invalid``
    (the input itself cannot be right) or ``conflict`` (it contradicts what was recorded
    before)."""

    def __init__(self, kind: Literal["invalid", "conflict"], code: str, message: str) -> None:
        super().__init__(code, message, kind=kind)


# --- events ---------------------------------------------------------------------------


class IncidentEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IncidentReported(IncidentEvent):
    tenant_id: str
    priority: Priority
    reported_via: ReportedVia
    created_at: AwareDatetime
    summary: str = ""


class PriorityCorrected(IncidentEvent):
    priority: Priority
    at: AwareDatetime


class TroubleshootingStarted(IncidentEvent):
    at: AwareDatetime


class IncidentResolved(IncidentEvent):
    at: AwareDatetime


class StopClockStarted(IncidentEvent):
    number: int
    reason: StopReason
    start: AwareDatetime
    end: AwareDatetime | None = None


class StopClockEnded(IncidentEvent):
    number: int
    end: AwareDatetime


EVENTS: dict[str, type[IncidentEvent]] = {
    cls.__name__: cls
    for cls in (
        IncidentReported,
        PriorityCorrected,
        TroubleshootingStarted,
        IncidentResolved,
        StopClockStarted,
        StopClockEnded,
    )
}


# --- state ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StopClock:
    number: int
    reason: StopReason
    start: datetime
    end: datetime | None


@dataclass(frozen=True)
class IncidentState:
    incident_id: str
    tenant_id: str
    reported_priority: Priority
    reported_via: ReportedVia
    created_at: datetime
    summary: str = ""
    corrected_priority: Priority | None = None
    troubleshooting_started_at: datetime | None = None
    resolved_at: datetime | None = None
    stops: tuple[StopClock, ...] = ()
    version: int = 1

    @property
    def priority(self) -> Priority:
        return self.corrected_priority or self.reported_priority

    def as_incident(self) -> Incident:
        """The incident as the SLA clock measures it."""
        return Incident(
            reported_priority=self.reported_priority,
            created_at=self.created_at,
            corrected_priority=self.corrected_priority,
            troubleshooting_started_at=self.troubleshooting_started_at,
            resolved_at=self.resolved_at,
            stops=tuple((s.start, s.end) for s in self.stops),
            incident_id=self.incident_id,
        )


def evolve(state: IncidentState | None, incident_id: str, event: IncidentEvent) -> IncidentState:
    """The state after ``event``; the first event must be ``IncidentReported``."""
    if isinstance(event, IncidentReported):
        return IncidentState(
            incident_id=incident_id,
            tenant_id=event.tenant_id,
            reported_priority=event.priority,
            reported_via=event.reported_via,
            created_at=event.created_at,
            summary=event.summary,
        )
    if state is None:
        raise ValueError(f"{type(event).__name__} before IncidentReported")
    after = replace(state, version=state.version + 1)
    if isinstance(event, PriorityCorrected):
        return replace(after, corrected_priority=event.priority)
    if isinstance(event, TroubleshootingStarted):
        return replace(after, troubleshooting_started_at=event.at)
    if isinstance(event, IncidentResolved):
        return replace(after, resolved_at=event.at)
    if isinstance(event, StopClockStarted):
        stop = StopClock(event.number, event.reason, event.start, event.end)
        return replace(after, stops=(*state.stops, stop))
    if isinstance(event, StopClockEnded):
        stops = tuple(
            replace(s, end=event.end) if s.number == event.number else s for s in state.stops
        )
        return replace(after, stops=stops)
    raise ValueError(f"unknown incident event {type(event).__name__}")


# --- commands -------------------------------------------------------------------------


def _not_future(moment: datetime, now: datetime, what: str) -> None:
    if moment > now:
        raise Rejected("invalid", "in_the_future", f"{what} {moment.isoformat()} is in the future.")


def _not_before_creation(state: IncidentState, moment: datetime, code: str, what: str) -> None:
    if moment < state.created_at:
        raise Rejected(
            "invalid",
            code,
            f"{what} {moment.isoformat()} is before the incident was created "
            f"({state.created_at.isoformat()}).",
        )


def report(
    tenant_id: str,
    priority: Priority,
    reported_via: ReportedVia,
    created_at: datetime,
    now: datetime,
    summary: str = "",
) -> IncidentReported:
    if priority is Priority.P1 and reported_via != "phone":
        raise Rejected(
            "invalid", "p1_by_phone_only", "A P1 incident can only be reported by phone (§6.4)."
        )
    _not_future(created_at, now, "Creation")
    if created_at < now - MAX_AGE:
        raise Rejected(
            "invalid", "too_old", f"Creation {created_at.isoformat()} is more than a year ago."
        )
    return IncidentReported(
        tenant_id=tenant_id,
        priority=priority,
        reported_via=reported_via,
        created_at=created_at,
        summary=summary,
    )


def correct_priority(
    state: IncidentState, priority: Priority, at: datetime, now: datetime
) -> PriorityCorrected:
    _not_future(at, now, "Correction")
    _not_before_creation(state, at, "corrected_before_created", "Correction")
    if priority is state.priority:
        raise Rejected("conflict", "priority_unchanged", f"The incident already is {priority}.")
    return PriorityCorrected(priority=priority, at=at)


def start_troubleshooting(
    state: IncidentState, at: datetime, now: datetime
) -> TroubleshootingStarted:
    if state.troubleshooting_started_at is not None:
        raise Rejected(
            "conflict",
            "troubleshooting_already_started",
            f"Troubleshooting started at {state.troubleshooting_started_at.isoformat()}.",
        )
    _not_future(at, now, "Start of troubleshooting")
    _not_before_creation(state, at, "started_before_created", "Start of troubleshooting")
    if state.resolved_at is not None and at > state.resolved_at:
        raise Rejected(
            "invalid",
            "started_after_resolved",
            f"Troubleshooting cannot start after the resolution ({state.resolved_at.isoformat()}).",
        )
    return TroubleshootingStarted(at=at)


def resolve(state: IncidentState, at: datetime, now: datetime) -> IncidentResolved:
    if state.resolved_at is not None:
        raise Rejected(
            "conflict", "already_resolved", f"Resolved at {state.resolved_at.isoformat()}."
        )
    _not_future(at, now, "Resolution")
    _not_before_creation(state, at, "resolved_before_created", "Resolution")
    started = state.troubleshooting_started_at
    if started is not None and at < started:
        raise Rejected(
            "invalid",
            "resolved_before_troubleshooting",
            f"Resolution is before the start of troubleshooting ({started.isoformat()}).",
        )
    for stop in state.stops:
        if stop.end is None:
            raise Rejected(
                "conflict", "stop_clock_open", f"Stop clock {stop.number} must be ended first."
            )
        if stop.end > at:
            raise Rejected(
                "invalid",
                "stop_clock_after_resolution",
                f"Stop clock {stop.number} ends after this resolution.",
            )
    return IncidentResolved(at=at)


def _overlapping(state: IncidentState, start: datetime, end: datetime | None) -> list[int]:
    """Numbers of the recorded stops that share time with ``[start, end)``."""
    clash = []
    for stop in state.stops:
        ends_after_start = stop.end is None or stop.end > start
        starts_before_end = end is None or stop.start < end
        if ends_after_start and starts_before_end:
            clash.append(stop.number)
    return clash


def _check_stop_end(state: IncidentState, start: datetime, end: datetime, now: datetime) -> None:
    _not_future(end, now, "Stop-clock end")
    if end <= start:
        raise Rejected(
            "invalid", "stop_clock_ends_before_start", "A stop clock must end after it starts."
        )
    if state.resolved_at is not None and end > state.resolved_at:
        raise Rejected(
            "invalid",
            "stop_clock_after_resolution",
            f"A stop clock cannot end after the resolution ({state.resolved_at.isoformat()}).",
        )


def stop_clock(
    state: IncidentState,
    reason: StopReason,
    start: datetime,
    end: datetime | None,
    now: datetime,
) -> StopClockStarted:
    _not_future(start, now, "Stop-clock start")
    _not_before_creation(state, start, "stop_clock_before_created", "Stop-clock start")
    if end is not None:
        _check_stop_end(state, start, end, now)
    elif state.resolved_at is not None:
        raise Rejected(
            "invalid", "stop_clock_open_after_resolution", "A resolved incident needs the end."
        )
    clash = _overlapping(state, start, end)
    if clash:
        raise Rejected(
            "conflict",
            "stop_clocks_overlap",
            f"The interval overlaps stop clock(s) {', '.join(map(str, clash))}.",
        )
    number = max((s.number for s in state.stops), default=0) + 1
    return StopClockStarted(number=number, reason=reason, start=start, end=end)


def end_stop_clock(
    state: IncidentState, number: int, end: datetime, now: datetime
) -> StopClockEnded:
    stop = next((s for s in state.stops if s.number == number), None)
    if stop is None:
        raise Rejected("invalid", "unknown_stop_clock", f"There is no stop clock {number}.")
    if stop.end is not None:
        raise Rejected(
            "conflict", "stop_clock_already_ended", f"Stop clock {number} ended at {stop.end}."
        )
    _check_stop_end(state, stop.start, end, now)
    others = replace(state, stops=tuple(s for s in state.stops if s.number != number))
    clash = _overlapping(others, stop.start, end)
    if clash:
        raise Rejected(
            "conflict",
            "stop_clocks_overlap",
            f"The interval overlaps stop clock(s) {', '.join(map(str, clash))}.",
        )
    return StopClockEnded(number=number, end=end)
