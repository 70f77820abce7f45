"""The outbox relay: the event store's notification log, published to Kafka in order.

The relay reads notifications after its last published position, publishes their
integration events, and records a page's position only after the broker acknowledged the
whole page and every page before it; the next page is read and handed to the producer
meanwhile (two pages in flight at most; the idempotent producer keeps them in order). If
Kafka is down it waits and retries from the durable position, so nothing is lost; if it
crashes between publishing and recording, the page is published again with the same
``event_id``s and consumers drop the copies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaProducer
from eventsourcing.application import Application
from prometheus_client import Counter, Gauge
from sqlalchemy import Engine, text

from services.conversation.application.contracts import to_envelopes, topic_of
from services.conversation.store.positions import read_position, write_position
from shared.events import Envelope
from shared.kafka import enqueue_all

log = logging.getLogger(__name__)

RELAYED = Counter("interact_outbox_relayed_total", "Integration events relayed.", ["log"])
LAG = Gauge("interact_outbox_lag", "Notifications not yet relayed.", ["log"])
RELAY_FAILURES = Counter("interact_outbox_failures_total", "Failed relay attempts.", ["log"])
PAGE = 500
#: Pages handed to the producer and not yet settled (acked and their position recorded).
IN_FLIGHT = 2
PUBLISH_TIMEOUT_S = 10.0


async def _drop(tasks: deque[asyncio.Task[None]]) -> None:
    """Cancel what is still in flight and wait until it is gone."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    tasks.clear()


class LeadershipLost(Exception):
    """The advisory lock's connection is gone: another replica may be relaying now."""


class OutboxRelay:
    def __init__(
        self,
        app: Application,
        topic: str,
        engine: Engine,
        new_producer: Callable[[], AIOKafkaProducer],
        poll_interval: float = 0.05,
        retry_interval: float = 1.0,
        ensure_topics: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.app, self.topic, self.engine = app, topic, engine
        self.new_producer = new_producer
        self.producer: AIOKafkaProducer | None = None
        self.name = f"outbox:{app.name}"
        self.poll_interval = poll_interval
        self.retry_interval = retry_interval
        self.ensure_topics = ensure_topics
        self.failures = 0
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """Called after a save in this process, so the relay need not wait for its poll."""
        self._wake.set()

    def _read_page(self, after: int | None = None) -> list:
        """The page after ``after``, or after the durable position when None."""
        if after is None:
            with self.engine.connect() as conn:
                after = read_position(conn, self.name)
        return list(self.app.recorder.select_notifications(start=after + 1, limit=PAGE))

    def _save_position(self, position: int) -> None:
        """Forward only: a relay that lost its leadership unnoticed cannot move it back."""
        with self.engine.begin() as conn:
            if position > read_position(conn, self.name):
                write_position(conn, self.name, position)

    async def _hand_over(self, after: int | None) -> tuple[list, Awaitable[Any] | None, int]:
        """Read a page and give it to the producer; returns the notes, the future of their
        acks and how many integration events they made."""
        notes = await asyncio.to_thread(self._read_page, after)
        if not notes:
            LAG.labels(self.app.name).set(0)
            return notes, None, 0
        # The events this process saved come as they were saved (see eventstore), not decoded.
        decode = getattr(self.app, "domain_event", self.app.mapper.to_domain_event)
        # Content leaves sealed with its conversation's key (docs/data-lifecycle.md).
        sealer = getattr(self.app, "sealer", None)
        envelopes = [e for note in notes for e in to_envelopes(decode(note), sealer)]
        # Bounded: a wedged connection must end in a retry, not in a relay that waits forever.
        if self.producer is None:
            self.producer = self.new_producer()
            await asyncio.wait_for(self.producer.start(), PUBLISH_TIMEOUT_S)
        by_topic: dict[str, list[Envelope]] = {}
        for envelope in envelopes:
            by_topic.setdefault(topic_of(envelope, self.topic), []).append(envelope)
        producer = self.producer
        acks = [
            await asyncio.wait_for(enqueue_all(producer, t, group), PUBLISH_TIMEOUT_S)
            for t, group in by_topic.items()
        ]
        return notes, asyncio.gather(*acks), len(envelopes)

    async def _settle(
        self,
        previous: asyncio.Task[None] | None,
        acks: Awaitable[Any] | None,
        last: int,
        count: int,
    ) -> None:
        """Once the page before is settled: this page's acks, then its position."""
        if previous is not None:
            await previous
        if acks is not None:
            await asyncio.wait_for(acks, PUBLISH_TIMEOUT_S)
        await asyncio.to_thread(self._save_position, last)
        RELAYED.labels(self.app.name).inc(count)

    def _try_lead(self) -> object | None:
        """On PostgreSQL only one replica relays: the one holding the advisory lock.

        The lock belongs to a connection kept open while leading; if the replica dies the
        connection closes, the lock is freed and a standby takes over. (SQLite is one
        process by nature.)
        """
        if self.engine.dialect.name != "postgresql":
            return True
        conn = self.engine.connect()
        key = zlib.crc32(self.name.encode())
        if conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}):
            conn.commit()
            return conn
        conn.close()
        return None

    async def run(self) -> None:
        while not self._stopping:
            leadership = None
            while leadership is None and not self._stopping:
                leadership = await asyncio.to_thread(self._try_lead)
                if leadership is None:
                    await asyncio.sleep(self.retry_interval)
            try:
                await self._relay_forever(leadership)
            except LeadershipLost:
                log.warning("outbox relay lost its lock; standing by", extra={"log": self.name})
            finally:
                await self._close_producer()
                if leadership is not None and leadership is not True:
                    with contextlib.suppress(Exception):
                        leadership.close()  # type: ignore[attr-defined]

    @staticmethod
    def _still_leading(leadership: object) -> None:
        """The lock lives as long as its connection: if that is gone, so is the lock."""
        if leadership is True:
            return
        try:
            leadership.scalar(text("SELECT 1"))  # type: ignore[attr-defined]
            leadership.commit()  # type: ignore[attr-defined]
        except Exception as exc:
            raise LeadershipLost(str(exc)) from exc

    async def _relay_forever(self, leadership: object = True) -> None:
        """Page after page, each handed to the producer while the ones before it wait for
        their acks and their position (at most ``IN_FLIGHT`` pages): reading and publishing
        no longer wait for the broker's round trip and the position's write. A failure
        drops what is in flight and starts again from the durable position (consumers drop
        the re-published copies by ``event_id``)."""
        after: int | None = None  # where the pages in flight end; None: the durable position
        in_flight: deque[asyncio.Task[None]] = deque()
        try:
            while not self._stopping:
                await asyncio.to_thread(self._still_leading, leadership)
                # Cleared before reading, not after: a save during this page wakes the next
                # one at once instead of waiting for the poll.
                self._wake.clear()
                try:
                    while len(in_flight) >= IN_FLIGHT:
                        await in_flight.popleft()
                    notes, acks, count = await self._hand_over(after)
                    if notes:
                        previous = in_flight[-1] if in_flight else None
                        in_flight.append(
                            asyncio.create_task(self._settle(previous, acks, notes[-1].id, count))
                        )
                        after = notes[-1].id
                    while not notes and in_flight:  # quiet: settle (and surface) the rest
                        await in_flight.popleft()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.warning("outbox relay cannot publish; will retry", exc_info=True)
                    RELAY_FAILURES.labels(self.app.name).inc()
                    self.failures += 1
                    await _drop(in_flight)
                    after = None
                    await asyncio.sleep(self.retry_interval)
                    await self._recover()
                    continue
                if len(notes) < PAGE:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)
            # Stopping: what was handed over is settled before the producer goes.
            while in_flight:
                with contextlib.suppress(Exception):
                    await in_flight.popleft()
        finally:
            await _drop(in_flight)

    async def _recover(self) -> None:
        """Start over with a fresh connection (a wedged one would never recover), and give a
        broker that lost its topics (a new cluster behind the same address) its topics back."""
        await self._close_producer()
        if self.ensure_topics is None:
            return
        try:
            await asyncio.wait_for(self.ensure_topics(), 10)
        except Exception:
            log.debug("topics cannot be checked yet", exc_info=True)

    async def _close_producer(self) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 5)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
