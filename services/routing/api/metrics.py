"""Routing's queue as operators see it: open conversations per tenant and state, and how
long the oldest one has waited, read from routing's own store when Prometheus scrapes.

Every replica reads the same database, so each reports the whole figure: aggregate with
``max by (tenant_id, status)``, never ``sum``. A scrape while the database is away shows
no queue series (and ``/ready`` answers 503) instead of failing ``/metrics``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from services.routing.store.snapshots import conversations
from shared.events import ConversationStatus

log = logging.getLogger(__name__)

CONVERSATIONS = "interact_routing_conversations"
OLDEST_WAITING = "interact_routing_oldest_waiting_seconds"


class QueueCollector(Collector):
    """Gauges computed at scrape time (one grouped query), so they cannot drift."""

    def __init__(self, engine: Engine, now: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.engine, self.now = engine, now

    def describe(self) -> list[GaugeMetricFamily]:
        # Registering must not query the database: describe() names the families only.
        return list(self._families())

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                CONVERSATIONS,
                "Open conversations in routing's view, per tenant and state "
                "(bot, waiting, assigned, in_progress).",
                labels=["tenant_id", "status"],
            ),
            GaugeMetricFamily(
                OLDEST_WAITING,
                "Seconds since the oldest waiting conversation of the tenant was opened.",
                labels=["tenant_id"],
            ),
        )

    def collect(self) -> Iterator[GaugeMetricFamily]:
        by_state, oldest = self._families()
        c = conversations.c
        try:
            with self.engine.connect() as conn:
                counts = conn.execute(
                    select(c.tenant_id, c.status, func.count()).group_by(c.tenant_id, c.status)
                ).all()
                waiting_since = conn.execute(
                    select(c.tenant_id, func.min(c.opened_at))
                    .where(c.status == ConversationStatus.WAITING)
                    .group_by(c.tenant_id)
                ).all()
        except SQLAlchemyError:
            log.debug("queue gauges skipped: the database does not answer", exc_info=True)
            return
        for tenant_id, status, count in counts:
            by_state.add_metric([tenant_id, status], count)
        now = self.now()
        for tenant_id, opened_at in waiting_since:
            if opened_at.tzinfo is None:  # SQLite's min() hands back the stored naive value
                opened_at = opened_at.replace(tzinfo=UTC)
            oldest.add_metric([tenant_id], max((now - opened_at).total_seconds(), 0.0))
        yield by_state
        yield oldest
