"""Truncating transit topics: delete what every reader has consumed (Kafka ``DeleteRecords``).

The inbound and outbound topics carry clear text between ingest and the conversation
service; nothing rebuilds from them. An erasure deletes their records up to the end
offsets of the moment it ran, once every consumer group reading a partition has
committed past that point, so nothing unconsumed is lost. Topics in ``unread`` (the
dead letters) have no consumer group and are cut at their end. See docs/data-lifecycle.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from shared.kafka_security import client_options
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)


async def _committed(admin: AIOKafkaAdminClient, tps: set[TopicPartition]) -> dict:
    """For each partition, the lowest offset committed by a group that reads its topic."""
    lowest: dict[TopicPartition, int] = {}
    for group in await admin.list_consumer_groups():
        offsets = await admin.list_consumer_group_offsets(group[0])
        topics_read = {tp.topic for tp in offsets}
        for tp in tps:
            if tp.topic not in topics_read:
                continue
            committed = offsets[tp].offset if tp in offsets else 0
            lowest[tp] = min(lowest.get(tp, committed), max(committed, 0))
    return lowest


async def truncate_consumed(
    settings: ServiceSettings,
    names: Iterable[str],
    *,
    unread: Iterable[str] = (),
    wait_seconds: float = 30.0,
) -> bool:
    """Delete the records of ``names`` (and ``unread``) up to their current end, waiting up
    to ``wait_seconds`` for the consumers; True if everything up to that end is gone (False:
    only what was consumed went; run again later)."""
    names, unread = list(names), set(unread)
    options = client_options(settings)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, **options)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, **options)
    await consumer.start()
    await admin.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()  # no public call lists them
        tps = {
            TopicPartition(name, p)
            for name in [*names, *unread]
            for p in (cluster.partitions_for_topic(name) or ())
        }
        ends: dict[TopicPartition, int] = await consumer.end_offsets(list(tps))
        deadline = time.monotonic() + wait_seconds
        while True:
            committed = await _committed(admin, {tp for tp in tps if tp.topic not in unread})
            cut = {
                tp: end if tp.topic in unread else min(end, committed.get(tp, end))
                for tp, end in ends.items()
            }
            if cut == ends or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        wanted = {tp: RecordsToDelete(offset) for tp, offset in cut.items() if offset > 0}
        if wanted:
            await admin.delete_records(wanted, timeout_ms=15_000)
        done = cut == ends
        if not done:
            log.warning("transit topics truncated only up to what was consumed; run again")
        return done
    finally:
        await admin.close()
        await consumer.stop()
