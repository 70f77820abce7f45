"""``python -m services.sla``: which tenants have service levels, and the targets (SPEC §6)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy import Column, Connection, MetaData, String, Table, insert, select

from shared import events as ev
from shared import topics
from shared.auth import Caller, caller
from shared.consumer_service import ConsumerService, ConsumerServiceSettings
from shared.kafka import Delivery
from shared.service import serve

metadata = MetaData()
tenants = Table(
    "tenants",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("plan", String(10), nullable=False),
)

#: Targets in service hours (SPEC §6); a "day" is 10 service hours, 6 months are 130 days.
TARGET_HOURS = {
    "P1": {"response": 1, "restore": 6},
    "P2": {"response": 2, "restore": 10},
    "P3": {"response": 5, "restore": 30},
    "P4": {"response": 10, "restore": 1300},
}


class SlaSettings(ConsumerServiceSettings):
    service_name: str = "sla"
    http_port: int = 8005


def apply(conn: Connection, batch: list[Delivery]) -> None:
    for d in batch:
        if isinstance(d.payload, ev.TenantCreated):
            conn.execute(
                insert(tenants).values(tenant_id=str(d.envelope.tenant_id), plan=d.payload.plan)
            )


router = APIRouter(prefix="/v1/sla", tags=["service levels"])


class ServiceLevels(BaseModel):
    plan: str | None
    has_service_levels: bool
    target_service_hours: dict[str, dict[str, int]]


@router.get("/service-levels", response_model=ServiceLevels)
async def service_levels(request: Request, who: Caller = Depends(caller)) -> ServiceLevels:
    """Hub tenants have no service levels; Pro and Bot tenants have the SPEC §6 targets."""
    with request.app.state.service.engine.connect() as conn:
        plan = conn.scalar(select(tenants.c.plan).where(tenants.c.tenant_id == str(who.tenant_id)))
    covered = plan in ("pro", "bot")
    return ServiceLevels(
        plan=plan, has_service_levels=covered, target_service_hours=TARGET_HOURS if covered else {}
    )


def main() -> None:
    settings = SlaSettings()
    service = ConsumerService(settings, metadata)
    service.consume(
        topics.DIRECTORY_EVENTS,
        group_id="sla",
        apply=apply,
        wanted=lambda e: e.type == "TenantCreated",
    )
    serve(service.create_app("Interact service levels", [router]), settings)


if __name__ == "__main__":
    main()
