"""Kafka entry points of the conversation service: inbound messages and routing decisions."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from services.conversation.application.conversations import Inbound, Routed
from shared import topics
from shared.events import ConversationRouted, InboundMessageReceived
from shared.kafka import Delivery, subscribe_batches

if TYPE_CHECKING:
    from services.conversation.bootstrap import ConversationService


def register(service: ConversationService) -> None:
    conversations, directory = service.conversations, service.directory

    async def on_inbound(batch: list[Delivery]) -> None:
        items = [
            Inbound(d.envelope.tenant_id, d.payload)
            for d in batch
            if isinstance(d.payload, InboundMessageReceived)
        ]
        await asyncio.to_thread(conversations.receive_inbound, items, directory.default_language)
        service.changed()

    async def on_routed(batch: list[Delivery]) -> None:
        items = [
            Routed(d.envelope.tenant_id, d.payload)
            for d in batch
            if isinstance(d.payload, ConversationRouted)
        ]
        await asyncio.to_thread(conversations.apply_routing, items)
        service.changed()

    subscribe_batches(
        service.broker,
        service.settings,
        topics.INBOUND_MESSAGES,
        group_id="conversation.inbound",
        handler=on_inbound,
    )
    subscribe_batches(
        service.broker,
        service.settings,
        topics.ROUTING_DECISIONS,
        group_id="conversation.routing",
        handler=on_routed,
    )
