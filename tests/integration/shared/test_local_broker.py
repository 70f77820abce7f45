"""The embedded Kafka node keeps its data across a crash and a clean restart, on the same address."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.local_broker import LocalBroker


async def _produce(bootstrap: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=2
    )
    await producer.start()
    try:
        await asyncio.gather(*[await producer.send("kept", v, key=b"k") for v in values])
    finally:
        await producer.stop()


async def _read(bootstrap: str, group: str, expected: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        "kept", bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest"
    )
    await consumer.start()
    seen: list[bytes] = []
    try:
        async with asyncio.timeout(30):
            while len(seen) < expected:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    seen.extend(r.value for r in records)
        await consumer.commit()
        more = await consumer.getmany(timeout_ms=500)  # nothing beyond what was sent
        seen.extend(r.value for records in more.values() for r in records)
    finally:
        await consumer.stop()
    return seen


async def test_topics_records_and_offsets_survive_a_kill_and_a_stop(tmp_path) -> None:
    broker = LocalBroker(tmp_path / "kafka", log_file=tmp_path / "broker.log")
    await asyncio.to_thread(broker.start)
    try:
        bootstrap = broker.bootstrap_servers
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        await admin.create_topics([NewTopic("kept", 3, 1)])
        await admin.close()
        first = [b"a%d" % n for n in range(500)]
        await _produce(bootstrap, first)

        await asyncio.to_thread(broker.kill)  # SIGKILL: no clean shutdown
        await asyncio.to_thread(broker.start)
        assert broker.bootstrap_servers == bootstrap
        assert await _read(bootstrap, "g", 500) == first  # one key: one partition, in order

        second = [b"b%d" % n for n in range(10)]
        await _produce(bootstrap, second)
        await asyncio.to_thread(broker.stop)  # SIGTERM: a clean shutdown
        await asyncio.to_thread(broker.start)
        # the group's committed offset survived too: only what came after it
        assert await _read(bootstrap, "g", 10) == second

        # the next run of the stack: a new LocalBroker on the same folder is the same node
        await asyncio.to_thread(broker.stop)
        broker = LocalBroker(tmp_path / "kafka", log_file=tmp_path / "broker.log")
        assert broker.bootstrap_servers == bootstrap
        await asyncio.to_thread(broker.start)
        assert await _read(bootstrap, "other", 510) == first + second
    finally:
        await asyncio.to_thread(broker.close)
    assert (tmp_path / "kafka" / "log").is_dir()  # a folder it was given is kept
