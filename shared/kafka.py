"""One way to talk to Kafka: the broker factory, batch consumers with dead-lettering, publishing.

Throughput comes from batches: a consumer takes up to ``kafka_max_records`` messages,
the service applies them in one database transaction, publishes what follows without
awaiting each send, and only then commits the offsets (at-least-once; consumers
deduplicate). A message nobody can read goes to the dead-letter topic with its
reason and the batch goes on; an error that a retry may cure (database down) rewinds
the batch and tries again after a pause.

Publishing goes through FastStream's broker; consuming is a plain aiokafka loop per group
(:class:`BatchConsumer`), started and stopped with the broker: a long poll that returns as
soon as records arrive (no sleep after an empty poll, no per-batch middleware), records of
types a consumer does not want skipped by their ``event-type`` header before any decoding.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import CollectorRegistry, Counter, Histogram

from shared import topics
from shared.events import Envelope, Payload, UnreadableEvent, decode
from shared.kafka_security import broker_security, client_options
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

DEAD_LETTERED = Counter(
    "interact_dead_letters_total",
    "Messages sent to the dead-letter topic because they could not be read or applied.",
    ["service", "topic"],
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
RETRY_PAUSE_S = 1.0
#: How long one poll waits for records. It returns as soon as records arrive, and ``stop``
#: interrupts a waiting poll, so the length only decides how often an idle consumer wakes.
IDLE_POLL_MS = 30_000


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


def make_broker(settings: ServiceSettings, registry: CollectorRegistry) -> InteractBroker:
    """The broker every service uses: acks=all, idempotent, lingering."""
    return InteractBroker(
        settings.kafka_bootstrap_servers,
        client_id=settings.service_name,
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
        linger_ms=settings.kafka_linger_ms,
        max_batch_size=settings.kafka_max_batch_bytes,
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
            NewTopic(name, settings.kafka_partitions, settings.kafka_replication_factor)
            for name in names
            if name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another service was first
                await admin.create_topics(missing)
    finally:
        await admin.close()


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
    producer: AIOKafkaProducer, topic: str, envelopes: Sequence[Envelope]
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
        request_timeout_ms=15_000,
        **client_options(settings),
    )


def _headers(envelope: Envelope) -> dict[str, str]:
    return {"content-type": "application/json", "event-type": envelope.type}


def _raw_producer(broker: KafkaBroker) -> AIOKafkaProducer | None:
    """The aiokafka producer under FastStream's: its per-message middleware costs ~7x a send."""
    try:
        producer = broker.config.producer._producer.producer  # type: ignore[attr-defined]
    except AttributeError:
        return None
    return producer if isinstance(producer, AIOKafkaProducer) else None


async def dead_letter(
    broker: KafkaBroker, service: str, source: str, raw: bytes | None, reason: str
) -> None:
    """Keep an unreadable message with its reason; awaited, so it is never lost."""
    DEAD_LETTERED.labels(service, source.split(":", 1)[0]).inc()
    log.warning("dead-lettered message", extra={"source": source, "reason": reason[:500]})
    await broker.publish(
        raw or b"",
        topics.DEAD_LETTERS,
        headers={"source": source, "reason": reason[:2000], "service": service},
    )


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


class BatchConsumer:
    """One consumer group's loop: poll, filter, decode, apply, commit; rewind on failure."""

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
        self._polling = False  # parked in getmany: no batch in hand

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
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"consumer {self.group_id}")

    async def stop(self, timeout: float = 15.0) -> None:
        """Leave after the batch in hand (applied and committed), then leave the group."""
        self._stopping = True
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
            with contextlib.suppress(Exception):
                await self.consumer.stop()
            self.consumer = None

    async def _run(self) -> None:
        assert self.consumer is not None
        while not self._stopping:
            self._polling = True
            try:
                batch = await self.consumer.getmany(
                    timeout_ms=IDLE_POLL_MS, max_records=self.settings.kafka_max_records
                )
            except KafkaError:
                log.warning("poll failed; retrying", exc_info=True)
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            finally:
                self._polling = False
            if not batch:
                continue
            with BATCH_SECONDS.labels(self.group_id).time():
                try:
                    done = await self._apply(batch)
                except Exception:
                    # What _apply could not handle itself (a dead letter Kafka did not take,
                    # the database failing while poison is set aside): the batch is rewound,
                    # never dropped, and the loop goes on instead of dying unseen.
                    BATCH_FAILURES.labels(self.group_id).inc()
                    log.exception("batch could not be finished; rewinding to retry")
                    await asyncio.sleep(RETRY_PAUSE_S)
                    self._rewind(batch)
                    continue
                if done:
                    await self._commit()

    async def _apply(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> bool:
        """True when the batch is done (applied or set aside), False when it was rewound."""
        deliveries: list[Delivery] = []
        for tp, records in batch.items():
            CONSUMED.labels(self.group_id, tp.topic).inc(len(records))
            for record in records:
                if self.types is not None and _event_type(record) not in (None, *self.types):
                    continue  # the header says it is of no interest: not even decoded
                position = f"{record.topic}:{record.partition}:{record.offset}"
                try:
                    envelope, payload = decode(record.value)
                except UnreadableEvent as exc:
                    await dead_letter(
                        self.broker, self.settings.service_name, position, record.value, str(exc)
                    )
                    continue
                if self.types is not None and envelope.type.encode() not in self.types:
                    continue
                if self.wanted(envelope):
                    deliveries.append(Delivery(envelope, payload, position))
        if not deliveries:
            return True
        try:
            await self.handler(deliveries)
        except UnreadableEvent as exc:
            # Poison inside the batch: apply one by one so only the bad message is set aside.
            await _apply_one_by_one(self.broker, self.settings, self.handler, deliveries, exc)
        except Exception:
            BATCH_FAILURES.labels(self.group_id).inc()
            log.exception("batch failed; rewinding to retry", extra={"size": len(deliveries)})
            await asyncio.sleep(RETRY_PAUSE_S)
            self._rewind(batch)
            return False
        return True

    def _rewind(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        assert self.consumer is not None
        assigned = self.consumer.assignment()
        for tp, records in batch.items():
            if tp in assigned:  # a partition taken away meanwhile restarts at its commit
                self.consumer.seek(tp, records[0].offset)

    async def _commit(self) -> None:
        """Commit the positions after the batch; a failed commit only means redelivery."""
        assert self.consumer is not None
        try:
            await self.consumer.commit()
        except KafkaError as exc:
            log.warning(
                "offset commit failed (the batch may come again)", extra={"error": str(exc)}
            )


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
            )
