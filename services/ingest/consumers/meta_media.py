"""Files of Meta messages, fetched after the webhook is answered (docs/attachments.md).

Meta waits a few seconds for the webhook's 200 and sends it again (and in the end turns
the webhook off) when it does not come, while fetching a file from the Graph API and
Meta's CDN may take up to ``MEDIA_TIMEOUT_S`` per file. So a message with files is not
fetched in the request:

1. **Accepted and recorded**: the webhook writes the message, as the envelope it will be
   published as (its text, the files still at Meta), to ``meta_media_pending`` in
   ingest's database, in the request, and answers 200 once that and the other messages
   (those without files, on Kafka as before) are stored.
2. **Fetched in the background** (:meth:`DeferredMedia.run_forever`, on every replica;
   a row is claimed for a lease, so one replica works on it at a time): the files are
   fetched and kept (:class:`~services.ingest.api.meta_media.MediaFetcher`); a file that could
   not be fetched for a passing reason (``media_unavailable``: the Graph API or the CDN
   unreachable or failing) is tried again, with exponential back-off, up to
   ``MEDIA_ATTEMPTS`` times.
3. **Published**: the message with its attachments, and those refused with their reason,
   as before; the row is deleted only after Kafka acknowledged it. A crash anywhere
   resumes from the row; the event id is derived from the channel's ids, so a message
   published twice is one event to every consumer.

A message with files reaches the conversation after the messages without files of the
same webhook; each keeps its own ``received_at``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from faststream.kafka import KafkaBroker
from prometheus_client import Counter, Gauge
from sqlalchemy import (
    JSON,
    Column,
    Engine,
    Index,
    Integer,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError

from services.ingest.api.meta_media import MediaFetcher
from services.ingest.domain.meta import ChannelRef, MediaRef, VisitorMessage
from services.ingest.store import channels as store
from shared import topics
from shared.events import Envelope, InboundMessageReceived, RefusedAttachment
from shared.kafka import publish
from shared.readmodel import UtcDateTime

log = logging.getLogger(__name__)

#: Messages with files accepted by a webhook and not yet published (at most minutes).
meta_media_pending = Table(
    "meta_media_pending",
    store.metadata,
    Column("event_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("channel_id", String(36), nullable=False),
    #: The ``InboundMessageReceived`` envelope as it will be published, without its files.
    Column("envelope", Text, nullable=False),
    #: The files still at Meta (``MediaRef`` fields), in the message's order.
    Column("media", JSON, nullable=False),
    Column("attempts", Integer, nullable=False),
    #: When a replica may work on it next (a claim moves it a lease ahead).
    Column("due_at", UtcDateTime, nullable=False),
    Index("ix_meta_media_pending_due", "due_at"),
)

PENDING = Gauge("interact_meta_media_pending", "Messages with files waiting to be fetched.")
FETCHED = Counter(
    "interact_meta_media_published_total",
    "Messages with files published after the webhook, by outcome.",
    ["outcome"],
)
#: Refusals worth trying again: the file may be there in a moment.
TRANSIENT = {"media_unavailable"}
MAX_DELAY_S = 60.0


@dataclass(frozen=True)
class DeferredSettings:
    attempts: int = 4
    backoff_s: float = 2.0
    poll_s: float = 1.0
    #: A claimed row is not taken by another replica for this long.
    lease_s: float = 300.0
    publish_timeout_s: float = 10.0
    batch: int = 20


def held(
    envelopes: Sequence[Envelope], media: dict[tuple[uuid.UUID, str], tuple[MediaRef, ...]]
) -> tuple[list[Envelope], list[tuple[Envelope, tuple[MediaRef, ...]]]]:
    """Split a webhook's envelopes: those to publish now, and the messages with files."""
    now, later = [], []
    for envelope in envelopes:
        p = envelope.payload
        refs = (
            media.get((uuid.UUID(p["channel_id"]), p["channel_message_id"]))
            if envelope.type == InboundMessageReceived.__name__
            else None
        )
        if refs:
            later.append((envelope, refs))
        else:
            now.append(envelope)
    return now, later


class DeferredMedia:
    """The recorder (in the webhook's request) and the worker (in the background)."""

    def __init__(
        self,
        engine: Engine,
        fetcher: MediaFetcher,
        channels: store.MetaChannels,
        broker: KafkaBroker,
        settings: DeferredSettings | None = None,
    ) -> None:
        self.engine, self.fetcher, self.channels, self.broker = engine, fetcher, channels, broker
        self.settings = settings or DeferredSettings()
        self.wake = asyncio.Event()

    # --- in the request -------------------------------------------------------------

    def record(self, messages: list[tuple[Envelope, tuple[MediaRef, ...]]]) -> None:
        """Keep them (a webhook Meta sends again changes nothing); blocking."""
        if not messages:
            return
        now = datetime.now(UTC)
        t = meta_media_pending
        with self.engine.begin() as conn:
            known = set(
                conn.scalars(
                    select(t.c.event_id).where(
                        t.c.event_id.in_([str(e.event_id) for e, _ in messages])
                    )
                )
            )
            rows = [
                {
                    "event_id": str(e.event_id),
                    "tenant_id": str(e.tenant_id),
                    "channel_id": e.payload["channel_id"],
                    "envelope": e.model_dump_json(),
                    "media": [_ref_json(r) for r in refs],
                    "attempts": 0,
                    "due_at": now,
                }
                for e, refs in messages
                if str(e.event_id) not in known
            ]
            if rows:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(t), rows)
                except IntegrityError:  # the same webhook at the same moment on another replica
                    pass
        self.wake.set()

    # --- in the background ----------------------------------------------------------

    async def run_forever(self) -> None:
        while True:
            self.wake.clear()  # before the run: a message recorded during it wakes the next
            if await self.run_due() < self.settings.batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.settings.poll_s)

    async def run_due(self) -> int:
        """Work on the rows that are due (claimed first); how many were claimed."""
        rows = await asyncio.to_thread(self._claim)
        if rows:
            async with httpx.AsyncClient(
                timeout=self.fetcher.settings.timeout_s, follow_redirects=False
            ) as client:
                await asyncio.gather(*(self._one(client, row) for row in rows))
        PENDING.set(await asyncio.to_thread(self._count))
        return len(rows)

    def _count(self) -> int:
        with self.engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(meta_media_pending)) or 0

    def _claim(self) -> list[Any]:
        t, now = meta_media_pending, datetime.now(UTC)
        lease = now + timedelta(seconds=self.settings.lease_s)
        claimed = []
        with self.engine.begin() as conn:
            due = conn.execute(
                select(t).where(t.c.due_at <= now).order_by(t.c.due_at).limit(self.settings.batch)
            ).all()
            for row in due:
                taken = conn.execute(
                    sql_update(t)
                    .where(t.c.event_id == row.event_id, t.c.due_at <= now)
                    .values(due_at=lease)
                ).rowcount
                if taken:
                    claimed.append(row)
        return claimed

    async def _one(self, client: httpx.AsyncClient, row: Any) -> None:
        envelope = Envelope.model_validate_json(row.envelope)
        inbound = InboundMessageReceived.model_validate(envelope.payload)
        refs = tuple(MediaRef(**m) for m in row.media)
        try:
            channel = await asyncio.to_thread(
                self.channels.by_id, envelope.tenant_id, inbound.channel_id
            )
            if channel is None:  # disconnected meanwhile: the message, its files refused
                content = inbound.content.model_copy(
                    update={"refused_attachments": [_gone(r) for r in refs]}
                )
            else:
                message = VisitorMessage(
                    channel=ChannelRef(channel.channel_type, channel.external_id),
                    channel_message_id=inbound.channel_message_id,
                    visitor_external_id=inbound.visitor_external_id,
                    visitor_name=inbound.visitor_name,
                    content=inbound.content,
                    sent_at=inbound.received_at,
                    media=refs,
                )
                content = await self.fetcher.attach(client, channel, message)
                passing = any(r.code in TRANSIENT for r in content.refused_attachments)
                if passing and row.attempts + 1 < self.settings.attempts:
                    await asyncio.to_thread(self._later, row)
                    FETCHED.labels("retried").inc()
                    return
            payload = inbound.model_copy(update={"content": content})
            ready = envelope.model_copy(update={"payload": payload.model_dump(mode="json")})
            await asyncio.wait_for(
                publish(self.broker, topics.INBOUND_MESSAGES, [ready]),
                self.settings.publish_timeout_s,
            )
        except Exception:  # the broker or the database: the row stays, tried again later
            log.warning("message with files not published yet", exc_info=True)
            await asyncio.to_thread(self._later, row)
            FETCHED.labels("failed").inc()
            return
        await asyncio.to_thread(self._done, row.event_id)
        refused = bool(content.refused_attachments)
        FETCHED.labels("with_refusals" if refused else "published").inc()

    def _later(self, row: Any) -> None:
        # Backing off, but never more than a minute: after a broker outage the rows go soon.
        delay = min(self.settings.backoff_s * 2 ** min(row.attempts, 10), MAX_DELAY_S)
        t = meta_media_pending
        with self.engine.begin() as conn:
            conn.execute(
                sql_update(t)
                .where(t.c.event_id == row.event_id)
                .values(
                    attempts=row.attempts + 1,
                    due_at=datetime.now(UTC) + timedelta(seconds=delay),
                )
            )

    def _done(self, event_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(meta_media_pending).where(meta_media_pending.c.event_id == event_id)
            )


def _ref_json(ref: MediaRef) -> dict[str, Any]:
    return {
        "kind": ref.kind,
        "url": ref.url,
        "media_id": ref.media_id,
        "file_name": ref.file_name,
        "claimed_type": ref.claimed_type,
    }


def _gone(ref: MediaRef) -> RefusedAttachment:
    return RefusedAttachment(
        kind=ref.kind,
        file_name=ref.file_name,
        code="media_unavailable",
        reason="The channel was disconnected before the file could be fetched.",
    )
