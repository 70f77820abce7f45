"""``python -m services.routing``: skills-based routing of conversations to end users.

Wiring only: settings -> database and broker (``ConsumerService``) -> the consumer of the
directory and conversation topics -> the outbox relay of the decisions -> the take-deadline
timer -> the HTTP app (health, metrics with the queue and outbox gauges).
"""

from __future__ import annotations

from datetime import timedelta

from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from fastapi import FastAPI
from prometheus_client import REGISTRY

from services.routing.api.metrics import QueueCollector
from services.routing.application.router import Router
from services.routing.consumers import events
from services.routing.consumers.sweeper import owned_tenants, prune_forever, sweep_forever
from services.routing.settings import RoutingSettings
from services.routing.store.snapshots import metadata, outbox
from shared import topics
from shared.consumer_service import ConsumerService
from shared.kafka import make_producer
from shared.observability import watch_outbox
from shared.outbox import OutboxRelay, TableSource
from shared.service import serve

__all__ = ["RoutingSettings", "build", "main"]


def build(settings: RoutingSettings) -> FastAPI:
    """The whole service as an app; ``app.state``: ``router`` (the routing states),
    ``relay`` (the decisions' outbox relay)."""
    service = ConsumerService(settings, metadata)
    relay = OutboxRelay(
        TableSource("routing", service.engine, outbox),
        lambda: make_producer(settings),
        idle_poll=settings.outbox_poll_seconds,  # other replicas' decisions wait for it
    )
    router = Router(after_commit=relay.wake)
    service.consume(
        topics.DIRECTORY_EVENTS,
        topics.CONVERSATION_EVENTS,
        group_id=settings.routing_consumer_group,
        apply=events.make_apply(router),
        types=events.handlers.types,
        after_commit=lambda decided: relay.wake() if decided else None,
        # Range assignment gives one member the same partition numbers of both topics,
        # so one instance owns all of a tenant's events.
        partition_assignment_strategy=(RangePartitionAssignor,),
        session_timeout_ms=settings.routing_session_timeout_ms,
        heartbeat_interval_ms=max(settings.routing_session_timeout_ms // 6, 500),
    )

    async def start() -> None:
        service.tasks.start("routing-outbox", relay.run)
        service.tasks.start(
            "take-deadline-sweep",
            lambda: sweep_forever(
                router,
                service.engine,
                timedelta(seconds=settings.routing_take_timeout_seconds),
                settings.routing_sweep_seconds,
                lambda: owned_tenants(service.broker, topics.CONVERSATION_EVENTS),
            ),
        )
        service.tasks.start(
            "routing-outbox-prune",
            lambda: prune_forever(
                service.engine, timedelta(hours=settings.routing_outbox_keep_hours)
            ),
        )

    service.on_start.append(start)
    app = service.create_app("Interact routing", [])
    app.state.router = router
    app.state.relay = relay
    return app


def main() -> None:
    settings = RoutingSettings()
    app = build(settings)
    REGISTRY.register(QueueCollector(app.state.service.engine))  # once per process
    source = app.state.relay.source
    watch_outbox(source.label, source.engine, source.outbox)
    serve(app, settings)


if __name__ == "__main__":
    main()
