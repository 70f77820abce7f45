"""What routing learns from others: the directory (tenants, end users, presence, labels) and
the conversations, one handler table for both topics. The table's types are what the
consumer subscribes to; the events a tenant's state uses are the domain's own list
(:meth:`TenantRouting.events`), so the two cannot drift."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection

from services.routing.application.router import Batch, Router
from services.routing.domain.state import TenantRouting
from shared import events as ev
from shared.dispatch import Handlers
from shared.kafka import Delivery

handlers: Handlers[Batch, None] = Handlers()


@handlers.on(ev.TenantPurged)
def _purge(batch: Batch, _p: ev.TenantPurged, d: Delivery) -> None:
    batch.purge(d.envelope.tenant_id)


@handlers.on(*TenantRouting.events())
def _route(batch: Batch, p: ev.Payload, d: Delivery) -> None:
    batch.apply(d.envelope, p)


def make_apply(router: Router) -> Callable[[Connection, list[Delivery]], int]:
    """The batch applier of ``ConsumerService.consume``: the number of decisions it put in
    the outbox (the relay is woken after the commit when there are any)."""

    def apply(conn: Connection, batch: list[Delivery]) -> int:
        with router.batch(conn) as routed:
            for delivery in batch:
                handlers.dispatch(routed, delivery)
        return len(routed.decisions)

    return apply
