"""The SLA application's port onto its database (``application.ports``): ``Store`` opens
the transaction, ``Records`` reads and writes in it with the SQL of ``history``,
``projection``, ``credits`` and ``ledger``. A concurrent writer that took the same row
first (``IntegrityError``) surfaces as ``ConcurrentWrite``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row
from sqlalchemy.exc import IntegrityError

from services.sla.application.ports import ConcurrentWrite
from services.sla.domain.aggregate import IncidentEvent, IncidentState
from services.sla.store import credits, history, ledger, projection
from services.sla.store.tables import outbox
from shared import topics
from shared.events import Envelope
from shared.outbox import enqueue


class Store:
    """The SLA database, one transaction per block."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def reading(self) -> Iterator[Records]:
        with self.engine.connect() as conn:
            yield Records(conn)

    @contextmanager
    def writing(self) -> Iterator[Records]:
        try:
            with self.engine.begin() as conn:
                yield Records(conn)
        except IntegrityError as exc:  # rolled back: a concurrent writer was first
            raise ConcurrentWrite(str(exc.orig)) from exc


class Records:
    """The reads and writes of one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def plan_of(self, tenant_id: str) -> str | None:
        return history.plan_of(self.conn, tenant_id)

    def queue_claims_of(self, tenant_id: str) -> Row | None:
        return credits.queue_claims_of(self.conn, tenant_id)

    def queue_behind(self, incident_id: str) -> None:
        history.queue_behind(self.conn, incident_id)

    def load(self, incident_id: str) -> IncidentState | None:
        return projection.load(self.conn, incident_id)

    def append(self, after: IncidentState, event: IncidentEvent, recorded_at: datetime) -> None:
        history.append(self.conn, after, event, recorded_at)

    def project(self, state: IncidentState) -> None:
        projection.project(self.conn, state)

    def incident_states(
        self, incident_id: str, tenant_id: str | None = None
    ) -> list[IncidentState]:
        return projection.incident_states(self.conn, incident_id, tenant_id)

    def open_states(self, tenant_id: str) -> list[IncidentState]:
        return projection.open_states(self.conn, tenant_id)

    def states_created_before(self, tenant_id: str, end: datetime) -> list[IncidentState]:
        return projection.states_created_before(self.conn, tenant_id, end)

    def licence_lines(self, tenant_id: str, period: str) -> list[Row[Any]]:
        return ledger.licence_lines(self.conn, tenant_id, period)

    def payment_states(self, tenant_id: str) -> list[Row[Any]]:
        return ledger.payment_states(self.conn, tenant_id)

    def granted_in(self, tenant_id: str, breach_month: str) -> list[Row[Any]]:
        return ledger.granted_in(self.conn, tenant_id, breach_month)

    def granted_amount(self, credit_id: str) -> int | None:
        return credits.granted_amount(self.conn, credit_id)

    def insert_credit(self, **credit: Any) -> None:
        credits.insert_credit(self.conn, **credit)

    def enqueue(self, *events: Envelope) -> None:
        """The SLA service's events, to the outbox in this transaction."""
        enqueue(self.conn, outbox, topics.SLA_EVENTS, *events)
