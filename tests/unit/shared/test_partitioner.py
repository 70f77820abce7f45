"""The cached partitioner sends every key where aiokafka's default (and the Java client's
murmur2) sends it: a consumer or another producer must find a tenant's events on one
partition whichever client wrote them."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.partitioner import DefaultPartitioner

from shared.kafka import KeyedPartitioner

KEYS = [b"", b"a", b"tenant", *(str(uuid.UUID(int=i * 7919)).encode() for i in range(300))]


@pytest.mark.parametrize("partitions", [1, 2, 3, 6, 12, 48])
def test_every_key_lands_where_the_default_partitioner_puts_it(partitions):
    cached, default = KeyedPartitioner(), DefaultPartitioner()
    all_partitions = list(range(partitions))
    for _round in range(2):  # the second time from the remembered hash
        for key in KEYS:
            assert cached(key, all_partitions, all_partitions) == default(
                key, all_partitions, all_partitions
            )


@pytest.mark.parametrize(
    ("key", "partitions", "expected"),
    [
        # Java: Utils.toPositive(murmur2(key)) % n, with murmur2 from Kafka's UtilsTest
        # (b"21" -> -973932308, b"foobar" -> -790332482, ... -> -985981536)
        (b"21", 7, 3),
        (b"21", 10, 0),
        (b"foobar", 10, 6),
        (b"foobar", 12, 6),
        (b"a-little-bit-long-string", 7, 1),
        (b"a-little-bit-long-string", 12, 8),
    ],
)
def test_known_java_client_placements(key, partitions, expected):
    assert KeyedPartitioner()(key, list(range(partitions)), list(range(partitions))) == expected


def test_a_full_memory_starts_afresh_and_stays_right(monkeypatch):
    monkeypatch.setattr(KeyedPartitioner, "MAX_KEYS", 5)
    cached, default, parts = KeyedPartitioner(), DefaultPartitioner(), list(range(6))
    for key in KEYS[:40]:
        assert cached(key, parts, parts) == default(key, parts, parts)
    assert len(cached._hashes) <= 5
