"""``python -m services.billing``: activation periods from the directory, the basis of invoices."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy import Connection, insert, select, update

from services.billing.store import activations, metadata, tenants
from shared import events as ev
from shared import topics
from shared.auth import Caller, role_in
from shared.consumer_service import ConsumerService, ConsumerServiceSettings
from shared.kafka import Delivery
from shared.service import serve


class BillingSettings(ConsumerServiceSettings):
    service_name: str = "billing"
    http_port: int = 8004


def apply(conn: Connection, batch: list[Delivery]) -> None:
    for d in batch:
        p, tenant_id = d.payload, str(d.envelope.tenant_id)
        if isinstance(p, ev.TenantCreated):
            conn.execute(
                insert(tenants).values(
                    tenant_id=tenant_id,
                    plan=p.plan,
                    minimum_end_users=p.minimum_end_users,
                    time_zone=p.time_zone,
                    contract_start=p.contract_start,
                )
            )
        elif isinstance(p, ev.EndUserActivated):
            conn.execute(
                insert(activations).values(
                    user_id=str(p.user_id), activated_at=p.at, tenant_id=tenant_id
                )
            )
        elif isinstance(p, ev.EndUserDeactivated):
            conn.execute(
                update(activations)
                .where(
                    activations.c.user_id == str(p.user_id),
                    activations.c.deactivated_at.is_(None),
                )
                .values(deactivated_at=p.at)
            )


router = APIRouter(prefix="/v1/billing", tags=["billing"])


class ActivationPeriod(BaseModel):
    user_id: str
    activated_at: datetime
    deactivated_at: datetime | None


@router.get("/activations", response_model=list[ActivationPeriod])
async def list_activations(
    request: Request, who: Caller = Depends(role_in("administrator"))
) -> list[ActivationPeriod]:
    """The activation periods billing will invoice for this tenant."""
    with request.app.state.service.engine.connect() as conn:
        rows = conn.execute(
            select(activations)
            .where(activations.c.tenant_id == str(who.tenant_id))
            .order_by(activations.c.activated_at, activations.c.user_id)
        ).all()
    return [ActivationPeriod.model_validate(r, from_attributes=True) for r in rows]


def main() -> None:
    settings = BillingSettings()
    service = ConsumerService(settings, metadata)
    service.consume(
        topics.DIRECTORY_EVENTS,
        group_id="billing",
        apply=apply,
        wanted=lambda e: e.type in {"TenantCreated", "EndUserActivated", "EndUserDeactivated"},
    )
    serve(service.create_app("Interact billing", [router]), settings)


if __name__ == "__main__":
    main()
