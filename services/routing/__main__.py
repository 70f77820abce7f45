"""``python -m services.routing``: skills-based routing of conversations to end users."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from prometheus_client import REGISTRY
from pydantic import Field

from services.routing import store
from services.routing.application.router import WANTED, Router
from services.routing.metrics import QueueCollector
from services.routing.sweeper import owned_tenants, sweep_forever
from shared import topics
from shared.consumer_service import ConsumerService, ConsumerServiceSettings
from shared.events import Envelope
from shared.kafka import publish
from shared.service import serve


class RoutingSettings(ConsumerServiceSettings):
    service_name: str = "routing"
    http_port: int = 8002
    #: ``ROUTING_TAKE_TIMEOUT_SECONDS``: an assigned conversation not taken within this
    #: time goes to someone else eligible.
    routing_take_timeout_seconds: float = Field(default=120.0, gt=0)
    #: ``ROUTING_SWEEP_SECONDS``: how often the take deadlines are looked at.
    routing_sweep_seconds: float = Field(default=5.0, gt=0)
    #: ``ROUTING_CONSUMER_GROUP``: instances in one group split the tenants between them.
    routing_consumer_group: str = "routing"
    #: ``ROUTING_SESSION_TIMEOUT_MS``: how soon the group notices a dead instance.
    routing_session_timeout_ms: int = Field(default=10_000, ge=1_000)


def build(settings: RoutingSettings) -> tuple[ConsumerService, Router]:
    """The routing service wired: consumer, decisions publisher and deadline sweep."""
    service = ConsumerService(settings, store.metadata)

    async def publish_decisions(decisions: list[Envelope]) -> None:
        await publish(service.broker, topics.ROUTING_DECISIONS, decisions)

    router = Router(publish_decisions)
    service.consume(
        topics.DIRECTORY_EVENTS,
        topics.CONVERSATION_EVENTS,
        group_id=settings.routing_consumer_group,
        apply=router.apply,
        types=WANTED,
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
    return service, router


def main() -> None:
    settings = RoutingSettings()
    service, _router = build(settings)
    REGISTRY.register(QueueCollector(service.engine))  # once per process: queue gauges
    serve(service.create_app("Interact routing", []), settings)


if __name__ == "__main__":
    main()
