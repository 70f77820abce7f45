"""Writing an incident's history (the event log ``incident_history`` is the source of
truth; ``projection`` keeps the read model from it), and what the SLA service knows of a
tenant (from the directory topic)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from services.sla.domain.aggregate import IncidentEvent, IncidentState
from services.sla.store.tables import incident_history, incidents, tenants


def plan_of(conn: Connection, tenant_id: str) -> str | None:
    """The tenant's plan; None while its ``TenantCreated`` is unseen."""
    return conn.scalar(select(tenants.c.plan).where(tenants.c.tenant_id == tenant_id))


def queue_behind(conn: Connection, incident_id: str) -> None:
    """A no-op write: commands on one incident queue here (the row lock on PostgreSQL,
    the write lock on SQLite) before they read its history."""
    conn.execute(
        update(incidents)
        .where(incidents.c.incident_id == incident_id)
        .values(version=incidents.c.version)
    )


def append(
    conn: Connection, after: IncidentState, event: IncidentEvent, recorded_at: datetime
) -> None:
    """The event at the version it gives the incident; two writers of the same version
    meet the primary key (``IntegrityError``: optimistic concurrency)."""
    conn.execute(
        insert(incident_history).values(
            incident_id=after.incident_id,
            version=after.version,
            tenant_id=after.tenant_id,
            type=type(event).__name__,
            data=event.model_dump(mode="json"),
            recorded_at=recorded_at,
        )
    )
