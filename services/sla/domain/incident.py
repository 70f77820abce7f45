"""An incident as the service desk records it, measured against its targets (§6.4, §6.6).

The measured priority is the corrected one: after diagnosis the service desk corrects
a priority that does not match the real impact (§6.4), and the target follows it.

Response runs from ticket creation to the start of troubleshooting; restore from ticket
creation to resolution. Both are service time minus stop clock (see ``clock``).
An open KPI is measured up to ``now``; a stop clock still running (end ``None``) is
taken to run until ``now``. A target is breached once the used time is strictly more
than the target ("binnen 1 u": exactly one hour is still on time).
If resolution is recorded without a start of troubleshooting, troubleshooting is taken
to have started at resolution at the latest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.sla.domain.clock import Interval, deadline, service_time
from services.sla.domain.targets import TARGETS, Kind, Level, Priority, level_of


@dataclass(frozen=True)
class Incident:
    reported_priority: Priority
    created_at: datetime
    corrected_priority: Priority | None = None
    troubleshooting_started_at: datetime | None = None
    resolved_at: datetime | None = None
    stops: tuple[tuple[datetime, datetime | None], ...] = ()
    incident_id: str = ""

    @property
    def priority(self) -> Priority:
        """The priority that is measured: the corrected one if the desk corrected it."""
        return self.corrected_priority or self.reported_priority


@dataclass(frozen=True)
class KpiMeasurement:
    kind: Kind
    priority: Priority
    level: Level
    target: timedelta
    used: timedelta
    left: timedelta  # target - used; negative once breached
    breached: bool
    finished: bool  # the KPI's end (troubleshooting start / resolution) was recorded
    breached_at: datetime | None  # the instant the used time passed the target


@dataclass(frozen=True)
class Measurement:
    incident_id: str
    priority: Priority
    response: KpiMeasurement
    restore: KpiMeasurement


def _closed_stops(incident: Incident, now: datetime) -> list[Interval]:
    """A stop clock still running is counted up to ``now``."""
    return [(begin, end or now) for begin, end in incident.stops]


def _measure_kpi(
    incident: Incident, kind: Kind, end: datetime | None, now: datetime, stops: list[Interval]
) -> KpiMeasurement:
    """One KPI from ticket creation to ``end`` (or ``now`` while open)."""
    target = TARGETS[incident.priority][kind]
    used = service_time(incident.created_at, end or now, stops)
    breached = used > target
    return KpiMeasurement(
        kind=kind,
        priority=incident.priority,
        level=level_of(incident.priority),
        target=target,
        used=used,
        left=target - used,
        breached=breached,
        finished=end is not None,
        breached_at=deadline(incident.created_at, target, stops) if breached else None,
    )


def measure(incident: Incident, now: datetime) -> Measurement:
    """Response and restore of ``incident`` as of ``now`` against its corrected priority."""
    stops = _closed_stops(incident, now)
    responded = incident.troubleshooting_started_at or incident.resolved_at
    return Measurement(
        incident_id=incident.incident_id,
        priority=incident.priority,
        response=_measure_kpi(incident, Kind.RESPONSE, responded, now, stops),
        restore=_measure_kpi(incident, Kind.RESTORE, incident.resolved_at, now, stops),
    )
