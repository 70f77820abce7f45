"""The outbox relay: granted credits' envelopes, published to Kafka in order.

A claim writes its ``ServiceCreditGranted`` envelope to the ``outbox`` table in the same
transaction as the credit, so a granted credit is never lost and never published without
its credit. The relay sends the unpublished rows (awaiting the broker's acks), then marks
them. If Kafka is down it retries the same rows; if it dies between sending and marking,
the rows go again with the same ``event_id`` (the credit id) and billing drops the copy.
One relay runs per service (the Deployment has one replica; on PostgreSQL an advisory
lock would make a second replica wait, as the conversation service's relay does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from prometheus_client import Counter
from sqlalchemy import Engine, select, update

from services.sla.store.tables import outbox
from shared.events import Envelope
from shared.kafka import send_all

log = logging.getLogger(__name__)

RELAYED = Counter("interact_sla_outbox_relayed_total", "Service-credit events relayed.")
FAILURES = Counter("interact_sla_outbox_failures_total", "Failed outbox relay attempts.")
PAGE = 200
PUBLISH_TIMEOUT_S = 10.0


class OutboxRelay:
    def __init__(
        self,
        engine: Engine,
        new_producer: Callable[[], AIOKafkaProducer],
        poll_interval: float = 0.2,
        retry_interval: float = 1.0,
    ) -> None:
        self.engine, self.new_producer = engine, new_producer
        self.poll_interval, self.retry_interval = poll_interval, retry_interval
        self.producer: AIOKafkaProducer | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """Called after a claim in this process, so the relay need not wait for its poll."""
        self._wake.set()

    def _pending(self) -> list[tuple[int, str, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(outbox.c.seq, outbox.c.topic, outbox.c.envelope)
                .where(outbox.c.published_at.is_(None))
                .order_by(outbox.c.seq)
                .limit(PAGE)
            ).all()
        return [(r.seq, r.topic, r.envelope) for r in rows]

    def _mark(self, seqs: list[int]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox).where(outbox.c.seq.in_(seqs)).values(published_at=datetime.now(UTC))
            )

    async def relay_once(self) -> int:
        """Publish one page of pending envelopes; returns how many."""
        pending = await asyncio.to_thread(self._pending)
        if not pending:
            return 0
        if self.producer is None:
            self.producer = self.new_producer()
            await asyncio.wait_for(self.producer.start(), PUBLISH_TIMEOUT_S)
        by_topic: dict[str, list[Envelope]] = {}
        for _seq, topic, raw in pending:
            by_topic.setdefault(topic, []).append(Envelope.model_validate_json(raw))
        for topic, envelopes in by_topic.items():
            await asyncio.wait_for(send_all(self.producer, topic, envelopes), PUBLISH_TIMEOUT_S)
        await asyncio.to_thread(self._mark, [seq for seq, _t, _e in pending])
        RELAYED.inc(len(pending))
        return len(pending)

    async def run(self) -> None:
        try:
            while not self._stopping:
                try:
                    relayed = await self.relay_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.warning("sla outbox cannot publish; will retry", exc_info=True)
                    FAILURES.inc()
                    await self._close_producer()
                    await asyncio.sleep(self.retry_interval)
                    continue
                if relayed < PAGE:
                    self._wake.clear()
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
        self._wake.set()
