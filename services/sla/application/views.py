"""Queries: the live view of open incidents and the monthly SLA report, both scoped by
tenant and measured by the pure rules at a given instant (``now``).

Durations are whole seconds (service time, rounded down). ``due_at`` is the instant the
target will be used up if nothing changes; it is unknown (None) while a stop clock runs,
since its end decides it. The monthly report covers the Brussels calendar month: the
incidents created in it, the breaches that happened in it (of any incident), and the
credits for those breaches.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.sla.application.errors import Refused
from services.sla.application.ledger import granted_cents, licence_fee, month_key, previous_month
from services.sla.application.ports import Records
from services.sla.domain.aggregate import IncidentState
from services.sla.domain.clock import BRUSSELS, deadline
from services.sla.domain.credits import breaches_of, credits_for_month
from services.sla.domain.incident import KpiMeasurement, measure
from services.sla.domain.targets import TARGETS, Level, Priority, level_of
from shared.access import plan_includes


def has_service_levels(plan: str | None) -> bool:
    return plan_includes(plan, "service_levels")


def _month(text: str) -> date:
    """The first day of a report month ``YYYY-MM`` (its shape is checked by the API)."""
    year = int(text[:4])
    if not 1970 <= year <= 9998:  # the report reads the months around it: stay in the calendar
        raise Refused(
            "invalid_month", "A report month is between 1970-01 and 9998-12.", kind="invalid"
        )
    return date(year, int(text[5:7]), 1)


def tenant_report(records: Records, tenant_id: str, month: str, now: datetime) -> dict[str, Any]:
    """A tenant's monthly report; refused for an unknown tenant or one without levels."""
    plan = records.plan_of(tenant_id)
    if plan is None:
        raise Refused("not_found", f"There is no tenant {tenant_id}.", kind="not_found")
    if not has_service_levels(plan):
        raise Refused(
            "no_service_levels", "Hub tenants have no service levels (§6).", kind="conflict"
        )
    return monthly_report(records, tenant_id, _month(month), plan, now)


def service_levels(records: Records, tenant_id: str) -> dict[str, Any]:
    """Hub tenants have no service levels; Pro and Bot tenants have the SPEC §6 targets."""
    plan = records.plan_of(tenant_id)
    covered = has_service_levels(plan)
    hours = {
        p.value: {k.value: t.total_seconds() / 3600 for k, t in kinds.items()}
        for p, kinds in TARGETS.items()
    }
    return {
        "plan": plan,
        "has_service_levels": covered,
        "target_service_hours": hours if covered else {},
    }


def _seconds(span: timedelta) -> int:
    return int(span.total_seconds() // 1)


def _kpi(kpi: KpiMeasurement, state: IncidentState) -> dict[str, Any]:
    clock_stopped = any(s.end is None for s in state.stops)
    due = None
    if kpi.breached:
        due = kpi.breached_at
    elif not kpi.finished and not clock_stopped:
        stops = [(s.start, s.end) for s in state.stops if s.end is not None]
        due = deadline(state.created_at, kpi.target, stops)
    return {
        "level": kpi.level.value,
        "target_seconds": _seconds(kpi.target),
        "used_seconds": _seconds(kpi.used),
        "left_seconds": _seconds(kpi.target) - _seconds(kpi.used),
        "breached": kpi.breached,
        "finished": kpi.finished,
        "breached_at": kpi.breached_at,
        "due_at": due,
    }


def incident_view(state: IncidentState, now: datetime, covered: bool) -> dict[str, Any]:
    measured = measure(state.as_incident(), max(now, state.created_at))
    return {
        "incident_id": state.incident_id,
        "tenant_id": state.tenant_id,
        "reported_priority": state.reported_priority.value,
        "priority": state.priority.value,
        "reported_via": state.reported_via,
        "summary": state.summary,
        "created_at": state.created_at,
        "troubleshooting_started_at": state.troubleshooting_started_at,
        "resolved_at": state.resolved_at,
        "stop_clocks": [
            {"number": s.number, "reason": s.reason, "start": s.start, "end": s.end}
            for s in state.stops
        ],
        "service_levels": covered,
        "response": _kpi(measured.response, state) if covered else None,
        "restore": _kpi(measured.restore, state) if covered else None,
    }


def incident(records: Records, tenant_id: str | None, incident_id: str, now: datetime):
    found = records.incident_states(incident_id, tenant_id)
    if not found:
        return None
    return incident_view(found[0], now, has_service_levels(records.plan_of(found[0].tenant_id)))


def open_incidents(records: Records, tenant_id: str, now: datetime) -> list[dict[str, Any]]:
    """The tenant's unresolved incidents with time used and left against each target."""
    covered = has_service_levels(records.plan_of(tenant_id))
    states = records.open_states(tenant_id)
    return [incident_view(s, now, covered) for s in states]


def _month_bounds(first: date) -> tuple[datetime, datetime]:
    nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return (
        datetime.combine(first, datetime.min.time(), BRUSSELS),
        datetime.combine(nxt, datetime.min.time(), BRUSSELS),
    )


def monthly_report(
    records: Records, tenant_id: str, first: date, plan: str, now: datetime
) -> dict[str, Any]:
    """The month's incidents, KPIs met and breached per priority, breaches and credits."""
    begin, end = _month_bounds(first)
    states = records.states_created_before(tenant_id, end)
    views, breaches, tally = [], [], Counter()
    for state in states:
        measured = measure(state.as_incident(), max(now, state.created_at))
        if begin <= state.created_at < end:
            views.append(incident_view(state, now, True))
            for kpi in (measured.response, measured.restore):
                tally[(kpi.priority.value, kpi.kind.value, kpi.breached)] += 1
        for b in breaches_of(measured):
            if begin <= b.breached_at < end:
                breaches.append(b)
    fee = licence_fee(records, tenant_id, month_key(previous_month(first)))
    month_fee = licence_fee(records, tenant_id, month_key(first))
    due = credits_for_month(plan, breaches, first.year, first.month, fee or Decimal(0), month_fee)
    return {
        "month": month_key(first),
        "plan": plan,
        "incidents": views,
        "kpis": [
            {
                "priority": p.value,
                "kind": kind,
                "level": level_of(p).value,
                "met": tally[(p.value, kind, False)],
                "breached": tally[(p.value, kind, True)],
            }
            for p in Priority
            for kind in ("response", "restore")
        ],
        "breaches": [
            {
                "incident_id": b.incident_id,
                "priority": b.priority.value,
                "kind": b.kind.value,
                "level": level_of(b.priority).value,
                "breached_at": b.breached_at,
                "creditable": level_of(b.priority) is Level.SLA,
            }
            for b in sorted(breaches, key=lambda b: b.breached_at)
        ],
        "credits": {
            "previous_month_licence_cents": None if fee is None else int(fee * 100),
            "due_cents": int(due.total * 100) if fee is not None else 0,
            "granted_cents": granted_cents(records, tenant_id, month_key(first)),
        },
    }
