"""One way to talk to Kafka: the broker factory, batch consumers with dead-lettering, publishing.

Throughput comes from batches: a consumer takes up to ``kafka_max_records`` messages,
the service applies them in one database transaction, publishes what follows without
awaiting each send, and only then commits the offsets, at most every
``kafka_commit_interval_ms`` (at-least-once; consumers deduplicate). A message nobody can read goes to the dead-letter topic with its
reason and origin (``services.deadletters`` replays it) and the batch goes on; an event
of a newer ``schema_version`` pauses its partition instead; an error that a retry may cure
(database down) rewinds the batch and tries again with exponential backoff and jitter.

Publishing goes through FastStream's broker; consuming is a plain aiokafka loop per group
(:class:`BatchConsumer`), started and stopped with the broker: a long poll that returns as
soon as records arrive (no sleep after an empty poll, no per-batch middleware), records of
types a consumer does not want skipped by their ``event-type`` header before any decoding.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import IllegalStateError, KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import DefaultPartitioner, murmur2
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from shared import topics
from shared.events import (
    Envelope,
    NewerSchemaVersion,
    Payload,
    StoredEnvelope,
    UnreadableEvent,
    decode,
)
from shared.kafka_security import broker_security, client_options
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

DEAD_LETTERED = Counter(
    "interact_dead_letters_total",
    "Messages sent to the dead-letter topic because they could not be read or applied,"
    " by source topic and reason (not_an_envelope, unknown_type, malformed,"
    " refused_by_database, other).",
    ["service", "topic", "reason"],
)
PUBLISHED = Counter(
    "interact_events_published_total", "Events published in bulk, by topic.", ["topic"]
)
CONSUMED = Counter(
    "interact_events_consumed_total",
    "Records taken from Kafka by a consumer group, by topic.",
    ["group", "topic"],
)
BATCH_FAILURES = Counter(
    "interact_consumer_batch_failures_total",
    "Batches whose handler failed and that were rewound to be retried (the group stands still).",
    ["group"],
)
PUBLISH_FAILURES = Counter(
    "interact_publish_failures_total",
    "Bulk publishes Kafka did not acknowledge (the caller answers 503 or retries), by topic.",
    ["topic"],
)
for _topic in topics.ALL:  # every topic's series at 0, before any failure
    PUBLISH_FAILURES.labels(_topic)
BATCH_SECONDS = Histogram(
    "interact_consumer_batch_seconds",
    "Time to apply one batch and commit its offsets.",
    ["group"],
    buckets=(0.001, 0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
#: End-to-end latency in stages: how long after its ``occurred_at`` an event was applied and
#: committed by a group (ingest accept -> stored: the conversation group's
#: InboundMessageReceived; stored -> routed: routing's ConversationOpened; routed ->
#: assigned: the conversation group's ConversationRouted).
EVENT_LATENCY = Histogram(
    "interact_event_latency_seconds",
    "Time from an event's occurred_at until a consumer group applied and committed it.",
    ["group", "type"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
#: First pause after a failed batch; then doubling with jitter up to CONSUMER_RETRY_MAX_SECONDS.
RETRY_INITIAL_S = 0.5
RETRY_JITTER_S = 1.0
#: How often a consumer reads its partitions' lag (highwater - position) for metrics and /ready.
LAG_INTERVAL_S = 1.0
#: How long one poll waits for records. It returns as soon as records arrive, and ``stop``
#: interrupts a waiting poll, so the length only decides how often an idle consumer wakes.
IDLE_POLL_MS = 30_000
#: How long aiokafka's fetcher waits, while records of one partition are in hand, before it
#: fetches the node's other partitions on their own (its ``prefetch_backoff``, 0.1 s). That
#: lone fetch waits up to ``kafka_fetch_max_wait_ms`` at the broker when those partitions
#: are quiet, and while it is out no fetch of the busy partition may go: with every tenant's
#: messages on one partition the group stood still for seconds at a time (p50 4.8 s from
#: accepted to opened). Our loop empties the buffer itself (each poll takes all partitions'
#: records, up to ``kafka_max_records``; a paused partition's are dropped by that call), so
#: the next fetch asks for every partition at once. The attribute is aiokafka's own
#: (pyproject bounds its version); ``test_consumer_fetch.py`` fails if it stops working.
PREFETCH_BACKOFF_S = 3600.0


def fetch_partitions_together(consumer: AIOKafkaConsumer) -> None:
    """No fetch of some partitions while others' records wait (see ``PREFETCH_BACKOFF_S``),
    for a started consumer whose loop takes all it was given at each poll."""
    consumer._fetcher._prefetch_backoff = PREFETCH_BACKOFF_S  # no public option


class InteractBroker(KafkaBroker):
    """FastStream's broker (publishing, ``ping``) that also starts and stops our consumers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_consumers: list[BatchConsumer] = []

    async def start(self) -> None:
        await super().start()
        for consumer in self.batch_consumers:
            await consumer.start()

    async def stop(
        self,
        exc_type: type[BaseException] | None = None,
        exc_val: BaseException | None = None,
        exc_tb: TracebackType | None = None,
    ) -> None:
        """The batches in hand are finished and committed first; then the producer goes."""
        await asyncio.gather(*(c.stop() for c in self.batch_consumers))
        await super().stop(exc_type, exc_val, exc_tb)

    def stalled_consumers(self) -> list[str]:
        """Groups that had lag and made no progress for ``CONSUMER_STALL_SECONDS`` (/ready)."""
        return [c.group_id for c in self.batch_consumers if c.stalled()]


class KeyedPartitioner:
    """aiokafka's default partitioner (murmur2 of the key, as the Java client does) with each
    key's hash remembered: events are keyed by tenant, so a handful of keys come back all the
    time, and aiokafka's murmur2 is pure Python (~1 % of a service's CPU under load)."""

    MAX_KEYS = 100_000  # then it starts afresh: a bound, not an eviction policy

    def __init__(self) -> None:
        self._hashes: dict[bytes, int] = {}
        self._default = DefaultPartitioner()

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return self._default(key, all_partitions, available)
        hashed = self._hashes.get(key)
        if hashed is None:
            if len(self._hashes) >= self.MAX_KEYS:
                self._hashes.clear()
            hashed = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return all_partitions[hashed % len(all_partitions)]


def make_broker(settings: ServiceSettings, registry: CollectorRegistry) -> InteractBroker:
    """The broker every service uses: acks=all, idempotent, lingering."""
    return InteractBroker(
        settings.kafka_bootstrap_servers,
        client_id=settings.service_name,
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
        linger_ms=settings.kafka_linger_ms,
        max_batch_size=settings.kafka_max_batch_bytes,
        partitioner=KeyedPartitioner(),
        request_timeout_ms=15_000,
        # A topic made by accident (a producer's metadata request) would get the broker's
        # default partition count, and keys hashed to missing partitions would never land.
        allow_auto_create_topics=False,
        middlewares=[KafkaPrometheusMiddleware(registry=registry, app_name=settings.service_name)],
        logger=logging.getLogger(f"{settings.service_name}.kafka"),
        log_level=logging.DEBUG,  # no INFO line per message
        graceful_timeout=15.0,
        security=broker_security(settings),
    )


async def ensure_topics(settings: ServiceSettings, names: Iterable[str] = topics.ALL) -> None:
    """Create our topics if they are missing (the operator's Strimzi resources do it in k8s)."""
    if not settings.kafka_create_topics:
        return
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, **client_options(settings)
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                name,
                settings.kafka_partitions,
                settings.kafka_replication_factor,
                topic_configs={"retention.ms": str(_retention(settings, name))},
            )
            for name in names
            if name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another service was first
                await admin.create_topics(missing)
    finally:
        await admin.close()


def _retention(settings: ServiceSettings, name: str) -> int:
    return topics.retention_ms(
        name, settings.kafka_event_retention_ms, settings.kafka_transit_retention_ms
    )


@dataclass(frozen=True, slots=True)
class Delivery:
    """One readable message of a batch, with where it came from (for idempotence)."""

    envelope: Envelope
    payload: Payload
    position: str  # "topic:partition:offset"


BatchHandler = Callable[[list[Delivery]], Awaitable[None]]


async def publish(broker: KafkaBroker, topic: str, envelopes: Sequence[Envelope]) -> None:
    """Send all, keyed by tenant, without awaiting each; return when the broker has them all."""
    if not envelopes:
        return
    producer = _raw_producer(broker)
    if producer is None:  # FastStream internals moved: slower, still correct
        pending = [
            await broker.publish(
                envelope.to_bytes(),
                topic,
                key=envelope.key,
                headers=_headers(envelope),
                no_confirm=True,
            )
            for envelope in envelopes
        ]
        await asyncio.gather(*pending)
        PUBLISHED.labels(topic).inc(len(envelopes))
        return
    await send_all(producer, topic, envelopes)


async def send_all(producer: AIOKafkaProducer, topic: str, envelopes: Sequence[Envelope]) -> None:
    """The same on a plain aiokafka producer (the outbox relay keeps one of its own)."""
    await (await enqueue_all(producer, topic, envelopes))


async def enqueue_all(
    producer: AIOKafkaProducer, topic: str, envelopes: Sequence[Envelope | StoredEnvelope]
) -> asyncio.Future[Any]:
    """Hand every envelope to the producer, in order; the future completes with their acks.

    The outbox relay hands over its next page while the previous one's acks are on their way:
    the idempotent producer keeps them in order per partition (the broker refuses a batch
    whose predecessor is missing), so a failure never lets a later page land alone.
    """
    try:
        pending = [
            await producer.send(
                topic,
                envelope.to_bytes(),
                key=envelope.key,
                headers=[(k, v.encode()) for k, v in _headers(envelope).items()],
            )
            for envelope in envelopes
        ]
    except Exception:
        PUBLISH_FAILURES.labels(topic).inc()
        raise
    acks = asyncio.gather(*pending)

    def count(done: asyncio.Future[Any]) -> None:
        if done.cancelled():
            return
        if done.exception() is not None:
            PUBLISH_FAILURES.labels(topic).inc()
        else:
            PUBLISHED.labels(topic).inc(len(envelopes))

    acks.add_done_callback(count)
    return acks


def make_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    """A producer with the same guarantees as the broker factory's (acks=all, idempotence)."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=f"{settings.service_name}-outbox",
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
        linger_ms=settings.kafka_linger_ms,
        max_batch_size=settings.kafka_max_batch_bytes,
        partitioner=KeyedPartitioner(),
        request_timeout_ms=15_000,
        **client_options(settings),
    )


def _headers(envelope: Envelope | StoredEnvelope) -> dict[str, str]:
    return {"content-type": "application/json", "event-type": envelope.type}


def _raw_producer(broker: KafkaBroker) -> AIOKafkaProducer | None:
    """The aiokafka producer under FastStream's: its per-message middleware costs ~7x a send."""
    try:
        producer = broker.config.producer._producer.producer  # type: ignore[attr-defined]
    except AttributeError:
        return None
    return producer if isinstance(producer, AIOKafkaProducer) else None


def reason_code(reason: str) -> str:
    """A dead letter's reason as one of a few codes (a metric label, a filter of the CLI)."""
    for prefix, code in (
        ("not an event envelope", "not_an_envelope"),
        ("unknown event type", "unknown_type"),
        ("malformed", "malformed"),
        ("the database refuses", "refused_by_database"),
    ):
        if reason.startswith(prefix):
            return code
    return "other"


async def dead_letter(
    broker: KafkaBroker,
    service: str,
    source: str,
    raw: bytes | None,
    reason: str,
    *,
    group: str = "",
    key: bytes | None = None,
    event_type: bytes | None = None,
) -> None:
    """Keep an unreadable message with where it came from and why; awaited, so never lost.

    The headers say everything a replay needs (``python -m services.deadletters``): the
    source ``topic``, ``partition`` and ``offset`` (also together as ``source``), the
    ``group`` and ``service`` that gave up, the ``reason`` and its ``reason-code``, the
    original ``event-type``; the record keeps the original key (the tenant).
    """
    topic, partition, offset = [*source.split(":"), "", ""][:3]
    code = reason_code(reason)
    DEAD_LETTERED.labels(service, topic, code).inc()
    log.warning(
        "dead-lettered message", extra={"source": source, "group": group, "reason": reason[:500]}
    )
    headers = {
        "source": source,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "reason": reason[:2000],
        "reason-code": code,
        "service": service,
        "group": group,
        "dead-lettered-at": datetime.now(UTC).isoformat(),
    }
    if event_type:
        headers["event-type"] = event_type.decode(errors="replace")
    await broker.publish(raw or b"", topics.DEAD_LETTERS, key=key, headers=headers)


def subscribe_batches(
    broker: KafkaBroker,
    settings: ServiceSettings,
    *source_topics: str,
    group_id: str,
    handler: BatchHandler,
    wanted: Callable[[Envelope], bool] = lambda _e: True,
    types: Collection[str] | None = None,
    **options: Any,
) -> BatchConsumer:
    """Register ``handler`` for batches of readable deliveries of ``source_topics``.

    ``types``: the event types the handler wants; a record whose ``event-type`` header names
    another is skipped without being decoded. Unreadable messages are dead-lettered; messages
    ``wanted`` declines are skipped; offsets are committed only after the handler returned.
    ``options`` go to :class:`aiokafka.AIOKafkaConsumer`.
    """
    if not isinstance(broker, InteractBroker):
        raise TypeError("subscribe_batches needs the broker of shared.kafka.make_broker")
    consumer = BatchConsumer(
        broker, settings, source_topics, group_id, handler, wanted, types, options
    )
    broker.batch_consumers.append(consumer)
    return consumer


class BatchFailed(Exception):
    """A batch (or the poll) failed and was rewound: the loop waits and polls again."""


class BatchConsumer:
    """One consumer group's loop: poll, filter, decode, apply, commit; rewind on failure.

    - A batch that fails (database away, broker away) is rewound, never dropped, and tried
      again after an exponential pause with jitter (tenacity), up to
      ``CONSUMER_RETRY_MAX_SECONDS``: one warning when the outage starts, one line when it
      ends, nothing per retry.
    - An event in a ``schema_version`` newer than this code reads is neither applied nor
      dead-lettered: its partition is paused there (nothing committed past it) while the
      other partitions flow, and ``interact_consumer_partition_paused`` says so. A newer
      replica reads it when a rebalance gives it the partition (pauses do not survive one;
      an old replica that gets the partition back pauses again).
    - The lag per partition (highwater - position) is read about once a second:
      ``interact_consumer_lag`` and :meth:`stalled` (``/ready``).
    """

    def __init__(
        self,
        broker: KafkaBroker,
        settings: ServiceSettings,
        source_topics: Sequence[str],
        group_id: str,
        handler: BatchHandler,
        wanted: Callable[[Envelope], bool],
        types: Collection[str] | None,
        options: dict[str, Any],
    ) -> None:
        self.broker = broker
        self.settings = settings
        self.topics = tuple(source_topics)
        self.group_id = group_id
        BATCH_FAILURES.labels(group_id)  # exported at 0 from the start, so alerts can see it
        self.handler = handler
        self.wanted = wanted
        self.types = {t.encode() for t in types} if types is not None else None
        self.options = options
        self.consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._wake = asyncio.Event()
        #: Lag per partition at the last reading; the monotonic time of the last progress.
        self.lags: dict[TopicPartition, int] = {}
        self._lag_read_at = 0.0
        self._progress_at = time.monotonic()
        self._in_hand_since: float | None = None
        self._failing_since: float | None = None
        self._failures = 0
        self._latency: dict[str, Any] = {}  # event type -> its EVENT_LATENCY child
        _CONSUMERS.add(self)
        self._polling = False  # parked in getmany: no batch in hand
        #: When the oldest applied batch whose positions are not committed yet was applied.
        self._uncommitted_since: float | None = None

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=self.group_id,
            client_id=f"{self.settings.service_name}-{self.group_id}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self.settings.kafka_fetch_max_wait_ms,
            # aiokafka's fetch task also wakes every consumer_timeout_ms (200 by default) to
            # look around, although every event it reacts to (a fetch done, records
            # consumed, an assignment, a seek's fetch coming back) wakes it anyway: idle,
            # that was most of a service's wake-ups. No more often than a fetch.
            consumer_timeout_ms=max(200, self.settings.kafka_fetch_max_wait_ms),
            max_poll_records=self.settings.kafka_max_records,
            request_timeout_ms=15_000,
            **client_options(self.settings),
            **self.options,
        )
        await self.consumer.start()
        fetch_partitions_together(self.consumer)
        self._stopping = False
        self._wake = asyncio.Event()
        self._progress_at = time.monotonic()
        self._task = asyncio.create_task(self._run(), name=f"consumer {self.group_id}")

    async def stop(self, timeout: float = 15.0) -> None:
        """Leave after the batch in hand (applied and committed), then leave the group."""
        self._stopping = True
        self._wake.set()  # a pause between retries ends now
        if self._task is not None:
            if self._polling:
                # Waiting for records, nothing in hand: end the wait now. Records it may
                # have just received are not committed, so the group delivers them again.
                self._task.cancel()
            await asyncio.wait({self._task}, timeout=timeout)
            if not self._task.done():
                self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.consumer is not None:
            if self._uncommitted_since is not None:  # the loop is over: between batches
                await self._commit()
            with contextlib.suppress(Exception):
                await self.consumer.stop()
            self.consumer = None
        self.lags = {}

    def paused(self) -> set[TopicPartition]:
        """Partitions paused at an event of a newer schema_version."""
        return set(self.consumer.paused()) if self.consumer is not None else set()

    def stalled(self, now: float | None = None) -> bool:
        """Had lag (or a batch in hand) and made no progress for ``CONSUMER_STALL_SECONDS``.

        Partitions paused at a newer schema_version do not count: they wait for a newer
        replica, and their own alert says so."""
        now = time.monotonic() if now is None else now
        limit = self.settings.consumer_stall_seconds
        if self._in_hand_since is not None and now - self._in_hand_since > limit:
            return True
        paused = self.paused()
        behind = any(lag > 0 for tp, lag in self.lags.items() if tp not in paused)
        return behind and now - self._progress_at > limit

    async def _run(self) -> None:
        assert self.consumer is not None
        # An idle consumer sits in one long poll; ``stop`` interrupts it (see ``_polling``).
        poll_ms = IDLE_POLL_MS
        retrying = AsyncRetrying(
            wait=wait_exponential_jitter(
                multiplier=RETRY_INITIAL_S,
                max=self.settings.consumer_retry_max_seconds,
                jitter=RETRY_JITTER_S,
            ),
            retry=retry_if_exception_type(BatchFailed),
            stop=lambda _state: self._stopping,
            sleep=self._pause,
            before_sleep=self._retrying,
            reraise=True,
        )
        while not self._stopping:
            try:
                await retrying(self._step, poll_ms)
            except BatchFailed:
                return  # stopping during an outage: the batch was rewound, nothing is lost
            if self._failing_since is not None:
                log.info(
                    "consumer recovered",
                    extra={
                        "group": self.group_id,
                        "retries": self._failures,
                        "seconds": round(time.monotonic() - self._failing_since, 1),
                    },
                )
                self._failing_since, self._failures = None, 0

    async def _pause(self, seconds: float) -> None:
        """tenacity's sleep, cut short by :meth:`stop`."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def _retrying(self, state: RetryCallState) -> None:
        """One warning when an outage starts, with its cause; each retry only counts."""
        BATCH_FAILURES.labels(self.group_id).inc()
        self._failures += 1
        if self._failing_since is not None:
            return
        self._failing_since = time.monotonic()
        error = state.outcome.exception() if state.outcome is not None else None
        cause = error.__cause__ if error is not None and error.__cause__ else error
        log.warning(
            "consumer cannot go on; the batch is rewound and retried with backoff",
            extra={"group": self.group_id, "error": repr(cause)[:500]},
            exc_info=cause,
        )

    async def _step(self, poll_ms: int) -> None:
        """One poll and its batch, applied (its positions committed within
        ``kafka_commit_interval_ms``); :class:`BatchFailed` if it failed."""
        assert self.consumer is not None
        if self._uncommitted_since is not None:  # a commit is due soon: wait no longer
            poll_ms = max(1, int(self._commit_due_in() * 1000))
        self._polling = True
        try:
            batch = await self.consumer.getmany(
                timeout_ms=poll_ms, max_records=self.settings.kafka_max_records
            )
        except KafkaError as exc:
            raise BatchFailed("poll failed") from exc
        finally:
            self._polling = False
        if not batch:
            if self._uncommitted_since is not None and self._commit_due_in() <= 0:
                await self._commit()
            await self._read_lag()
            return
        await self._linger(batch)
        self._in_hand_since = time.monotonic()
        try:
            with BATCH_SECONDS.labels(self.group_id).time():
                try:
                    applied = await self._apply(batch)
                except Exception as exc:
                    # What _apply could not handle itself (the database away, a dead letter
                    # Kafka did not take): the batch is rewound, never dropped.
                    self._rewind(batch)
                    await self._read_lag()  # the rewound batch is lag: /ready sees the stall
                    raise BatchFailed("batch failed") from exc
                if self._uncommitted_since is None:
                    self._uncommitted_since = time.monotonic()
                if self._commit_due_in() <= 0:
                    await self._commit()
        finally:
            self._in_hand_since = None
        self._progress_at = time.monotonic()
        if applied:
            now, children = datetime.now(UTC), self._latency
            for delivery in applied:
                envelope = delivery.envelope
                child = children.get(envelope.type)
                if child is None:
                    child = children[envelope.type] = EVENT_LATENCY.labels(
                        self.group_id, envelope.type
                    )
                child.observe(max(0.0, (now - envelope.occurred_at).total_seconds()))
        await self._read_lag()

    async def _linger(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """A batch short of ``kafka_max_records`` waits ``kafka_consumer_linger_ms`` for the
        records arriving behind it (already fetched ones only, in order per partition), so
        a steady stream is applied in fewer, larger batches."""
        assert self.consumer is not None
        linger_ms, limit = self.settings.kafka_consumer_linger_ms, self.settings.kafka_max_records
        room = limit - sum(len(records) for records in batch.values())
        if linger_ms <= 0 or room <= 0 or self._stopping:
            return
        await asyncio.sleep(linger_ms / 1000)
        try:
            more = await self.consumer.getmany(timeout_ms=0, max_records=room)
        except KafkaError:
            return  # what is in hand is applied; the rest comes with the next poll
        for tp, records in more.items():
            batch.setdefault(tp, []).extend(records)

    async def _apply(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> list[Delivery]:
        """Applies the batch (or sets its poison aside); returns what was handed over."""
        assert self.consumer is not None
        deliveries: list[Delivery] = []
        pause_at: dict[TopicPartition, int] = {}
        for tp, records in batch.items():
            CONSUMED.labels(self.group_id, tp.topic).inc(len(records))
            for record in records:
                if self.types is not None and _event_type(record) not in (None, *self.types):
                    continue  # the header says it is of no interest: not even decoded
                position = f"{record.topic}:{record.partition}:{record.offset}"
                try:
                    envelope, payload = decode(record.value)
                except NewerSchemaVersion as exc:
                    pause_at[tp] = record.offset
                    log.warning(
                        "newer schema_version: partition paused until a newer replica takes it",
                        extra={"group": self.group_id, "source": position, "reason": str(exc)},
                    )
                    break  # nothing after it on this partition, in order
                except UnreadableEvent as exc:
                    await dead_letter(
                        self.broker,
                        self.settings.service_name,
                        position,
                        record.value,
                        str(exc),
                        group=self.group_id,
                        key=record.key,
                        event_type=_event_type(record),
                    )
                    continue
                if self.types is not None and envelope.type.encode() not in self.types:
                    continue
                if self.wanted(envelope):
                    deliveries.append(Delivery(envelope, payload, position))
        if deliveries:
            try:
                await self.handler(deliveries)
            except UnreadableEvent as exc:
                # Poison inside the batch: apply one by one so only the bad message is set aside.
                await _apply_one_by_one(
                    self.broker, self.settings, self.handler, deliveries, exc, self.group_id
                )
        for tp, offset in pause_at.items():
            if tp in self.consumer.assignment():
                self.consumer.seek(tp, offset)  # the commit stops before it
                self.consumer.pause(tp)
        return deliveries

    def _rewind(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        assert self.consumer is not None
        assigned = self.consumer.assignment()
        for tp, records in batch.items():
            if tp in assigned:  # a partition taken away meanwhile restarts at its commit
                self.consumer.seek(tp, records[0].offset)

    def _commit_due_in(self) -> float:
        """Seconds until the applied batches' positions must be committed (<= 0: now)."""
        if self._uncommitted_since is None:
            return float("inf")
        interval = self.settings.kafka_commit_interval_ms / 1000
        return self._uncommitted_since + interval - time.monotonic()

    async def _commit(self) -> None:
        """Commit the positions: only ever called between batches, so a position is never
        past a batch not yet applied. A failed commit only means redelivery."""
        assert self.consumer is not None
        self._uncommitted_since = None
        try:
            await self.consumer.commit()
        except KafkaError as exc:
            log.warning(
                "offset commit failed (the batch may come again)", extra={"error": str(exc)}
            )

    async def _read_lag(self) -> None:
        """Highwater - position per assigned partition, about once a second."""
        now = time.monotonic()
        if self.consumer is None or now - self._lag_read_at < LAG_INTERVAL_S:
            return
        self._lag_read_at = now
        lags: dict[TopicPartition, int] = {}
        for tp in self.consumer.assignment():
            highwater = self.consumer.highwater(tp)
            if highwater is None:  # not fetched yet
                continue
            try:
                position = await asyncio.wait_for(self.consumer.position(tp), 1.0)
            except (IllegalStateError, KafkaError, TimeoutError):
                continue
            lags[tp] = max(0, highwater - position)
        self.lags = lags
        paused = self.paused()
        if not any(lag for tp, lag in lags.items() if tp not in paused):
            self._progress_at = now  # nothing to do is not being stuck


#: Every consumer of the process, for the lag collector (a stopped one drops out).
_CONSUMERS: weakref.WeakSet[BatchConsumer] = weakref.WeakSet()


class ConsumerLag(Collector):
    """At scrape time, from every consumer of the process:

    - ``interact_consumer_lag{group,topic,partition}``: records behind (highwater - position);
    - ``interact_consumer_partition_paused{group,topic,partition}``: 1 while paused at an
      event of a newer schema_version;
    - ``interact_consumer_stalled{group}``: 1 while the group had lag and did not advance
      for ``CONSUMER_STALL_SECONDS`` (``/ready`` answers 503 meanwhile).
    """

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        partition = ["group", "topic", "partition"]
        return (
            GaugeMetricFamily(
                "interact_consumer_lag",
                "Records a consumer group is behind on a partition (highwater - position).",
                labels=partition,
            ),
            GaugeMetricFamily(
                "interact_consumer_partition_paused",
                "1 while a partition is paused at an event of a newer schema_version.",
                labels=partition,
            ),
            GaugeMetricFamily(
                "interact_consumer_stalled",
                "1 while a consumer group had lag and made no progress for CONSUMER_STALL_SECONDS.",
                labels=["group"],
            ),
        )

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return self._families()

    def collect(self) -> Iterable[GaugeMetricFamily]:
        lag, paused, stalled = self._families()
        for consumer in sorted(_CONSUMERS, key=lambda c: c.group_id):
            if consumer.consumer is None:
                continue
            for tp, behind in sorted(consumer.lags.items()):
                lag.add_metric([consumer.group_id, tp.topic, str(tp.partition)], behind)
            for tp in sorted(consumer.paused()):
                paused.add_metric([consumer.group_id, tp.topic, str(tp.partition)], 1)
            stalled.add_metric([consumer.group_id], 1 if consumer.stalled() else 0)
        return (lag, paused, stalled)


REGISTRY.register(ConsumerLag())


def _event_type(record: ConsumerRecord) -> bytes | None:
    for key, value in record.headers or ():
        if key == "event-type":
            return value
    return None


async def _apply_one_by_one(
    broker: KafkaBroker,
    settings: ServiceSettings,
    handler: BatchHandler,
    deliveries: list[Delivery],
    first_error: Exception,
    group: str = "",
) -> None:
    log.info(
        "batch had an unappliable message; applying one by one", extra={"error": str(first_error)}
    )
    for delivery in deliveries:
        try:
            await handler([delivery])
        except UnreadableEvent as exc:
            await dead_letter(
                broker,
                settings.service_name,
                delivery.position,
                delivery.envelope.to_bytes(),
                str(exc),
                group=group,
                key=delivery.envelope.key,
                event_type=delivery.envelope.type.encode(),
            )
