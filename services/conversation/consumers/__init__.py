"""Kafka entry points of the conversation service: inbound messages and routing decisions."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from services.conversation.application.conversations import ChannelReport, Inbound, Routed
from shared import topics
from shared.events import (
    BotFailed,
    BotReplied,
    ConversationRouted,
    DeliveryStatusReported,
    InboundMessageReceived,
)
from shared.kafka import Delivery, subscribe_batches

if TYPE_CHECKING:
    from services.conversation.bootstrap import ConversationService

REPORTS = (DeliveryStatusReported, BotReplied, BotFailed)


def register(service: ConversationService) -> None:
    conversations, directory = service.conversations, service.directory

    async def on_inbound(batch: list[Delivery]) -> None:
        """Visitors' messages, then what the channels report back, each one transaction."""
        messages = [
            Inbound(d.envelope.tenant_id, d.payload)
            for d in batch
            if isinstance(d.payload, InboundMessageReceived)
        ]
        reports = [
            ChannelReport(d.envelope.tenant_id, d.payload)
            for d in batch
            if isinstance(d.payload, REPORTS)
        ]
        if messages:
            await asyncio.to_thread(
                conversations.receive_inbound, messages, directory.channel_context
            )
        if reports:
            await asyncio.to_thread(conversations.apply_channel_reports, reports)
        service.changed()

    async def on_routed(batch: list[Delivery]) -> None:
        items = [
            Routed(d.envelope.tenant_id, d.payload, d.envelope.event_id)
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
        types={ConversationRouted.__name__},
    )
