"""What the SLA use cases and queries need of their store, and nothing more
(``store.records`` implements it; ``__main__.build`` passes it in), so the application
names no SQL.

A command opens one transaction (``Store.writing``) and does all its reads and writes
through the ``Records`` it is given; a query reads through ``Store.reading``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from services.sla.domain.aggregate import IncidentEvent, IncidentState
from shared.events import Envelope


class ConcurrentWrite(Exception):
    """A concurrent transaction wrote the same row first (an incident's next version);
    this one was rolled back."""


class Records(Protocol):
    """Reads and writes inside one transaction. Rows have the tables' columns as attributes."""

    # tenants (from the directory topic)
    def plan_of(self, tenant_id: str) -> str | None: ...

    def queue_claims_of(self, tenant_id: str) -> Any | None: ...

    # incidents: the history and its read model
    def queue_behind(self, incident_id: str) -> None: ...

    def load(self, incident_id: str) -> IncidentState | None: ...

    def append(self, after: IncidentState, event: IncidentEvent, recorded_at: datetime) -> None: ...

    def project(self, state: IncidentState) -> None: ...

    def incident_states(
        self, incident_id: str, tenant_id: str | None = None
    ) -> list[IncidentState]: ...

    def open_states(self, tenant_id: str) -> list[IncidentState]: ...

    def states_created_before(self, tenant_id: str, end: datetime) -> list[IncidentState]: ...

    # billing's invoices as copied, and the credits granted
    def licence_lines(self, tenant_id: str, period: str) -> list[Any]: ...

    def payment_states(self, tenant_id: str) -> list[Any]: ...

    def granted_in(self, tenant_id: str, breach_month: str) -> list[Any]: ...

    def granted_amount(self, credit_id: str) -> int | None: ...

    def insert_credit(self, **credit: Any) -> None: ...

    def enqueue(self, *events: Envelope) -> None: ...


class Store(Protocol):
    """Transactions on the SLA database: ``writing`` commits at the end of the block (and
    raises ``ConcurrentWrite`` when a concurrent writer took a row first), ``reading``
    only reads."""

    def reading(self) -> AbstractContextManager[Records]: ...

    def writing(self) -> AbstractContextManager[Records]: ...
