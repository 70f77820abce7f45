"""Kafka entry points of the conversation service: inbound messages (and what the channels
and chatbots report back), and routing's decisions.

One handler table per subscription (:class:`shared.dispatch.Handlers`): each handler turns
one delivery into the application's item and adds it to the batch in hand; the batch is
then applied in one call (one transaction per kind). The subscribed event types are the
tables' types, so a record of any other type is skipped before it is decoded.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from services.conversation.application.conversations import ChannelReport, Inbound, Routed
from shared import topics
from shared.dispatch import Handlers
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


@dataclass
class InboundBatch:
    """One batch of the inbound topic, sorted: visitors' messages, then the reports."""

    messages: list[Inbound] = field(default_factory=list)
    reports: list[ChannelReport] = field(default_factory=list)


inbound: Handlers[InboundBatch, None] = Handlers()
routed: Handlers[list[Routed], None] = Handlers()


@inbound.on(InboundMessageReceived)
def _message(batch: InboundBatch, p: InboundMessageReceived, d: Delivery) -> None:
    batch.messages.append(Inbound(d.envelope.tenant_id, p))


@inbound.on(DeliveryStatusReported, BotReplied, BotFailed)
def _report(
    batch: InboundBatch, p: DeliveryStatusReported | BotReplied | BotFailed, d: Delivery
) -> None:
    batch.reports.append(ChannelReport(d.envelope.tenant_id, p))


@routed.on(ConversationRouted)
def _routed(batch: list[Routed], p: ConversationRouted, d: Delivery) -> None:
    batch.append(Routed(d.envelope.tenant_id, p, d.envelope.event_id))


def register(service: ConversationService) -> None:
    conversations, directory = service.conversations, service.directory

    async def on_inbound(deliveries: list[Delivery]) -> None:
        """Visitors' messages, then what the channels report back, each one transaction."""
        batch = InboundBatch()
        for delivery in deliveries:
            inbound.dispatch(batch, delivery)
        if batch.messages:
            await asyncio.to_thread(
                conversations.receive_inbound, batch.messages, directory.channel_context
            )
        if batch.reports:
            await asyncio.to_thread(conversations.apply_channel_reports, batch.reports)
        service.changed(conversations)

    async def on_routed(deliveries: list[Delivery]) -> None:
        batch: list[Routed] = []
        for delivery in deliveries:
            routed.dispatch(batch, delivery)
        await asyncio.to_thread(conversations.apply_routing, batch)
        service.changed(conversations)

    subscribe_batches(
        service.broker,
        service.settings,
        topics.INBOUND_MESSAGES,
        group_id="conversation.inbound",
        handler=on_inbound,
        types=inbound.types,
    )
    subscribe_batches(
        service.broker,
        service.settings,
        topics.ROUTING_DECISIONS,
        group_id="conversation.routing",
        handler=on_routed,
        types=routed.types,
    )
