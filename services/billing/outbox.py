"""The transactional outbox: an issued invoice's event is never lost.

Whoever issues an invoice or records a payment calls :func:`enqueue` inside the same
transaction, so the row exists exactly when the invoice does. The relay publishes the
unsent rows in order, awaits the broker's acks, then sets ``sent_at``; after a crash
in between the rows go again with the same ``event_id`` and consumers drop the copy.
Billing runs as one replica (see ``deploy/k8s/billing.yaml``), so one relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from prometheus_client import Counter, Gauge
from sqlalchemy import Connection, Engine, func, insert, select, update

from services.billing.store import outbox
from shared import topics
from shared.events import Envelope
from shared.kafka import send_all

log = logging.getLogger(__name__)

RELAYED = Counter("interact_billing_outbox_relayed_total", "Billing events relayed to Kafka.")
UNSENT = Gauge("interact_billing_outbox_unsent", "Billing events waiting in the outbox.")
PAGE = 500
PUBLISH_TIMEOUT_S = 10.0


def enqueue(conn: Connection, *envelopes: Envelope) -> None:
    """Write events to the outbox in the caller's transaction."""
    rows = [{"event_id": str(e.event_id), "envelope": e.model_dump_json()} for e in envelopes]
    if rows:
        conn.execute(insert(outbox), rows)


def unsent(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).where(outbox.c.sent_at.is_(None))) or 0


class OutboxRelay:
    def __init__(
        self,
        engine: Engine,
        new_producer: Callable[[], AIOKafkaProducer],
        poll_interval: float = 0.2,
        retry_interval: float = 1.0,
        topic: str = topics.BILLING_EVENTS,
    ) -> None:
        self.engine, self.new_producer, self.topic = engine, new_producer, topic
        self.poll_interval, self.retry_interval = poll_interval, retry_interval
        self.producer: AIOKafkaProducer | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    def wake(self) -> None:
        """After a commit in this process (any thread): publish now, not at the next poll."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    def _page(self) -> list[tuple[int, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(outbox.c.id, outbox.c.envelope)
                .where(outbox.c.sent_at.is_(None))
                .order_by(outbox.c.id)
                .limit(PAGE)
            ).all()
        return [(row.id, row.envelope) for row in rows]

    def _mark_sent(self, ids: list[int]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox).where(outbox.c.id.in_(ids)).values(sent_at=datetime.now(UTC))
            )

    async def relay_once(self) -> int:
        rows = await asyncio.to_thread(self._page)
        UNSENT.set(len(rows))
        if not rows:
            return 0
        envelopes = [Envelope.model_validate_json(raw) for _id, raw in rows]
        if self.producer is None:
            self.producer = self.new_producer()
            await asyncio.wait_for(self.producer.start(), PUBLISH_TIMEOUT_S)
        await asyncio.wait_for(send_all(self.producer, self.topic, envelopes), PUBLISH_TIMEOUT_S)
        await asyncio.to_thread(self._mark_sent, [row_id for row_id, _raw in rows])
        RELAYED.inc(len(rows))
        return len(rows)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            while not self._stopping:
                try:
                    relayed = await self.relay_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.warning("billing outbox cannot publish; will retry", exc_info=True)
                    await self._close_producer()  # a fresh connection next time
                    await asyncio.sleep(self.retry_interval)
                    continue
                if relayed < PAGE:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_interval)
        finally:
            await self._close_producer()

    async def _close_producer(self) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 5)

    def stop(self) -> None:
        self._stopping = True
        self.wake()
