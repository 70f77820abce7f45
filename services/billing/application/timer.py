"""The invoicing timer: after a month ends (and the grace for late events), issue it.

Issuing is idempotent (``Invoicing.issue_month``), so the timer simply looks again every
``every_seconds`` at the last two months; one replica runs it (``shared.leadership``).
"""

from __future__ import annotations

import asyncio
import logging

from services.billing.application.invoicing import Invoicing
from services.billing.domain.invoice import Period

log = logging.getLogger(__name__)


async def issue_closed_months(
    invoicing: Invoicing, grace_hours: float, every_seconds: float
) -> None:
    """Forever: issue the last two months, each once it closed ``grace_hours`` ago."""
    while True:
        current = Period.of(invoicing.clock().date())
        for period in (current.previous().previous(), current.previous()):
            outcomes = await asyncio.to_thread(invoicing.issue_month, period, grace_hours)
            issued = sum(o.status == "issued" for o in outcomes)
            if issued:
                log.info("invoices issued", extra={"period": str(period), "count": issued})
        await asyncio.sleep(every_seconds)
