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

from eventsourcing.application import Application
from faststream.kafka import KafkaBroker
from prometheus_client import Counter, Gauge
from sqlalchemy import Engine

from services.conversation.application.contracts import to_envelopes
from services.conversation.store.positions import read_position, write_position
from shared.kafka import publish

log = logging.getLogger(__name__)

RELAYED = Counter("interact_outbox_relayed_total", "Integration events relayed.", ["log"])
LAG = Gauge("interact_outbox_lag", "Notifications not yet relayed.", ["log"])
PAGE = 500


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
        await publish(self.broker, self.topic, envelopes)
        await asyncio.to_thread(self._save_position, notes[-1].id)
        RELAYED.labels(self.app.name).inc(len(envelopes))
        return len(notes)

    async def run(self) -> None:
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
