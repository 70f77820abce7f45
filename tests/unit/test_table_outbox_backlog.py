"""The table-outbox backlog gauge of billing and sla, on a real outbox table (SQLite)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry
from sqlalchemy import MetaData, create_engine, update

from shared import topics
from shared.events import Envelope, InvoicePaymentRecorded
from shared.observability import TableOutboxBacklog
from shared.outbox import enqueue, outbox_table


def _envelope() -> Envelope:
    payment = InvoicePaymentRecorded(invoice_id=uuid.uuid4(), paid=True, at=datetime.now(UTC))
    return Envelope.wrap(payment, tenant_id=uuid.uuid4())


def test_counts_the_events_not_yet_relayed(tmp_path: Path) -> None:
    metadata = MetaData()
    outbox = outbox_table(metadata)
    engine = create_engine(f"sqlite:///{tmp_path / 'billing.sqlite'}")
    metadata.create_all(engine)
    registry = CollectorRegistry()
    registry.register(TableOutboxBacklog("billing", engine, outbox))

    def unsent() -> float | None:
        return registry.get_sample_value(TableOutboxBacklog.NAME, {"outbox": "billing"})

    assert unsent() == 0
    with engine.begin() as conn:
        enqueue(conn, outbox, topics.BILLING_EVENTS, _envelope(), _envelope(), _envelope())
    assert unsent() == 3
    with engine.begin() as conn:  # the relay marks what Kafka acknowledged
        conn.execute(update(outbox).where(outbox.c.seq == 1).values(sent_at=datetime.now(UTC)))
    assert unsent() == 2


def test_no_series_while_the_database_is_away(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'absent' / 'sla.sqlite'}")
    registry = CollectorRegistry()
    registry.register(TableOutboxBacklog("sla", engine, outbox_table(MetaData())))
    assert registry.get_sample_value(TableOutboxBacklog.NAME, {"outbox": "sla"}) is None
