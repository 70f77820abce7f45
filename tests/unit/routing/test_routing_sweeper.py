"""Which tenants a routing instance sweeps: those whose partition it holds right now."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import TopicPartition

from services.routing.consumers.sweeper import owned_tenants, partition_of

TOPIC = "interact.conversation-events.v1"
TENANTS = [uuid.UUID(int=n * 7919) for n in range(1, 60)]


@pytest.mark.parametrize("partitions", [1, 3, 6, 12])
def test_a_tenant_lands_where_the_producer_puts_its_messages(partitions: int) -> None:
    every = list(range(partitions))
    for tenant in TENANTS:
        key = str(tenant).encode()
        assert partition_of(tenant, partitions) == DefaultPartitioner()(key, every, every)


class FakeConsumer:
    def __init__(self, held: set[int], partitions: int) -> None:
        self.held, self.partitions = held, partitions

    def assignment(self) -> set[TopicPartition]:
        other = {TopicPartition("interact.directory-events.v1", p) for p in range(6)}
        return other | {TopicPartition(TOPIC, p) for p in self.held}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(self.partitions)) if topic == TOPIC else set()


def broker_with(*consumers: object) -> SimpleNamespace:
    return SimpleNamespace(batch_consumers=[SimpleNamespace(consumer=c) for c in consumers])


@pytest.mark.parametrize(
    ("held", "expected_share"),
    [({0, 1, 2}, "some"), (set(range(6)), "all"), (set(), "none")],
)
def test_only_the_held_partitions_tenants_are_mine(held: set[int], expected_share: str) -> None:
    mine = owned_tenants(broker_with(None, FakeConsumer(held, 6)), TOPIC)  # type: ignore[arg-type]
    owned = [t for t in TENANTS if mine(t)]
    assert owned == [t for t in TENANTS if partition_of(t, 6) in held]
    if expected_share == "all":
        assert owned == TENANTS
    elif expected_share == "none":
        assert owned == []
    else:
        assert 0 < len(owned) < len(TENANTS)


def test_without_a_consumer_to_ask_every_tenant_is_swept() -> None:
    mine = owned_tenants(broker_with(), TOPIC)  # type: ignore[arg-type]
    assert all(mine(t) for t in TENANTS)
