"""``python -m services.sla``: incidents, the SLA clock live, service credits (SPEC §6).

Wiring only: settings -> database and broker (``ConsumerService``) -> the consumer of
the directory and billing topics -> the outbox relay -> the HTTP API.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from services.sla import consumers
from services.sla.api.routes import Sla, levels_router, operator_router, tenant_router
from services.sla.application.incidents import Clock, utc_now
from services.sla.settings import SlaSettings
from services.sla.store.records import Store
from services.sla.store.tables import metadata, outbox
from shared import topics
from shared.consumer_service import ConsumerService
from shared.kafka import make_producer
from shared.observability import watch_outbox
from shared.outbox import table_relay
from shared.service import serve


def build(settings: SlaSettings, clock: Clock = utc_now) -> FastAPI:
    """The whole service as an app, in the one shape of every service (``shared.service``;
    the tests run it in-process with their own clock); ``app.state``: ``service``, ``sla``
    (what the routes use), ``relay``."""
    service = ConsumerService(settings, metadata)
    service.consume(
        topics.DIRECTORY_EVENTS,
        topics.BILLING_EVENTS,
        group_id=f"{settings.service_name}",
        apply=consumers.apply,
        types=consumers.handlers.types,
    )
    relay = table_relay("sla", service.engine, outbox, lambda: make_producer(settings))

    sla = Sla(Store(service.engine), clock)

    async def start_relay() -> None:
        loop = asyncio.get_running_loop()
        # Claims run in the thread pool: wake the relay through its loop, thread-safely.
        sla.on_credit_granted = lambda: loop.call_soon_threadsafe(relay.wake)
        service.tasks.start("sla-outbox", relay.run)

    service.on_start.append(start_relay)
    app = service.create_app(
        "Interact service levels", [levels_router, tenant_router, operator_router], __doc__ or ""
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
