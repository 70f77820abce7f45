"""The table-outbox backlog gauge of billing and sla, on a real outbox table (SQLite)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry
from sqlalchemy import MetaData, create_engine, update

from shared import topics
from shared.events import Envelope, InvoicePaymentRecorded
from shared.observability import TableOutboxBacklog, watch_outbox
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
    watch_outbox("billing", engine, outbox, registry)

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
    watch_outbox("sla", engine, outbox_table(MetaData()), registry)
    assert registry.get_sample_value(TableOutboxBacklog.NAME, {"outbox": "sla"}) is None


def test_one_process_may_watch_several_outboxes(tmp_path: Path) -> None:
    """billing and sla built in one process (scripts/api_docs.py does) share one family."""
    registry = CollectorRegistry()
    for name in ("billing", "sla"):
        metadata = MetaData()
        outbox = outbox_table(metadata)
        engine = create_engine(f"sqlite:///{tmp_path / f'{name}.sqlite'}")
        metadata.create_all(engine)
        watch_outbox(name, engine, outbox, registry)
        if name == "sla":
            with engine.begin() as conn:
                enqueue(conn, outbox, topics.SLA_EVENTS, _envelope())
    assert registry.get_sample_value(TableOutboxBacklog.NAME, {"outbox": "billing"}) == 0
    assert registry.get_sample_value(TableOutboxBacklog.NAME, {"outbox": "sla"}) == 1
