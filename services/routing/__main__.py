"""``python -m services.routing``: skills-based routing of conversations to end users.

Wiring only: settings -> database and broker (``ConsumerService``) -> the consumer of the
directory and conversation topics -> the decisions publisher -> the take-deadline timer
-> the HTTP app (health, metrics with the queue gauges).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from fastapi import FastAPI
from prometheus_client import REGISTRY

from services.routing.api.metrics import QueueCollector
from services.routing.application.router import Router
from services.routing.consumers import events
from services.routing.consumers.sweeper import owned_tenants, sweep_forever
from services.routing.settings import RoutingSettings
from services.routing.store.snapshots import metadata
from shared import topics
from shared.consumer_service import ConsumerService
from shared.events import Envelope
from shared.kafka import publish
from shared.service import serve

__all__ = ["RoutingSettings", "build", "main"]


def build(settings: RoutingSettings) -> FastAPI:
    """The whole service as an app; ``app.state.router`` holds the routing states."""
    service = ConsumerService(settings, metadata)

    async def publish_decisions(decisions: list[Envelope]) -> None:
        await publish(service.broker, topics.ROUTING_DECISIONS, decisions)

    router = Router(publish_decisions)
    service.consume(
        topics.DIRECTORY_EVENTS,
        topics.CONVERSATION_EVENTS,
        group_id=settings.routing_consumer_group,
        apply=events.make_apply(router),
        types=events.handlers.types,
        # Range assignment gives one member the same partition numbers of both topics,
        # so one instance owns all of a tenant's events.
        partition_assignment_strategy=(RangePartitionAssignor,),
        session_timeout_ms=settings.routing_session_timeout_ms,
        heartbeat_interval_ms=max(settings.routing_session_timeout_ms // 6, 500),
    )

    async def start() -> None:
        router.loop = asyncio.get_running_loop()
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

    service.on_start.append(start)
    app = service.create_app("Interact routing", [])
    app.state.router = router
    return app


def main() -> None:
    settings = RoutingSettings()
    app = build(settings)
    REGISTRY.register(QueueCollector(app.state.service.engine))  # once per process
    serve(app, settings)


if __name__ == "__main__":
    main()
