"""``python -m services.sla``: incidents, the SLA clock live, service credits (SPEC §6).

Wiring only: settings -> database and broker (``ConsumerService``) -> the consumer of
the directory and billing topics -> the outbox relay -> the HTTP API.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel
from sqlalchemy import select

from services.sla import consumers
from services.sla.api.routes import Sla, operator_router, tenant_router
from services.sla.application.incidents import Clock, utc_now
from services.sla.domain.targets import TARGETS
from services.sla.store.tables import metadata, outbox, tenants
from shared import topics
from shared.auth import Caller, caller
from shared.consumer_service import ConsumerService, ConsumerServiceSettings
from shared.kafka import make_producer
from shared.observability import watch_outbox
from shared.outbox import table_relay
from shared.service import serve


class SlaSettings(ConsumerServiceSettings):
    service_name: str = "sla"
    http_port: int = 8005


router = APIRouter(prefix="/v1/sla", tags=["service levels"])


class ServiceLevels(BaseModel):
    plan: str | None
    has_service_levels: bool
    #: Targets in service hours; a "day" is 10 service hours, 6 months are 130 days.
    target_service_hours: dict[str, dict[str, float]]


@router.get("/service-levels", response_model=ServiceLevels)
async def service_levels(request: Request, who: Caller = Depends(caller)) -> ServiceLevels:
    """Hub tenants have no service levels; Pro and Bot tenants have the SPEC §6 targets."""
    with request.app.state.service.engine.connect() as conn:
        plan = conn.scalar(select(tenants.c.plan).where(tenants.c.tenant_id == str(who.tenant_id)))
    covered = plan in ("pro", "bot")
    hours = {
        p.value: {k.value: t.total_seconds() / 3600 for k, t in kinds.items()}
        for p, kinds in TARGETS.items()
    }
    return ServiceLevels(
        plan=plan, has_service_levels=covered, target_service_hours=hours if covered else {}
    )


def build(settings: SlaSettings, clock: Clock = utc_now) -> FastAPI:
    """The whole service as an app (the tests run it in-process with their own clock)."""
    service = ConsumerService(settings, metadata)
    service.consume(
        topics.DIRECTORY_EVENTS,
        topics.BILLING_EVENTS,
        group_id=f"{settings.service_name}",
        apply=consumers.apply,
        types=consumers.WANTED,
    )
    relay = table_relay("sla", service.engine, outbox, lambda: make_producer(settings))

    sla = Sla(service.engine, clock)

    async def start_relay() -> None:
        loop = asyncio.get_running_loop()
        # Claims run in the thread pool: wake the relay through its loop, thread-safely.
        sla.on_credit_granted = lambda: loop.call_soon_threadsafe(relay.wake)
        service.tasks.start("sla-outbox", relay.run)

    service.on_start.append(start_relay)
    app = service.create_app(
        "Interact service levels", [router, tenant_router, operator_router], __doc__ or ""
    )
    app.state.sla = sla
    app.state.relay = relay
    return app


def main() -> None:
    settings = SlaSettings()
    app = build(settings)
    source = app.state.relay.source
    watch_outbox(source.label, source.engine, source.outbox)
    serve(app, settings)


if __name__ == "__main__":
    main()
