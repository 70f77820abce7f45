"""``python -m services.routing``: skills-based routing of conversations to end users."""

from __future__ import annotations

import asyncio

from aiokafka.coordinator.assignors.range import RangePartitionAssignor

from services.routing import store
from services.routing.application.router import WANTED, Router
from shared import topics
from shared.consumer_service import ConsumerService, ConsumerServiceSettings
from shared.events import Envelope
from shared.kafka import publish
from shared.service import serve


class RoutingSettings(ConsumerServiceSettings):
    service_name: str = "routing"
    http_port: int = 8002


def main() -> None:
    settings = RoutingSettings()
    service = ConsumerService(settings, store.metadata)

    async def publish_decisions(decisions: list[Envelope]) -> None:
        await publish(service.broker, topics.ROUTING_DECISIONS, decisions)

    router = Router(publish_decisions)
    service.consume(
        topics.DIRECTORY_EVENTS,
        topics.CONVERSATION_EVENTS,
        group_id="routing",
        apply=router.apply,
        wanted=lambda e: e.type in WANTED,
        # Range assignment gives one member the same partition numbers of both topics,
        # so one instance owns all of a tenant's events.
        partition_assignment_strategy=(RangePartitionAssignor,),
    )

    async def bind_loop() -> None:
        router.loop = asyncio.get_running_loop()

    service.on_start.append(bind_loop)
    serve(service.create_app("Interact routing", []), settings)


if __name__ == "__main__":
    main()
