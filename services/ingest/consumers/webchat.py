"""The website chat's consumer (SPEC §3.3): the directory's website chats (channels and
their allowed origins), the replies to website-chat visitors, and visitors' erasures.

``install(service)`` adds the website chat to the ingest service: its tables, this consumer
group and the mailbox poller; the result goes on ``app.state.webchat`` for the widget's
endpoints (``api/webchat.py``). Every change is idempotent by itself (upserts, a mailbox
unique on ``message_id``), so a redelivered batch changes nothing and needs no ledger.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, Table

from services.ingest.api.webchat import Webchat
from services.ingest.api.webchat_hub import Hub
from services.ingest.application import webchat as application
from services.ingest.application.webchat_limits import WidgetLimits
from services.ingest.settings import WebchatSettings, WidgetLimitSettings
from services.ingest.store import webchat as store
from shared import events as ev
from shared import topics
from shared.consumer_service import ConsumerService
from shared.dispatch import Handlers
from shared.kafka import Delivery, subscribe_batches
from shared.migrations import prepare
from shared.purge import without_purged
from shared.readmodel import scrub

__all__ = ["apply_batch", "handlers", "install", "wanted"]


@dataclass
class Applying:
    """One batch's transaction and the replies it stored."""

    conn: Connection
    stored: list[store.MailboxMessage] = field(default_factory=list)


handlers: Handlers[Applying, None] = Handlers()


@handlers.on(ev.TenantPurged)
def _purge(a: Applying, _p: ev.TenantPurged, d: Delivery) -> None:
    store.purge_tenant(a.conn, d.envelope.tenant_id)


@handlers.on(ev.ChannelConnected)
def _connected(a: Applying, p: ev.ChannelConnected, d: Delivery) -> None:
    store.connect_channel(a.conn, d.envelope.tenant_id, p)


@handlers.on(ev.ChannelOriginsSet)
def _origins_set(a: Applying, p: ev.ChannelOriginsSet, d: Delivery) -> None:
    store.set_origins(a.conn, d.envelope.tenant_id, p)


@handlers.on(ev.ChannelDisconnected)
def _disconnected(a: Applying, p: ev.ChannelDisconnected, d: Delivery) -> None:
    store.disconnect_channel(a.conn, d.envelope.tenant_id, p)


@handlers.on(ev.OutboundMessageRequested)
def _reply(a: Applying, p: ev.OutboundMessageRequested, d: Delivery) -> None:
    if p.channel_type == "webchat":
        a.stored.append(application.keep_reply(a.conn, d.envelope.tenant_id, p))


@handlers.on(ev.VisitorErased)
def _erased(a: Applying, p: ev.VisitorErased, d: Delivery) -> None:
    application.forget_visitor(a.conn, d.envelope.tenant_id, p.conversation_ids)


def wanted(envelope: ev.Envelope) -> bool:
    """The events of the table, of the replies only those to website-chat visitors (the
    others are the Meta delivery's and the bot connector's)."""
    if envelope.type == ev.OutboundMessageRequested.__name__:
        return envelope.payload.get("channel_type") == "webchat"
    return envelope.type in handlers.types


def apply_batch(
    engine: Engine, batch: Sequence[Delivery], purged: Table | None = None
) -> list[store.MailboxMessage]:
    """One transaction for the batch; returns every website-chat reply of the batch as stored
    (new or redelivered: their status is (re)published after the commit). Events of a
    tenant purged before (``purged``: ``shared.purge``) are dropped."""
    with engine.begin() as conn:
        if purged is not None:
            batch = without_purged(conn, purged, list(batch))
        applying = Applying(conn)
        for delivery in batch:
            handlers.dispatch(applying, delivery)
    return applying.stored


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
        stored = await asyncio.to_thread(apply_batch, service.engine, batch, service.purged)
        if any(d.envelope.type == ev.VisitorErased.__name__ for d in batch):
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
        types=handlers.types,
        wanted=wanted,
    )

    async def start_poller() -> None:
        service.tasks.start("webchat-mailbox-poller", chat.hub.poll_forever)

    service.on_start.append(start_poller)
    return chat
