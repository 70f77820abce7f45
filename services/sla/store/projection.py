"""The incident read model: the latest state of each incident, kept by the command that
changed it and rebuildable from ``incident_history`` alone (same fold, same rows)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from services.sla.domain.aggregate import EVENTS, IncidentEvent, IncidentState, StopClock, evolve
from services.sla.domain.targets import Priority
from services.sla.store.tables import incident_history, incidents, stop_clocks


def parse(event_type: str, data: dict[str, Any]) -> IncidentEvent:
    return EVENTS[event_type].model_validate(data)


def load(conn: Connection, incident_id: str) -> IncidentState | None:
    """The incident's state: its history folded, or None if it was never reported."""
    rows = conn.execute(
        select(incident_history.c.type, incident_history.c.data)
        .where(incident_history.c.incident_id == incident_id)
        .order_by(incident_history.c.version)
    ).all()
    return fold(incident_id, (parse(r.type, r.data) for r in rows))


def fold(incident_id: str, events: Iterable[IncidentEvent]) -> IncidentState | None:
    state: IncidentState | None = None
    for event in events:
        state = evolve(state, incident_id, event)
    return state


def _row(state: IncidentState) -> dict[str, Any]:
    return {
        "tenant_id": state.tenant_id,
        "reported_priority": state.reported_priority.value,
        "priority": state.priority.value,
        "reported_via": state.reported_via,
        "summary": state.summary,
        "created_at": state.created_at,
        "troubleshooting_started_at": state.troubleshooting_started_at,
        "resolved_at": state.resolved_at,
        "version": state.version,
    }


def project(conn: Connection, state: IncidentState) -> None:
    """Write ``state`` over the incident's read-model rows."""
    changed = conn.execute(
        update(incidents).where(incidents.c.incident_id == state.incident_id).values(_row(state))
    ).rowcount
    if not changed:
        conn.execute(insert(incidents).values(incident_id=state.incident_id, **_row(state)))
    conn.execute(delete(stop_clocks).where(stop_clocks.c.incident_id == state.incident_id))
    if state.stops:
        conn.execute(
            insert(stop_clocks),
            [
                {
                    "incident_id": state.incident_id,
                    "number": s.number,
                    "tenant_id": state.tenant_id,
                    "reason": s.reason,
                    "started_at": s.start,
                    "ended_at": s.end,
                }
                for s in state.stops
            ],
        )


def rebuild(conn: Connection) -> int:
    """Drop the read model's rows and replay the whole history; returns incidents rebuilt."""
    conn.execute(delete(stop_clocks))
    conn.execute(delete(incidents))
    states: dict[str, IncidentState | None] = {}
    rows = conn.execute(
        select(
            incident_history.c.incident_id, incident_history.c.type, incident_history.c.data
        ).order_by(incident_history.c.incident_id, incident_history.c.version)
    )
    for row in rows:
        states[row.incident_id] = evolve(
            states.get(row.incident_id), row.incident_id, parse(row.type, row.data)
        )
    for state in states.values():
        if state is not None:
            project(conn, state)
    return len(states)


# --- reading the read model back -------------------------------------------------------


def incident_states(
    conn: Connection, incident_id: str, tenant_id: str | None = None
) -> list[IncidentState]:
    """The incident (none or one), of ``tenant_id`` only unless it is None (the operator)."""
    where = [incidents.c.incident_id == incident_id]
    if tenant_id is not None:
        where.append(incidents.c.tenant_id == tenant_id)
    return _states(conn, *where)


def open_states(conn: Connection, tenant_id: str) -> list[IncidentState]:
    """The tenant's unresolved incidents, oldest first."""
    return _states(conn, incidents.c.tenant_id == tenant_id, incidents.c.resolved_at.is_(None))


def states_created_before(conn: Connection, tenant_id: str, end: datetime) -> list[IncidentState]:
    return _states(conn, incidents.c.tenant_id == tenant_id, incidents.c.created_at < end)


def _states(conn: Connection, *where: Any) -> list[IncidentState]:
    rows = conn.execute(select(incidents).where(*where).order_by(incidents.c.created_at)).all()
    ids = [r.incident_id for r in rows]
    stops: dict[str, list[StopClock]] = {i: [] for i in ids}
    if ids:
        for s in conn.execute(
            select(stop_clocks)
            .where(stop_clocks.c.incident_id.in_(ids))
            .order_by(stop_clocks.c.incident_id, stop_clocks.c.number)
        ):
            stops[s.incident_id].append(StopClock(s.number, s.reason, s.started_at, s.ended_at))
    return [
        IncidentState(
            incident_id=r.incident_id,
            tenant_id=r.tenant_id,
            reported_priority=Priority(r.reported_priority),
            reported_via=r.reported_via,
            created_at=r.created_at,
            summary=r.summary,
            corrected_priority=None if r.priority == r.reported_priority else Priority(r.priority),
            troubleshooting_started_at=r.troubleshooting_started_at,
            resolved_at=r.resolved_at,
            stops=tuple(stops[r.incident_id]),
            version=r.version,
        )
        for r in rows
    ]
