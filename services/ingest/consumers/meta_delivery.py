"""Consumes ``OutboundMessageRequested`` for Meta channels and delivers them.

Group ``ingest.outbound`` (the website chat's requests are the website-chat adapter's and
are skipped here). Each batch is delivered with bounded concurrency; each delivery ends as
one ``DeliveryStatusReported`` (sent with the channel's message id, or failed with Meta's
error) on the inbound topic, keyed by tenant.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from prometheus_client import Counter

from services.ingest.application.settle import settle
from services.ingest.consumers.meta_files import deliver_files
from services.ingest.consumers.meta_graph import (
    Outcome,
    RetryPolicy,
    Undeliverable,
    deliver,
    graph_call,
)
from services.ingest.store import channels as store
from shared import topics
from shared.blobs import BlobStore
from shared.consumer_service import ConsumerService
from shared.events import DeliveryStatusReported, Envelope, OutboundMessageRequested
from shared.kafka import Delivery, subscribe_batches

DELIVERIES = Counter(
    "interact_meta_deliveries_total",
    "Outbound messages to Meta, by outcome.",
    ["channel", "status"],
)
OUTCOME_NAMESPACE = uuid.UUID("0d5e2f6a-8b7c-4a19-9c3e-5f2a1b7d9e40")


@dataclass(frozen=True, slots=True)
class GraphSettings:
    base_url: str = "https://graph.facebook.com/v21.0"
    timeout_s: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    concurrency: int = 16


def is_meta_request(envelope: Envelope) -> bool:
    return (
        envelope.type == OutboundMessageRequested.__name__
        and envelope.payload.get("channel_type") in store.META_TYPES
    )


class MetaDelivery:
    """Delivers one request; never raises for the request's own problems."""

    def __init__(
        self,
        channels: store.MetaChannels,
        settings: GraphSettings,
        blobs: BlobStore | None = None,
    ) -> None:
        self.channels, self.settings, self.blobs = channels, settings, blobs
        self.client: httpx.AsyncClient | None = None

    async def open(self) -> None:
        self.client = httpx.AsyncClient(
            base_url=self.settings.base_url,
            timeout=self.settings.timeout_s,
            limits=httpx.Limits(max_connections=self.settings.concurrency * 2),
        )

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    async def held_open(self) -> None:
        """A background task of the service: the client lives until shutdown cancels it."""
        try:
            await asyncio.Event().wait()
        finally:
            await self.close()

    async def __call__(self, d: Delivery) -> tuple[Envelope, list[store.SentMessage]]:
        request = d.payload
        assert isinstance(request, OutboundMessageRequested)
        channel = await asyncio.to_thread(
            self.channels.by_id, d.envelope.tenant_id, request.channel_id
        )
        if channel is None or channel.channel_type != request.channel_type:
            outcome = Outcome(sent=False, error="The channel is not connected.")
        else:
            assert self.client is not None, "open() first"
            try:
                if request.content.attachments and self.blobs is not None:
                    outcome = await deliver_files(
                        self.client, request, channel, self.blobs, self.settings.retry
                    )
                else:
                    call = graph_call(request, channel)
                    outcome = await deliver(self.client, call, channel, self.settings.retry)
            except Undeliverable as exc:
                outcome = Outcome(sent=False, error=str(exc))
        DELIVERIES.labels(request.channel_type, "sent" if outcome.sent else "failed").inc()
        report = DeliveryStatusReported(
            conversation_id=request.conversation_id,
            message_id=request.message_id,
            status="sent" if outcome.sent else "failed",
            channel_message_id=outcome.channel_message_id,
            error=outcome.error,
            at=datetime.now(UTC),
        )
        envelope = Envelope.wrap(
            report,
            tenant_id=d.envelope.tenant_id,
            event_id=uuid.uuid5(OUTCOME_NAMESPACE, request_id(d)),
            correlation_id=d.envelope.correlation_id,
            causation_id=d.envelope.event_id,
        )
        ours = []
        if outcome.channel_message_id:
            ours.append(
                store.SentMessage(
                    channel_id=str(request.channel_id),
                    channel_message_id=outcome.channel_message_id,
                    tenant_id=str(d.envelope.tenant_id),
                    conversation_id=str(request.conversation_id),
                    message_id=str(request.message_id),
                )
            )
        return envelope, ours


def request_id(d: Delivery) -> str:
    return f"delivery:{d.payload.message_id}"  # type: ignore[attr-defined]


def register(
    service: ConsumerService,
    channels: store.MetaChannels,
    settings: GraphSettings,
    blobs: BlobStore | None = None,
) -> None:
    delivery = MetaDelivery(channels, settings, blobs)

    async def start() -> None:
        await delivery.open()
        service.tasks.start("graph-client", delivery.held_open)

    service.on_start.append(start)

    async def on_batch(batch: list[Delivery]) -> None:
        await settle(
            service.engine, service.broker, batch, request_id, delivery, settings.concurrency
        )

    subscribe_batches(
        service.broker,
        service.settings,
        topics.OUTBOUND_MESSAGES,
        group_id="ingest.outbound",
        handler=on_batch,
        types={OutboundMessageRequested.__name__},
        wanted=is_meta_request,
    )
