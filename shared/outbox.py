"""The one outbox relay: what a service stored, published to Kafka in order, by one replica.

A relay reads pages from a :class:`OutboxSource` - the conversation service's event-store
notification log, or the ``outbox`` table of a service that keeps its own tables (billing,
sla; their use cases write with :func:`enqueue` in the same transaction as the change) -
hands each page to the producer and records it as published only after the broker
acknowledged it and every page before it. The next page is read and handed over meanwhile
(two pages in flight at most; the idempotent producer keeps them in order per partition,
and events are keyed by tenant, so per-key order holds). If Kafka is down it retries from
the durable position, so nothing is lost; after a crash between publishing and recording,
the page goes again with the same ``event_id``s and consumers drop the copies.

At N replicas only the leader relays (:mod:`shared.leadership`: an advisory lock on
PostgreSQL, a file lock on SQLite); the others stand by and take over when it goes.

Idle, a relay costs next to nothing: it waits for :meth:`OutboxRelay.wake` (called after
this process's own commits) and otherwise looks for other replicas' writes with a poll that
backs off to ``idle_poll`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from prometheus_client import Counter, Gauge
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
    text,
    update,
)
from tenacity import RetryCallState, wait_exponential_jitter

from shared.events import Envelope, StoredEnvelope
from shared.kafka import enqueue_all
from shared.leadership import (
    Leadership,
    LeadershipLost,
    leadership_for,
    step_down,
    wait_to_lead,
)
from shared.readmodel import UtcDateTime

log = logging.getLogger(__name__)

PAGE = 500
#: Pages handed to the producer and not yet settled (acked and recorded).
IN_FLIGHT = 2
PUBLISH_TIMEOUT_S = 10.0
#: The first wait for other replicas' writes after activity; it doubles up to ``idle_poll``.
BUSY_POLL_S = 0.05


@dataclass(frozen=True)
class RelayMetrics:
    """The counters a relay moves; the label value is the source's ``label``."""

    relayed: Counter
    failures: Counter
    lag: Gauge | None = None


#: The event-store notification logs (conversation service), labelled by log.
LOG_METRICS = RelayMetrics(
    Counter("interact_outbox_relayed_total", "Integration events relayed.", ["log"]),
    Counter("interact_outbox_failures_total", "Failed relay attempts.", ["log"]),
    Gauge("interact_outbox_lag", "Notifications not yet relayed.", ["log"]),
)
#: The outbox tables (billing, sla), labelled by outbox.
TABLE_METRICS = RelayMetrics(
    Counter(
        "interact_table_outbox_relayed_total", "Events relayed from a table outbox.", ["outbox"]
    ),
    Counter(
        "interact_table_outbox_failures_total", "Failed table-outbox relay attempts.", ["outbox"]
    ),
)


@dataclass(frozen=True)
class Page:
    """What one read gave: the events to publish, in order, and where the page ends."""

    records: list[tuple[str, Envelope | StoredEnvelope]]
    #: The position after this page (the next read starts after it).
    last: int
    #: How many stored entries were read (a full page: more may follow at once).
    read: int
    #: What :meth:`OutboxSource.record` needs to mark exactly these entries.
    marks: tuple[int, ...] = field(default=())


class OutboxSource(Protocol):
    """Where a relay reads from and records what it published (the relay's port)."""

    #: The relay's name: its lock, its position, its logs.
    name: str
    #: The metrics' label value.
    label: str
    metrics: RelayMetrics
    engine: Engine

    def read_page(self, after: int | None, limit: int) -> Page:
        """Entries after ``after`` (None: after the durable position), at most ``limit``."""

    def record(self, page: Page) -> None:
        """The page is published: never read it again (forward only)."""


# --- the outbox table -------------------------------------------------------------------


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


def writers_lock(outbox: Table) -> int:
    """The advisory lock the writers of ``outbox`` take in turn (PostgreSQL)."""
    return zlib.crc32(f"{outbox.name}-writers".encode())


def enqueue(conn: Connection, outbox: Table, topic: str, *envelopes: Envelope) -> None:
    """Write events to the outbox in the caller's transaction.

    On PostgreSQL the writers take turns (a transaction advisory lock, held to the commit),
    so ``seq`` order is commit order: otherwise a later row of a tenant could commit first
    and be published before an earlier one that committed late. SQLite has one writer.
    """
    rows = [
        {"event_id": str(e.event_id), "topic": topic, "envelope": e.model_dump_json()}
        for e in envelopes
    ]
    if rows:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": writers_lock(outbox)})
        conn.execute(insert(outbox), rows)


class TableSource:
    """The unsent rows of an ``outbox`` table, by ``seq``; published rows get ``sent_at``.

    Rows are marked one by one (by ``seq``), not up to a position: on PostgreSQL a row with
    a lower ``seq`` may commit after a higher one, and the relay's next quiet read (from
    the start of what is unsent) still finds it.
    """

    metrics = TABLE_METRICS

    def __init__(self, name: str, engine: Engine, outbox: Table) -> None:
        self.name, self.label, self.engine, self.outbox = f"outbox:{name}", name, engine, outbox

    def read_page(self, after: int | None, limit: int) -> Page:
        o = self.outbox
        query = select(o.c.seq, o.c.topic, o.c.envelope).where(o.c.sent_at.is_(None))
        if after is not None:
            query = query.where(o.c.seq > after)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(o.c.seq).limit(limit)).all()
        return Page(
            records=[(r.topic, StoredEnvelope.of(r.envelope)) for r in rows],
            last=rows[-1].seq if rows else (after or 0),
            read=len(rows),
            marks=tuple(r.seq for r in rows),
        )

    def record(self, page: Page) -> None:
        if not page.marks:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(self.outbox)
                .where(self.outbox.c.seq.in_(page.marks), self.outbox.c.sent_at.is_(None))
                .values(sent_at=datetime.now(UTC))
            )


# --- the relay --------------------------------------------------------------------------


async def _drop(tasks: deque[asyncio.Task[None]]) -> None:
    """Cancel what is still in flight and wait until it is gone."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    tasks.clear()


def _by_topic(
    records: Sequence[tuple[str, Envelope | StoredEnvelope]],
) -> dict[str, list[Envelope | StoredEnvelope]]:
    grouped: dict[str, list[Envelope | StoredEnvelope]] = {}
    for topic, envelope in records:
        grouped.setdefault(topic, []).append(envelope)
    return grouped


class OutboxRelay:
    def __init__(
        self,
        source: OutboxSource,
        new_producer: Callable[[], AIOKafkaProducer],
        idle_poll: float = 1.5,
        retry_interval: float = 1.0,
        ensure_topics: Callable[[], Awaitable[None]] | None = None,
        leadership: Leadership | None = None,
    ) -> None:
        self.source = source
        self.name = source.name
        self.new_producer = new_producer
        self.idle_poll, self.retry_interval = idle_poll, retry_interval
        self.ensure_topics = ensure_topics
        # Named as the source: the lock a relay of an earlier release held (the notification
        # logs' ``outbox:<log>``), so old and new replicas exclude each other while rolling.
        self.leadership = leadership or leadership_for(source.engine, source.name)
        self.producer: AIOKafkaProducer | None = None
        #: Failed attempts so far (each is retried from the durable position).
        self.failures = 0
        #: The pause after the n-th failure in a row: doubling from ``retry_interval`` with
        #: jitter, at most 30 s (tenacity's strategy, as the consumers' retries).
        self._backoff = wait_exponential_jitter(
            initial=retry_interval, max=30.0, jitter=retry_interval
        )
        self._failing_since: float | None = None
        self._failures_in_row = 0
        #: True while this relay holds the leadership and publishes.
        self.leading = False
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    def _failed(self) -> None:
        """One warning when an outage starts (with its cause); later failures only count."""
        self.failures += 1
        self._failures_in_row += 1
        if self._failing_since is None:
            self._failing_since = time.monotonic()
            log.warning(
                "outbox relay cannot publish; retrying with backoff",
                extra={"relay": self.name},
                exc_info=True,
            )

    def _recovered(self) -> None:
        if self._failing_since is not None:
            log.info(
                "outbox relay recovered",
                extra={
                    "relay": self.name,
                    "retries": self._failures_in_row,
                    "seconds": round(time.monotonic() - self._failing_since, 1),
                },
            )
            self._failing_since, self._failures_in_row = None, 0

    def _attempt(self) -> RetryCallState:
        state = RetryCallState(None, None, (), {})
        state.attempt_number = self._failures_in_row
        return state

    async def _pause(self, seconds: float) -> None:
        """A pause between retries that only a stop cuts short (new commits wait for it)."""
        until = time.monotonic() + seconds
        while not self._stopping and (left := until - time.monotonic()) > 0:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), left)
        self._wake.set()  # what was committed meanwhile is read at once after the pause

    def wake(self) -> None:
        """After a commit in this process (any thread): publish now, not at the next poll."""
        loop = self._loop
        if loop is None or loop.is_closed():
            self._wake.set()
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    def stop(self) -> None:
        self._stopping = True
        self.wake()

    async def run(self) -> None:
        """Stand by until leading, relay until stopped or the lock is lost, and again."""
        self._loop = asyncio.get_running_loop()
        while not self._stopping:
            if not await wait_to_lead(self.leadership, lambda: self._stopping):
                break
            self.leading = True
            try:
                await self._relay_forever()
            except LeadershipLost:
                log.warning("outbox relay lost its lock; standing by", extra={"relay": self.name})
            finally:
                self.leading = False
                await self._close_producer()
                step_down(self.leadership)

    async def _hand_over(self, after: int | None) -> tuple[Page, Awaitable[Any] | None]:
        """Read a page and give it to the producer; returns it and the future of its acks."""
        page = await asyncio.to_thread(self.source.read_page, after, PAGE)
        if not page.records:
            return page, None
        # Bounded: a wedged connection must end in a retry, not in a relay that waits forever.
        if self.producer is None:
            self.producer = self.new_producer()
            await asyncio.wait_for(self.producer.start(), PUBLISH_TIMEOUT_S)
        producer = self.producer
        acks = [
            await asyncio.wait_for(enqueue_all(producer, topic, group), PUBLISH_TIMEOUT_S)
            for topic, group in _by_topic(page.records).items()
        ]
        return page, asyncio.gather(*acks)

    async def _settle(
        self, previous: asyncio.Task[None] | None, acks: Awaitable[Any] | None, page: Page
    ) -> None:
        """Once the page before is settled: this page's acks, then its record."""
        if previous is not None:
            await previous
        if acks is not None:
            await asyncio.wait_for(acks, PUBLISH_TIMEOUT_S)
        await asyncio.to_thread(self.source.record, page)
        self.source.metrics.relayed.labels(self.source.label).inc(len(page.records))

    async def _relay_forever(self) -> None:
        """Page after page, each handed to the producer while the ones before it wait for
        their acks and their record (at most ``IN_FLIGHT`` pages). A failure drops what is
        in flight and starts again from the durable position."""
        metrics, label = self.source.metrics, self.source.label
        after: int | None = None  # where the pages in flight end; None: the durable position
        in_flight: deque[asyncio.Task[None]] = deque()
        wait = BUSY_POLL_S
        try:
            while not self._stopping:
                if self.leadership.check_blocks:
                    await asyncio.to_thread(self.leadership.check)
                else:  # a file lock held in memory: no thread hop per page for nothing
                    self.leadership.check()
                # Cleared before reading, not after: a commit during this page wakes the
                # next one at once instead of waiting for the poll.
                self._wake.clear()
                try:
                    while len(in_flight) >= IN_FLIGHT:
                        await in_flight.popleft()
                    page, acks = await self._hand_over(after)
                    if page.read:
                        previous = in_flight[-1] if in_flight else None
                        in_flight.append(asyncio.create_task(self._settle(previous, acks, page)))
                        after = page.last
                    else:
                        while in_flight:  # quiet: settle (and surface) the rest
                            await in_flight.popleft()
                        after = None  # and read from the durable position next time
                        if metrics.lag is not None:
                            metrics.lag.labels(label).set(0)
                except (asyncio.CancelledError, LeadershipLost):
                    raise
                except Exception:
                    self._failed()
                    metrics.failures.labels(label).inc()
                    await _drop(in_flight)
                    after = None
                    await self._pause(self._backoff(self._attempt()))
                    await self._recover()
                    continue
                self._recovered()
                if page.read >= PAGE:
                    wait = BUSY_POLL_S
                    continue
                if page.read:
                    wait = BUSY_POLL_S
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)
                # Nothing here: other replicas' writes are looked for less and less often.
                wait = BUSY_POLL_S if self._wake.is_set() else min(wait * 2, self.idle_poll)
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


def table_relay(
    name: str, engine: Engine, outbox: Table, new_producer: Callable[[], AIOKafkaProducer]
) -> OutboxRelay:
    """The relay of a service's ``outbox`` table (billing, sla)."""
    return OutboxRelay(TableSource(name, engine, outbox), new_producer)
