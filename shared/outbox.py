"""The transactional outbox of a service that keeps its own tables (billing, sla).

A use case writes its integration events with :func:`enqueue` in the same transaction as
the change they announce, so the event exists exactly when the change does. The relay
publishes the unsent rows in order, awaits the broker's acks, then marks them sent; after a
crash in between they go again with the same ``event_id`` and consumers drop the copy.
(The conversation service relays its event store's notification log instead.)

One relay per service: billing and sla run one replica each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from prometheus_client import Counter
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)

from shared.events import Envelope
from shared.kafka import send_all
from shared.readmodel import UtcDateTime

log = logging.getLogger(__name__)

RELAYED = Counter(
    "interact_table_outbox_relayed_total", "Events relayed from a table outbox.", ["outbox"]
)
FAILURES = Counter(
    "interact_table_outbox_failures_total", "Failed table-outbox relay attempts.", ["outbox"]
)
PAGE = 500
PUBLISH_TIMEOUT_S = 10.0


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("seq", Integer, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("topic", String(100), nullable=False),
        Column("envelope", Text, nullable=False),
        Column("sent_at", UtcDateTime),
        Index("ix_outbox_unsent", "sent_at", "seq"),
    )


def enqueue(conn: Connection, outbox: Table, topic: str, *envelopes: Envelope) -> None:
    """Write events to the outbox in the caller's transaction."""
    rows = [
        {"event_id": str(e.event_id), "topic": topic, "envelope": e.model_dump_json()}
        for e in envelopes
    ]
    if rows:
        conn.execute(insert(outbox), rows)


class OutboxRelay:
    def __init__(
        self,
        name: str,
        engine: Engine,
        outbox: Table,
        new_producer: Callable[[], AIOKafkaProducer],
        poll_interval: float = 0.5,
        retry_interval: float = 1.0,
    ) -> None:
        self.name, self.engine, self.outbox = name, engine, outbox
        self.new_producer = new_producer
        self.poll_interval, self.retry_interval = poll_interval, retry_interval
        self.producer: AIOKafkaProducer | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    def wake(self) -> None:
        """After a commit in this process (any thread): publish now, not at the next poll."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    def _page(self) -> list[tuple[int, str, str]]:
        o = self.outbox
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(o.c.seq, o.c.topic, o.c.envelope)
                .where(o.c.sent_at.is_(None))
                .order_by(o.c.seq)
                .limit(PAGE)
            ).all()
        return [(r.seq, r.topic, r.envelope) for r in rows]

    def _mark_sent(self, seqs: list[int]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(self.outbox)
                .where(self.outbox.c.seq.in_(seqs))
                .values(sent_at=datetime.now(UTC))
            )

    async def relay_once(self) -> int:
        """Publish one page of unsent events, in order; returns how many."""
        page = await asyncio.to_thread(self._page)
        if not page:
            return 0
        if self.producer is None:
            self.producer = self.new_producer()
            await asyncio.wait_for(self.producer.start(), PUBLISH_TIMEOUT_S)
        by_topic: dict[str, list[Envelope]] = {}
        for _seq, topic, raw in page:
            by_topic.setdefault(topic, []).append(Envelope.model_validate_json(raw))
        for topic, envelopes in by_topic.items():
            await asyncio.wait_for(send_all(self.producer, topic, envelopes), PUBLISH_TIMEOUT_S)
        await asyncio.to_thread(self._mark_sent, [seq for seq, _t, _e in page])
        RELAYED.labels(self.name).inc(len(page))
        return len(page)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            while not self._stopping:
                self._wake.clear()  # before the page: a commit during it wakes the next one
                try:
                    relayed = await self.relay_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.warning("outbox cannot publish; will retry", extra={"outbox": self.name})
                    FAILURES.labels(self.name).inc()
                    await self._close_producer()
                    await asyncio.sleep(self.retry_interval)
                    continue
                if relayed < PAGE:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)
        finally:
            await self._close_producer()

    async def _close_producer(self) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 5)

    def stop(self) -> None:
        self._stopping = True
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)
