"""The outbox relay: the event store's notification log, published to Kafka in order.

The relay reads notifications after its last published position, publishes their
integration events (awaiting the broker's acks for the whole page), then records the
new position. If Kafka is down it waits and retries from the same position, so nothing
is lost; if it crashes between publishing and recording, the page is published again
with the same ``event_id``s and consumers drop the copies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaProducer
from eventsourcing.application import Application
from prometheus_client import Counter, Gauge
from sqlalchemy import Engine, text

from services.conversation.application.contracts import to_envelopes, topic_of
from services.conversation.store.positions import read_position, write_position
from shared.events import Envelope
from shared.kafka import send_all

log = logging.getLogger(__name__)

RELAYED = Counter("interact_outbox_relayed_total", "Integration events relayed.", ["log"])
LAG = Gauge("interact_outbox_lag", "Notifications not yet relayed.", ["log"])
RELAY_FAILURES = Counter("interact_outbox_failures_total", "Failed relay attempts.", ["log"])
PAGE = 500
PUBLISH_TIMEOUT_S = 10.0


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

    def _read_page(self) -> tuple[int, list]:
        with self.engine.connect() as conn:
            position = read_position(conn, self.name)
        notes = self.app.recorder.select_notifications(start=position + 1, limit=PAGE)
        return position, list(notes)

    def _save_position(self, position: int) -> None:
        """Forward only: a relay that lost its leadership unnoticed cannot move it back."""
        with self.engine.begin() as conn:
            if position > read_position(conn, self.name):
                write_position(conn, self.name, position)

    async def relay_once(self) -> int:
        """Publish one page; returns how many notifications it covered."""
        _position, notes = await asyncio.to_thread(self._read_page)
        if not notes:
            LAG.labels(self.app.name).set(0)
            return 0
        # The events this process saved come as they were saved (see eventstore), not decoded.
        decode = getattr(self.app, "domain_event", self.app.mapper.to_domain_event)
        envelopes = [envelope for note in notes for envelope in to_envelopes(decode(note))]
        # Bounded: a wedged connection must end in a retry, not in a relay that waits forever.
        if self.producer is None:
            self.producer = self.new_producer()
            await asyncio.wait_for(self.producer.start(), PUBLISH_TIMEOUT_S)
        by_topic: dict[str, list[Envelope]] = {}
        for envelope in envelopes:
            by_topic.setdefault(topic_of(envelope, self.topic), []).append(envelope)
        await asyncio.wait_for(
            asyncio.gather(*(send_all(self.producer, t, group) for t, group in by_topic.items())),
            PUBLISH_TIMEOUT_S,
        )
        await asyncio.to_thread(self._save_position, notes[-1].id)
        RELAYED.labels(self.app.name).inc(len(envelopes))
        return len(notes)

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
        while not self._stopping:
            await asyncio.to_thread(self._still_leading, leadership)
            # Cleared before reading, not after: a save during this page wakes the next one
            # at once instead of waiting for the poll.
            self._wake.clear()
            try:
                relayed = await self.relay_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("outbox relay cannot publish; will retry", exc_info=True)
                RELAY_FAILURES.labels(self.app.name).inc()
                self.failures += 1
                await asyncio.sleep(self.retry_interval)
                await self._recover()
                continue
            if relayed < PAGE:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)

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
