"""The event store's notification log as a source of the shared outbox relay.

Each log (directory, conversations) is the outbox of its topic: the relay in
:mod:`shared.outbox` reads notifications after the durable position kept in
``log_positions`` and records a page's last notification id once the broker has it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaProducer
from sqlalchemy import Engine

from services.conversation.application.contracts import to_envelopes, topic_of
from services.conversation.application.eventstore import CacheEvictingOnConflict
from services.conversation.store.positions import read_position, write_position
from shared.outbox import LOG_METRICS, OutboxRelay, Page


class NotificationLogSource:
    """An application's notification log, after the position named ``outbox:<app>``."""

    metrics = LOG_METRICS

    def __init__(self, app: CacheEvictingOnConflict, topic: str, engine: Engine) -> None:
        self.app, self.topic, self.engine = app, topic, engine
        self.name = f"outbox:{app.name}"
        self.label = app.name

    def read_page(self, after: int | None, limit: int) -> Page:
        if after is None:
            with self.engine.connect() as conn:
                after = read_position(conn, self.name)
        # The events this process saved come as they were saved (see eventstore), not read.
        events = self.app.events_after(after, limit)
        # Content leaves sealed with its conversation's key (docs/data-lifecycle.md).
        sealer = getattr(self.app, "sealer", None)
        records = [
            (topic_of(envelope, self.topic), envelope)
            for _, event in events
            for envelope in to_envelopes(event, sealer)
        ]
        return Page(records=records, last=events[-1][0] if events else after, read=len(events))

    def record(self, page: Page) -> None:
        """Forward only: a relay that lost its leadership unnoticed cannot move it back."""
        self.save_position(page.last)

    def save_position(self, position: int) -> None:
        with self.engine.begin() as conn:
            if position > read_position(conn, self.name):
                write_position(conn, self.name, position)


def log_relay(
    app: CacheEvictingOnConflict,
    topic: str,
    engine: Engine,
    new_producer: Callable[[], AIOKafkaProducer],
    idle_poll: float = 1.5,
    ensure_topics: Callable[[], Awaitable[None]] | None = None,
    retry_interval: float = 1.0,
) -> OutboxRelay:
    """The relay of ``app``'s notification log onto ``topic``."""
    return OutboxRelay(
        NotificationLogSource(app, topic, engine),
        new_producer,
        idle_poll=idle_poll,
        retry_interval=retry_interval,
        ensure_topics=ensure_topics,
    )
