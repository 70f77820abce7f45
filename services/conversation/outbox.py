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

from eventsourcing.application import Application
from faststream.kafka import KafkaBroker
from prometheus_client import Counter, Gauge
from sqlalchemy import Engine, text

from services.conversation.application.contracts import to_envelopes
from services.conversation.store.positions import read_position, write_position
from shared.kafka import publish

log = logging.getLogger(__name__)

RELAYED = Counter("interact_outbox_relayed_total", "Integration events relayed.", ["log"])
LAG = Gauge("interact_outbox_lag", "Notifications not yet relayed.", ["log"])
PAGE = 500
PUBLISH_TIMEOUT_S = 20.0


class OutboxRelay:
    def __init__(
        self,
        app: Application,
        topic: str,
        engine: Engine,
        broker: KafkaBroker,
        poll_interval: float = 0.05,
        retry_interval: float = 1.0,
    ) -> None:
        self.app, self.topic, self.engine, self.broker = app, topic, engine, broker
        self.name = f"outbox:{app.name}"
        self.poll_interval = poll_interval
        self.retry_interval = retry_interval
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
        with self.engine.begin() as conn:
            write_position(conn, self.name, position)

    async def relay_once(self) -> int:
        """Publish one page; returns how many notifications it covered."""
        _position, notes = await asyncio.to_thread(self._read_page)
        if not notes:
            LAG.labels(self.app.name).set(0)
            return 0
        envelopes = [
            envelope
            for note in notes
            for envelope in to_envelopes(self.app.mapper.to_domain_event(note))
        ]
        # Bounded: a wedged connection must end in a retry, not in a relay that waits forever.
        await asyncio.wait_for(publish(self.broker, self.topic, envelopes), PUBLISH_TIMEOUT_S)
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
        leadership = None
        while leadership is None and not self._stopping:
            leadership = await asyncio.to_thread(self._try_lead)
            if leadership is None:
                await asyncio.sleep(self.retry_interval)
        try:
            await self._relay_forever()
        finally:
            if leadership is not None and leadership is not True:
                leadership.close()  # type: ignore[attr-defined]

    async def _relay_forever(self) -> None:
        while not self._stopping:
            try:
                relayed = await self.relay_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("outbox relay cannot publish; will retry", exc_info=True)
                await asyncio.sleep(self.retry_interval)
                continue
            if relayed < PAGE:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
