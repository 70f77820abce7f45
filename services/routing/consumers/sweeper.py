"""The timer that drives the take-deadline sweep (``Router.sweep``, a use case), limited to
the tenants this instance owns; and the one that forgets published decisions.

Tenants are split between routing instances by Kafka partition (messages are keyed by
tenant). The sweep asks the group consumer which partitions it holds right now and
sweeps only the tenants whose key hashes there, as the producer's partitioner does. If
the consumer cannot be asked, it sweeps every due tenant: still correct, because a save
on another instance's tenant fails its version check, and a decision that replaces a
person applies only while that person still has the conversation.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from aiokafka.partitioner import murmur2
from faststream.kafka import KafkaBroker
from sqlalchemy import Engine

from services.routing.application.router import Owns, Router
from services.routing.store import snapshots

log = logging.getLogger(__name__)


def partition_of(tenant_id: uuid.UUID, partitions: int) -> int:
    """The partition the default partitioner gives a message keyed by this tenant."""
    return (murmur2(str(tenant_id).encode()) & 0x7FFFFFFF) % partitions


def owned_tenants(broker: KafkaBroker, topic: str) -> Owns:
    """A test for "is this tenant mine?", fixed to the partitions held at this moment."""
    for subscriber in getattr(broker, "batch_consumers", ()):
        consumer = subscriber.consumer
        if consumer is None:
            continue
        try:
            held = {tp.partition for tp in consumer.assignment() if tp.topic == topic}
            partitions = len(consumer.partitions_for_topic(topic) or ())
        except Exception:  # not started, or FastStream internals moved
            continue
        if partitions:
            return lambda tenant_id: partition_of(tenant_id, partitions) in held
        return lambda _tenant_id: False  # no partitions yet (joining the group)
    return lambda _tenant_id: True


async def sweep_forever(
    router: Router,
    engine: Engine,
    take_timeout: timedelta,
    every_seconds: float,
    owns: Callable[[], Owns],
) -> None:
    while True:
        await asyncio.sleep(every_seconds)
        mine = owns()
        rerouted = await asyncio.to_thread(
            router.sweep, engine, datetime.now(UTC), take_timeout, mine
        )
        if rerouted:
            log.info("take deadlines swept", extra={"decisions": rerouted})


#: How often the outbox's published decisions are looked at.
PRUNE_EVERY_SECONDS = 3600.0


async def prune_forever(
    engine: Engine, keep: timedelta, every_seconds: float = PRUNE_EVERY_SECONDS
) -> None:
    """Delete the decisions published more than ``keep`` ago (any replica may: deleting
    sent rows is idempotent, and unsent ones are never touched)."""
    while True:
        pruned = await asyncio.to_thread(snapshots.prune_sent, engine, datetime.now(UTC) - keep)
        if pruned:
            log.info("published decisions pruned from the outbox", extra={"decisions": pruned})
        await asyncio.sleep(every_seconds)
