"""The SQL of the billing use cases: contracts, activation periods and credits read from
the view; invoices, their lines and payments written (never changed, only added to).

``Ledger`` is the use cases' port (``application.ports``): it opens the transaction,
``Books`` reads and writes in it, so each use case stays one transaction
(``application.invoicing`` decides; this reads and writes). A concurrent writer that
took the same row first (``IntegrityError``) surfaces as ``ConcurrentWrite``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, delete, func, insert, or_, select
from sqlalchemy.exc import IntegrityError

from services.billing.application.ports import ConcurrentWrite
from services.billing.domain.invoice import AvailableCredit, Line
from services.billing.domain.licence import ActivationPeriod
from services.billing.store.tables import (
    activations,
    invoice_lines,
    invoices,
    outbox,
    payments,
    service_credits,
    tenants,
)
from shared import topics
from shared.events import Envelope
from shared.outbox import enqueue


class Ledger:
    """Billing's database, one transaction per block."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def reading(self) -> Iterator[Books]:
        with self.engine.connect() as conn:
            yield Books(conn)

    @contextmanager
    def writing(self) -> Iterator[Books]:
        try:
            with self.engine.begin() as conn:
                yield Books(conn)
        except IntegrityError as exc:  # rolled back: a concurrent writer was first
            raise ConcurrentWrite(str(exc.orig)) from exc


class Books:
    """The reads and writes of one transaction (``conn``: the use case's or the batch's)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def tenant_ids(self) -> list[str]:
        return list(self.conn.scalars(select(tenants.c.tenant_id).order_by(tenants.c.tenant_id)))

    def tenant_row(self, tenant_id: str, lock: bool = False) -> Row | None:
        """The tenant's contract row; ``lock``: one issuer per tenant at a time (PostgreSQL)."""
        query = select(tenants).where(tenants.c.tenant_id == tenant_id)
        return self.conn.execute(query.with_for_update() if lock else query).first()

    def activation_periods(
        self, tenant_id: str, begin: datetime, end: datetime
    ) -> list[ActivationPeriod]:
        """The periods touching ``[begin, end)``: all a month's licence depends on."""
        rows = self.conn.execute(
            select(activations).where(
                activations.c.tenant_id == tenant_id,
                activations.c.activated_at < end,
                or_(activations.c.deactivated_at.is_(None), activations.c.deactivated_at >= begin),
            )
        ).all()
        return [ActivationPeriod(r.user_id, r.activated_at, r.deactivated_at) for r in rows]

    def available_credits(self, tenant_id: str, as_of: datetime) -> list[AvailableCredit]:
        """Granted credits not yet deducted in full, oldest first."""
        deducted = (
            select(
                invoice_lines.c.credit_id, func.sum(-invoice_lines.c.amount_cents).label("cents")
            )
            .where(invoice_lines.c.credit_id.is_not(None))
            .group_by(invoice_lines.c.credit_id)
            .subquery()
        )
        rows = self.conn.execute(
            select(service_credits, func.coalesce(deducted.c.cents, 0).label("deducted"))
            .outerjoin(deducted, deducted.c.credit_id == service_credits.c.credit_id)
            .where(service_credits.c.tenant_id == tenant_id, service_credits.c.granted_at <= as_of)
            .order_by(service_credits.c.granted_at, service_credits.c.credit_id)
        ).all()
        return [
            AvailableCredit(r.credit_id, r.incident_id, r.breach_month, r.amount_cents - r.deducted)
            for r in rows
            if r.amount_cents > r.deducted
        ]

    def invoice_numbered(self, tenant_id: str, number: str) -> str | None:
        """The id of the tenant's invoice with that number, if it was issued."""
        return self.conn.scalar(
            select(invoices.c.invoice_id).where(
                invoices.c.tenant_id == tenant_id, invoices.c.number == number
            )
        )

    def invoice_row(self, invoice_id: str) -> Row | None:
        return self.conn.execute(
            select(invoices).where(invoices.c.invoice_id == invoice_id)
        ).first()

    def credited(self, invoice_id: str) -> tuple[int, int]:
        """Licence and total cents of the credit notes against an invoice so far (negative)."""
        row = self.conn.execute(
            select(
                func.coalesce(func.sum(invoices.c.licence_cents), 0),
                func.coalesce(func.sum(invoices.c.total_cents), 0),
            ).where(invoices.c.corrects_invoice_id == invoice_id)
        ).one()
        return row[0], row[1]

    def credit_notes_in(self, tenant_id: str, period: str) -> int:
        return self.conn.scalar(
            select(func.count()).where(
                invoices.c.tenant_id == tenant_id,
                invoices.c.period == period,
                invoices.c.kind == "credit_note",
            )
        )

    def insert_invoice(self, lines: Sequence[Line], **invoice: Any) -> None:
        """The invoice row (``invoice``: its columns) and its lines, numbered from 1."""
        self.conn.execute(insert(invoices).values(**invoice))
        self.conn.execute(
            insert(invoice_lines),
            [
                {
                    "invoice_id": invoice["invoice_id"],
                    "line_no": no,
                    "kind": line.kind,
                    "description": line.description,
                    "quantity": line.quantity,
                    "per": line.per,
                    "unit_price_cents": str(line.unit_price_cents),
                    "amount_cents": line.amount_cents,
                    "credit_id": line.credit_id,
                }
                for no, line in enumerate(lines, start=1)
            ],
        )

    def record_payment(self, invoice_id: str, paid: bool, at: datetime) -> None:
        """The invoice's one payment record, replacing an earlier one."""
        self.conn.execute(delete(payments).where(payments.c.invoice_id == invoice_id))
        self.conn.execute(insert(payments).values(invoice_id=invoice_id, paid=paid, recorded_at=at))

    def enqueue(self, *events: Envelope) -> None:
        """Billing's events, to the outbox in this transaction."""
        enqueue(self.conn, outbox, topics.BILLING_EVENTS, *events)
