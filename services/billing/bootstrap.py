"""Wiring billing together: the view's consumer, the use cases, the outbox relay, the timer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI

from services.billing import consumers
from services.billing.api import operator, tenant
from services.billing.application.invoicing import Invoicing
from services.billing.domain.invoice import Period
from services.billing.settings import BillingSettings
from services.billing.store import drop_view_of_older_version, metadata, outbox
from shared import topics
from shared.consumer_service import ConsumerService
from shared.kafka import make_producer
from shared.leadership import leadership_for, run_as_leader
from shared.outbox import table_relay
from shared.readmodel import make_engine

log = logging.getLogger(__name__)


class BillingService:
    def __init__(
        self,
        settings: BillingSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        group_id: str = "billing-v2",  # v2: the view with contracts, rebuilt from 0
    ) -> None:
        self.settings = settings
        before = make_engine(settings.sqlalchemy_url(settings.service_name))
        drop_view_of_older_version(before)
        before.dispose()
        self.consumer = ConsumerService(settings, metadata)
        self.engine = self.consumer.engine
        self.relay = table_relay("billing", self.engine, outbox, lambda: make_producer(settings))
        self.invoicing = Invoicing(
            self.engine, settings.price_list(), clock, after_commit=self.relay.wake
        )
        self.consumer.consume(
            topics.DIRECTORY_EVENTS,
            topics.SLA_EVENTS,
            group_id=group_id,
            apply=consumers.make_apply(settings.price_list()),
            types=consumers.WANTED,
        )
        self.consumer.on_start.append(self._start_tasks)

    async def _start_tasks(self) -> None:
        self.consumer.tasks.start("billing-outbox", self.relay.run)
        if self.settings.auto_issue_invoices:
            # One replica issues; the others stand by (issuing is idempotent anyway).
            invoicer = leadership_for(self.engine, "billing-invoicer")
            self.consumer.tasks.start(
                "billing-invoicer", lambda: run_as_leader(invoicer, self.issue_closed_months)
            )

    async def issue_closed_months(self) -> None:
        """After a month ends (and the grace for late events), issue it; idempotent."""
        while True:
            current = Period.of(self.invoicing.clock().date())
            for period in (current.previous().previous(), current.previous()):
                outcomes = await asyncio.to_thread(
                    self.invoicing.issue_month, period, self.settings.invoice_grace_hours
                )
                issued = sum(o.status == "issued" for o in outcomes)
                if issued:
                    log.info("invoices issued", extra={"period": str(period), "count": issued})
            await asyncio.sleep(self.settings.invoice_check_seconds)

    def create_app(self) -> FastAPI:
        app = self.consumer.create_app(
            "Interact billing",
            [tenant.router, operator.router],
            description="Monthly invoices (SPEC §7): licences in arrears, one-time fees in "
            "advance, service credits deducted, credit notes; amounts in euro cents.",
        )
        app.state.invoicing = self.invoicing
        return app
