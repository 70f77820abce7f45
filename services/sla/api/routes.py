"""The SLA HTTP API: the service desk's operator commands and views, and the tenant
Administrator's live view and monthly report (scoped by the session's tenant)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request

from services.sla.api import schemas as s
from services.sla.application import views
from services.sla.application.claims import Claims
from services.sla.application.incidents import Clock, Incidents
from services.sla.domain.aggregate import IncidentState
from services.sla.store.projection import rebuild
from services.sla.store.records import Store
from shared.auth import Caller, caller, operator, role_in
from shared.http import ApiError

Month = Path(pattern=s.MONTH, description="Calendar month, YYYY-MM (Brussels time).")


class Sla:
    """What the routes need, kept on ``app.state.sla``."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store, self.engine, self.clock = store, store.engine, clock
        self.incidents = Incidents(store, clock)
        self.claims = Claims(store, clock)
        #: Wakes the outbox relay after a claim (set once the relay runs).
        self.on_credit_granted: Callable[[], object] = lambda: None


def sla(request: Request) -> Sla:
    return request.app.state.sla


def _view(app: Sla, state: IncidentState) -> dict[str, Any]:
    with app.store.reading() as records:
        found = views.incident(records, None, state.incident_id, app.clock())
    assert found is not None
    return found


def _report(app: Sla, tenant_id: str, month: str) -> dict[str, Any]:
    with app.store.reading() as records:
        return views.tenant_report(records, tenant_id, month, app.clock())


levels_router = APIRouter(prefix="/v1/sla", tags=["service levels"])


@levels_router.get("/service-levels", response_model=s.ServiceLevels)
async def service_levels(request: Request, who: Caller = Depends(caller)) -> dict[str, Any]:
    """Hub tenants have no service levels; Pro and Bot tenants have the SPEC §6 targets."""
    with sla(request).store.reading() as records:
        return views.service_levels(records, str(who.tenant_id))


operator_router = APIRouter(
    prefix="/v1/sla/operator", tags=["SLA: service desk"], dependencies=[Depends(operator)]
)


@operator_router.post("/incidents", status_code=201, response_model=s.IncidentView)
def report_incident(body: s.ReportIncident, app: Sla = Depends(sla)) -> dict[str, Any]:
    """Record a ticket: tenant, priority, phone or portal, creation time."""
    state = app.incidents.report(
        body.tenant_id,
        body.priority,
        body.reported_via,
        body.created_at,
        body.summary,
        body.incident_id,
    )
    return _view(app, state)


@operator_router.get("/incidents", response_model=list[s.IncidentView])
def operator_open_incidents(
    tenant_id: uuid.UUID = Query(), app: Sla = Depends(sla)
) -> list[dict[str, Any]]:
    """A tenant's open incidents, with time used and left against each target."""
    with app.store.reading() as records:
        return views.open_incidents(records, str(tenant_id), app.clock())


@operator_router.get("/incidents/{incident_id}", response_model=s.IncidentView)
def operator_incident(incident_id: uuid.UUID, app: Sla = Depends(sla)) -> dict[str, Any]:
    with app.store.reading() as records:
        found = views.incident(records, None, str(incident_id), app.clock())
    if found is None:
        raise ApiError(404, "not_found", f"There is no incident {incident_id}.")
    return found


def _command(app: Sla, run: Callable[[], IncidentState]) -> dict[str, Any]:
    return _view(app, run())


@operator_router.post("/incidents/{incident_id}/priority", response_model=s.IncidentView)
def correct_priority(
    incident_id: uuid.UUID, body: s.CorrectPriority, app: Sla = Depends(sla)
) -> dict[str, Any]:
    """The priority after diagnosis; the corrected priority is the one measured."""
    return _command(
        app, lambda: app.incidents.correct_priority(incident_id, body.priority, body.at)
    )


@operator_router.post("/incidents/{incident_id}/troubleshooting", response_model=s.IncidentView)
def start_troubleshooting(
    incident_id: uuid.UUID, body: s.At, app: Sla = Depends(sla)
) -> dict[str, Any]:
    """Troubleshooting started: the end of the response time."""
    return _command(app, lambda: app.incidents.start_troubleshooting(incident_id, body.at))


@operator_router.post("/incidents/{incident_id}/resolution", response_model=s.IncidentView)
def resolve(incident_id: uuid.UUID, body: s.At, app: Sla = Depends(sla)) -> dict[str, Any]:
    """Resolved: the end of the restore time."""
    return _command(app, lambda: app.incidents.resolve(incident_id, body.at))


@operator_router.post(
    "/incidents/{incident_id}/stop-clocks", status_code=201, response_model=s.IncidentView
)
def record_stop_clock(
    incident_id: uuid.UUID, body: s.RecordStopClock, app: Sla = Depends(sla)
) -> dict[str, Any]:
    """A stop-clock interval with its reason; leave ``end`` out while it lasts."""
    return _command(
        app, lambda: app.incidents.stop_clock(incident_id, body.reason, body.start, body.end)
    )


@operator_router.post(
    "/incidents/{incident_id}/stop-clocks/{number}/end", response_model=s.IncidentView
)
def end_stop_clock(
    incident_id: uuid.UUID, number: int, body: s.EndStopClock, app: Sla = Depends(sla)
) -> dict[str, Any]:
    return _command(app, lambda: app.incidents.end_stop_clock(incident_id, number, body.end))


@operator_router.post("/claims", status_code=201, response_model=s.ClaimResult)
def claim(body: s.Claim, app: Sla = Depends(sla)) -> dict[str, Any]:
    """A tenant's written claim for the service credits of an incident's SLA breaches."""
    outcomes = app.claims.claim(body.tenant_id, body.incident_id, body.claimed_at)
    app.on_credit_granted()
    return {"outcomes": [asdict(o) for o in outcomes]}


@operator_router.get("/tenants/{tenant_id}/reports/{month}", response_model=s.MonthlyReport)
def operator_report(
    tenant_id: uuid.UUID, month: str = Month, app: Sla = Depends(sla)
) -> dict[str, Any]:
    return _report(app, str(tenant_id), month)


@operator_router.post("/rebuild", response_model=s.Rebuilt)
def rebuild_read_model(app: Sla = Depends(sla)) -> dict[str, int]:
    """Recreate the incident read model from the incident history."""
    with app.engine.begin() as conn:
        return {"incidents": rebuild(conn)}


tenant_router = APIRouter(prefix="/v1/sla", tags=["SLA: tenant"])
administrator = role_in("administrator")


@tenant_router.get("/incidents", response_model=list[s.IncidentView])
def my_open_incidents(
    who: Caller = Depends(administrator), app: Sla = Depends(sla)
) -> list[dict[str, Any]]:
    """Your open incidents, with time used and left against each target."""
    with app.store.reading() as records:
        return views.open_incidents(records, str(who.tenant_id), app.clock())


@tenant_router.get("/incidents/{incident_id}", response_model=s.IncidentView)
def my_incident(
    incident_id: uuid.UUID, who: Caller = Depends(administrator), app: Sla = Depends(sla)
) -> dict[str, Any]:
    with app.store.reading() as records:
        found = views.incident(records, str(who.tenant_id), str(incident_id), app.clock())
    if found is None:
        raise ApiError(404, "not_found", f"There is no incident {incident_id}.")
    return found


@tenant_router.get("/reports/{month}", response_model=s.MonthlyReport)
def my_report(
    month: str = Month, who: Caller = Depends(administrator), app: Sla = Depends(sla)
) -> dict[str, Any]:
    """Your SLA report for a calendar month: KPIs met and breached, breaches, credits."""
    return _report(app, str(who.tenant_id), month)
