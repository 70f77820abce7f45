"""Routing's queue gauges, read from a real routing store (SQLite) at scrape time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, insert

from services.routing.api.metrics import CONVERSATIONS, OLDEST_WAITING, QueueCollector
from services.routing.store.snapshots import conversations, metadata

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
BAKERY, GARAGE = str(uuid.uuid4()), str(uuid.uuid4())


def _row(tenant: str, status: str, minutes_ago: int) -> dict:
    return {
        "conversation_id": str(uuid.uuid4()),
        "tenant_id": tenant,
        "channel_id": str(uuid.uuid4()),
        "language": "nl",
        "competences": "[]",
        "opened_at": NOW - timedelta(minutes=minutes_ago),
        "status": status,
        "rounds": 0,
        "dispatched": False,
    }


def _scrape(registry: CollectorRegistry) -> dict[tuple[str, tuple], float]:
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_queue_per_tenant_and_state(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'routing.sqlite'}")
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(conversations),
            [
                _row(BAKERY, "waiting", 30),
                _row(BAKERY, "waiting", 5),
                _row(BAKERY, "assigned", 2),
                _row(GARAGE, "in_progress", 50),
            ],
        )
    registry = CollectorRegistry()
    registry.register(QueueCollector(engine, now=lambda: NOW))
    samples = _scrape(registry)

    def state(tenant: str, status: str) -> float | None:
        return samples.get((CONVERSATIONS, (("status", status), ("tenant_id", tenant))))

    assert state(BAKERY, "waiting") == 2
    assert state(BAKERY, "assigned") == 1
    assert state(GARAGE, "in_progress") == 1
    # Tenants stay apart: nothing of one shows under the other.
    assert state(GARAGE, "waiting") is None and state(BAKERY, "in_progress") is None
    # The oldest waiting conversation of the bakery was opened 30 minutes ago; the garage
    # has nothing waiting, so no series.
    assert samples[(OLDEST_WAITING, (("tenant_id", BAKERY),))] == 30 * 60
    assert (OLDEST_WAITING, (("tenant_id", GARAGE),)) not in samples


def test_a_scrape_without_database_still_answers(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'routing.sqlite'}")
    registry = CollectorRegistry()
    registry.register(QueueCollector(engine))  # registering does not touch the database
    assert not [name for name, _ in _scrape(registry) if name == CONVERSATIONS]
