"""Website chat SDK (SPEC §3.3): the widget, the visitor socket, the visitors' mailboxes.

``install(service)`` adds it to the ingest service: its tables, its consumer group
(directory events for channels and origins, replies for webchat visitors), and the
mailbox poller; ``router`` serves the widget and the socket.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from faststream.kafka import KafkaBroker
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Engine

from services.ingest.webchat import application, store
from services.ingest.webchat.api import router
from services.ingest.webchat.hub import Hub
from services.ingest.webchat.limits import WidgetLimits, WidgetLimitSettings
from shared import topics
from shared.consumer_service import ConsumerService
from shared.kafka import Delivery, subscribe_batches
from shared.migrations import prepare
from shared.readmodel import scrub

__all__ = ["Webchat", "WebchatSettings", "install", "router"]


class WebchatSettings(BaseSettings):
    """``WEBCHAT_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="WEBCHAT_", extra="ignore")

    #: How often a replica looks for replies stored by other replicas for its visitors.
    poll_seconds: float = 1.0
    #: A socket that says nothing for this long after opening is closed (4400).
    hello_timeout_seconds: float = 10.0
    #: Kafka consumer group of the website chat (directory and outbound topics).
    group_id: str = "ingest-webchat"


@dataclass
class Webchat:
    engine: Engine
    broker: KafkaBroker
    channels: store.ChannelDirectory
    hub: Hub
    settings: WebchatSettings
    limits: WidgetLimits


def install(
    service: ConsumerService,
    settings: WebchatSettings | None = None,
    limits: WidgetLimitSettings | None = None,
) -> Webchat:
    """Wire the website chat into ``service``; put the result on ``app.state.webchat``."""
    settings = settings or WebchatSettings()
    prepare(service.engine, store.metadata)  # ingest's migrations (usually done already)
    chat = Webchat(
        engine=service.engine,
        broker=service.broker,
        channels=store.ChannelDirectory(service.engine),
        hub=Hub(service.engine, settings.poll_seconds),
        settings=settings,
        limits=WidgetLimits(service.engine, store.rate_limits, limits or WidgetLimitSettings()),
    )

    async def handle(batch: list[Delivery]) -> None:
        stored = await asyncio.to_thread(
            application.apply_batch, service.engine, batch, service.purged
        )
        if any(d.envelope.type == "VisitorErased" for d in batch):
            await asyncio.to_thread(scrub, service.engine)  # docs/data-lifecycle.md
        if stored:
            await application.report(service.broker, application.status_events(stored, "delivered"))
            chat.hub.wake(m.key for m in stored)

    subscribe_batches(
        service.broker,
        service.settings,
        topics.DIRECTORY_EVENTS,
        topics.OUTBOUND_MESSAGES,
        group_id=settings.group_id,
        handler=handle,
        types={*store.DIRECTORY_TYPES, "OutboundMessageRequested", "VisitorErased"},
        wanted=application.wanted,
    )

    async def start_poller() -> None:
        service.tasks.start("webchat-mailbox-poller", chat.hub.poll_forever)

    service.on_start.append(start_poller)
    return chat
