"""Request and response bodies of the SLA API (what ``/docs`` shows)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.sla.domain.aggregate import ReportedVia, StopReason
from services.sla.domain.targets import Priority

MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReportIncident(Body):
    tenant_id: uuid.UUID
    priority: Priority
    reported_via: ReportedVia = Field(description="P1 only by phone (§6.4).")
    created_at: AwareDatetime = Field(description="When the ticket was created.")
    summary: str = Field(default="", max_length=2000)
    incident_id: uuid.UUID | None = Field(default=None, description="Optional: the desk's id.")


class CorrectPriority(Body):
    priority: Priority
    at: AwareDatetime | None = None


class At(Body):
    at: AwareDatetime | None = Field(default=None, description="Default: now.")


class RecordStopClock(Body):
    reason: StopReason
    start: AwareDatetime | None = Field(default=None, description="Default: now.")
    end: AwareDatetime | None = Field(default=None, description="None: the clock is still stopped.")


class EndStopClock(Body):
    end: AwareDatetime | None = Field(default=None, description="Default: now.")


class Claim(Body):
    tenant_id: uuid.UUID
    incident_id: uuid.UUID
    claimed_at: AwareDatetime | None = Field(
        default=None, description="When the written claim arrived. Default: now."
    )


class KpiView(BaseModel):
    level: str
    target_seconds: int
    used_seconds: int
    left_seconds: int
    breached: bool
    finished: bool
    breached_at: datetime | None
    due_at: datetime | None


class StopClockView(BaseModel):
    number: int
    reason: str
    start: datetime
    end: datetime | None


class IncidentView(BaseModel):
    incident_id: str
    tenant_id: str
    reported_priority: str
    priority: str
    reported_via: str
    summary: str
    created_at: datetime
    troubleshooting_started_at: datetime | None
    resolved_at: datetime | None
    stop_clocks: list[StopClockView]
    service_levels: bool
    response: KpiView | None
    restore: KpiView | None


class ClaimOutcome(BaseModel):
    kind: str
    priority: str
    breached_at: datetime
    breach_month: str
    decision: str
    amount_cents: int | None
    credit_id: str | None


class ClaimResult(BaseModel):
    outcomes: list[ClaimOutcome]


class KpiTally(BaseModel):
    priority: str
    kind: str
    level: str
    met: int
    breached: int


class BreachView(BaseModel):
    incident_id: str
    priority: str
    kind: str
    level: str
    breached_at: datetime
    creditable: bool


class CreditSummary(BaseModel):
    previous_month_licence_cents: int | None
    due_cents: int
    granted_cents: int


class MonthlyReport(BaseModel):
    month: str
    plan: str
    incidents: list[IncidentView]
    kpis: list[KpiTally]
    breaches: list[BreachView]
    credits: CreditSummary


class Rebuilt(BaseModel):
    incidents: int


class ServiceLevels(BaseModel):
    plan: str | None
    has_service_levels: bool
    #: Targets in service hours; a "day" is 10 service hours, 6 months are 130 days.
    target_service_hours: dict[str, dict[str, float]]
