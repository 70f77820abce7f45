"""``python -m services.billing``: monthly invoices from the directory's activation periods.

Wiring only, in the one shape of every service (``shared.service``): ``build(settings)``
gives the app (database and broker through ``ConsumerService``, the consumer of the
directory and SLA topics, the outbox relay, the invoicing timer, the HTTP API); ``main``
serves it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI

from services.billing import consumers
from services.billing.api import operator, tenant
from services.billing.application.invoicing import Invoicing
from services.billing.application.timer import issue_closed_months
from services.billing.settings import BillingSettings
from services.billing.store.ledger import Ledger
from services.billing.store.tables import drop_view_of_older_version, metadata, outbox
from shared import topics
from shared.consumer_service import ConsumerService
from shared.kafka import make_producer
from shared.leadership import leadership_for, run_as_leader
from shared.observability import watch_outbox
from shared.outbox import table_relay
from shared.readmodel import make_engine
from shared.service import serve


def utc_now() -> datetime:
    return datetime.now(UTC)


def build(
    settings: BillingSettings,
    *,
    clock: Callable[[], datetime] = utc_now,
    group_id: str = "billing-v2",  # v2: the view with contracts, rebuilt from 0
) -> FastAPI:
    """The whole service as an app (tests run it in-process with their own clock or
    consumer group); ``app.state``: ``service``, ``invoicing`` (the use cases), ``relay``."""
    before = make_engine(settings.sqlalchemy_url(settings.service_name))
    drop_view_of_older_version(before)
    before.dispose()
    service = ConsumerService(settings, metadata)
    relay = table_relay("billing", service.engine, outbox, lambda: make_producer(settings))
    invoicing = Invoicing(
        Ledger(service.engine), settings.price_list(), clock, after_commit=relay.wake
    )
    service.consume(
        topics.DIRECTORY_EVENTS,
        topics.SLA_EVENTS,
        group_id=group_id,
        apply=consumers.make_apply(settings.price_list()),
        types=consumers.handlers.types,
        after_commit=lambda wrote: relay.wake() if wrote else None,
    )

    async def start_tasks() -> None:
        service.tasks.start("billing-outbox", relay.run)
        if settings.auto_issue_invoices:
            # One replica issues; the others stand by (issuing is idempotent anyway).
            invoicer = leadership_for(service.engine, "billing-invoicer")
            service.tasks.start(
                "billing-invoicer",
                lambda: run_as_leader(
                    invoicer,
                    lambda: issue_closed_months(
                        invoicing, settings.invoice_grace_hours, settings.invoice_check_seconds
                    ),
                ),
            )

    service.on_start.append(start_tasks)
    app = service.create_app(
        "Interact billing",
        [tenant.router, operator.router],
        description="Monthly invoices (SPEC §7): licences in arrears, one-time fees in "
        "advance, service credits deducted, credit notes; amounts in euro cents.",
    )
    app.state.invoicing = invoicing
    app.state.relay = relay
    return app


def main() -> None:
    settings = BillingSettings()
    app = build(settings)
    source = app.state.relay.source
    watch_outbox(source.label, source.engine, source.outbox)
    serve(app, settings)


if __name__ == "__main__":
    main()
