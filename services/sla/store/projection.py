"""The incident read model: the latest state of each incident, kept by the command that
changed it and rebuildable from ``incident_history`` alone (same fold, same rows)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from services.sla.domain.aggregate import EVENTS, IncidentEvent, IncidentState, evolve
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
