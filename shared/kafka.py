"""One way to talk to Kafka: the broker factory, batch consumers with dead-lettering, publishing.

Throughput comes from batches: a consumer takes up to ``kafka_max_records`` messages,
the service applies them in one database transaction, publishes what follows without
awaiting each send, and only then commits the offsets (at-least-once; consumers
deduplicate). A message nobody can read goes to the dead-letter topic with its
reason and the batch goes on; an error that a retry may cure (database down) rewinds
the batch and tries again after a pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream import AckPolicy, Context
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import CollectorRegistry, Counter

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
RETRY_PAUSE_S = 1.0


def make_broker(settings: ServiceSettings, registry: CollectorRegistry) -> KafkaBroker:
    """The broker every service uses: acks=all, idempotent where the broker allows, lingering."""
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=settings.service_name,
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
        linger_ms=settings.kafka_linger_ms,
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
    pending = [
        await producer.send(
            topic,
            envelope.to_bytes(),
            key=envelope.key,
            headers=[(k, v.encode()) for k, v in _headers(envelope).items()],
        )
        for envelope in envelopes
    ]
    await asyncio.gather(*pending)
    PUBLISHED.labels(topic).inc(len(envelopes))


def make_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    """A producer with the same guarantees as the broker factory's (acks=all, idempotence)."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=f"{settings.service_name}-outbox",
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
        linger_ms=settings.kafka_linger_ms,
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
    **options: Any,
) -> None:
    """Register ``handler`` for batches of readable deliveries of ``source_topics``.

    Unreadable messages are dead-lettered; messages whose type ``wanted`` declines are
    skipped; offsets are committed only after the handler has returned.
    """

    @broker.subscriber(
        *source_topics,
        group_id=group_id,
        batch=True,
        max_records=settings.kafka_max_records,
        batch_timeout_ms=settings.kafka_batch_timeout_ms,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title=f"{group_id}:{','.join(source_topics)}",
        **options,
    )
    async def consume(_body: list[bytes], message: KafkaMessage = Context("message")) -> None:
        records = message.raw_message
        if not isinstance(records, tuple):
            records = (records,)
        deliveries: list[Delivery] = []
        for record in records:
            position = f"{record.topic}:{record.partition}:{record.offset}"
            try:
                envelope, payload = decode(record.value)
            except UnreadableEvent as exc:
                await dead_letter(broker, settings.service_name, position, record.value, str(exc))
                continue
            if wanted(envelope):
                deliveries.append(Delivery(envelope, payload, position))
        if not deliveries:
            return
        try:
            await handler(deliveries)
        except UnreadableEvent as exc:
            # Poison inside the batch: apply one by one so only the bad message is set aside.
            await _apply_one_by_one(broker, settings, handler, deliveries, exc)
        except Exception:
            log.exception("batch failed; rewinding to retry", extra={"size": len(deliveries)})
            await asyncio.sleep(RETRY_PAUSE_S)
            raise


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
