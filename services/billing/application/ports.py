"""What the billing use cases need of their store, and nothing more (``store.ledger``
implements it; ``__main__.build`` passes it in), so the application names no SQL.

A use case opens one transaction (``Ledger.writing``) and does all its reads and writes
through the ``Books`` it is given; the consumer hands the set-up invoice its own batch's
``Books``, so that invoice is written in the batch's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from services.billing.domain.invoice import AvailableCredit, Line
from services.billing.domain.licence import ActivationPeriod
from shared.events import Envelope


class ConcurrentWrite(Exception):
    """A concurrent transaction wrote the same row (an invoice number, a payment) first;
    this one was rolled back."""


class Books(Protocol):
    """Reads and writes inside one transaction. Rows have the tables' columns as attributes."""

    def tenant_ids(self) -> list[str]: ...

    def tenant_row(self, tenant_id: str, lock: bool = False) -> Any | None: ...

    def activation_periods(
        self, tenant_id: str, begin: datetime, end: datetime
    ) -> list[ActivationPeriod]: ...

    def available_credits(self, tenant_id: str, as_of: datetime) -> list[AvailableCredit]: ...

    def invoice_numbered(self, tenant_id: str, number: str) -> str | None: ...

    def invoice_row(self, invoice_id: str) -> Any | None: ...

    def credited(self, invoice_id: str) -> tuple[int, int]: ...

    def credit_notes_in(self, tenant_id: str, period: str) -> int: ...

    def insert_invoice(self, lines: Sequence[Line], **invoice: Any) -> None: ...

    def record_payment(self, invoice_id: str, paid: bool, at: datetime) -> None: ...

    def enqueue(self, *events: Envelope) -> None: ...


class Ledger(Protocol):
    """Transactions on billing's database: ``writing`` commits at the end of the block (and
    raises ``ConcurrentWrite`` when a concurrent writer took a row first), ``reading``
    only reads."""

    def reading(self) -> AbstractContextManager[Books]: ...

    def writing(self) -> AbstractContextManager[Books]: ...
