"""The billing use cases: issue invoices, credit notes and payments; preview; early termination.

Each use case is one transaction that writes the invoice, its lines and its event in the
outbox together. Invoices are never changed afterwards. Identities are derived, never
drawn: an invoice's id and number follow from tenant, period and purpose, and its
event's id from the invoice, so issuing twice (a retried POST, the timer and an operator
at once, a rebuilt view) finds the invoice already there instead of issuing another.
The SQL is ``store.ledger``'s, reached through the ports (``application.ports``) that
``__main__.build`` passes in; here the use cases decide what to read and write.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.billing.application.ports import Books, ConcurrentWrite, Ledger
from services.billing.domain.invoice import (
    Contract,
    EarlyTermination,
    Line,
    Period,
    PriceList,
    early_termination,
    monthly_lines,
    setup_lines,
)
from shared.errors import Refusal
from shared.events import Envelope, InvoiceIssued, InvoicePaymentRecorded

T = TypeVar("T")
NAMESPACE = uuid.UUID("0f5e9d1c-2b7a-4c3e-8d6f-b1a2c3d4e5f6")
MAX_CONTRACT = timedelta(days=100 * 366)  # a termination further away is a typing error


class Refused(Refusal):
    """A billing use case said no: a stable ``code`` and a ``kind`` (``shared.errors``),
    which ``shared.http`` maps onto the HTTP status; the application names none."""


def not_found(what: str) -> Refused:
    return Refused("not_found", f"No such {what}.", kind="not_found")


# --- the contract --------------------------------------------------------------------


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def contract_of(row: Any) -> Contract:
    return Contract.from_instants(
        row.plan,
        row.sdk_option,
        row.minimum_end_users,
        zone(row.time_zone),
        row.contract_start,
        row.contract_end,
    )


def tenant_row(books: Books, tenant_id: str, lock: bool = False) -> Any:
    """The tenant's contract; ``lock``: one issuer per tenant at a time (PostgreSQL), so a
    service credit is never deducted by two invoices issued at once."""
    row = books.tenant_row(tenant_id, lock)
    if row is None:
        raise Refused(
            "not_found", "Billing knows no contract for this tenant (yet).", kind="not_found"
        )
    return row


# --- writing invoices -------------------------------------------------------------------


def invoice_number(tenant_id: str, period: Period, suffix: str) -> str:
    return f"{period.year:04d}{period.month:02d}-{tenant_id[:8].upper()}-{suffix}"


def write_invoice(
    books: Books,
    *,
    tenant_id: str,
    number: str,
    kind: str,
    purpose: str,
    period: Period,
    lines: Sequence[Line],
    issued_at: datetime,
    corrects: str | None = None,
    reason: str | None = None,
) -> str:
    """Insert the invoice, its lines and its event(s) in the outbox; returns its id."""
    invoice_id = str(uuid.uuid5(NAMESPACE, f"{tenant_id}/{number}"))
    licence = sum(line.amount_cents for line in lines if line.kind == "licence")
    total = sum(line.amount_cents for line in lines)
    books.insert_invoice(
        lines,
        invoice_id=invoice_id,
        tenant_id=tenant_id,
        number=number,
        kind=kind,
        purpose=purpose,
        period=str(period),
        licence_cents=licence,
        total_cents=total,
        issued_at=issued_at,
        corrects_invoice_id=corrects,
        reason=reason,
    )
    tenant = uuid.UUID(tenant_id)
    events = [
        Envelope.wrap(
            InvoiceIssued(
                invoice_id=uuid.UUID(invoice_id),
                number=number,
                kind=kind,  # type: ignore[arg-type]
                period=str(period),
                licence_cents=licence,
                total_cents=total,
                issued_at=issued_at,
            ),
            tenant_id=tenant,
            event_id=uuid.uuid5(NAMESPACE, f"issued/{invoice_id}"),
            occurred_at=issued_at,
        )
    ]
    if kind == "invoice" and total == 0:  # nothing to pay: it must not count as unpaid
        books.record_payment(invoice_id, True, issued_at)
        events.append(
            Envelope.wrap(
                InvoicePaymentRecorded(invoice_id=uuid.UUID(invoice_id), paid=True, at=issued_at),
                tenant_id=tenant,
                event_id=uuid.uuid5(NAMESPACE, f"nothing-to-pay/{invoice_id}"),
                occurred_at=issued_at,
            )
        )
    books.enqueue(*events)
    return invoice_id


def issue_setup_invoice(
    books: Books, tenant_id: str, contract: Contract, prices: PriceList, at: datetime
) -> str | None:
    """The one-time fees, in advance, at activation (from the consumer's transaction)."""
    period = Period.of(contract.start_day)
    number = invoice_number(tenant_id, period, "S")
    lines = setup_lines(prices, contract)
    if not lines or books.invoice_numbered(tenant_id, number) is not None:
        return None
    return write_invoice(
        books,
        tenant_id=tenant_id,
        number=number,
        kind="invoice",
        purpose="setup",
        period=period,
        lines=lines,
        issued_at=at,
    )


@dataclass(frozen=True)
class Draft:
    """A month's invoice before it is issued (the preview is one)."""

    tenant_id: str
    period: Period
    lines: list[Line]

    @property
    def licence_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines if line.kind == "licence")

    @property
    def total_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)


def draft_month(
    books: Books, row: Any, period: Period, prices: PriceList, as_of: datetime
) -> Draft:
    contract = contract_of(row)
    begin, end = period.bounds(contract.tz)
    periods = books.activation_periods(row.tenant_id, begin, end)
    credits = books.available_credits(row.tenant_id, as_of)
    return Draft(row.tenant_id, period, monthly_lines(periods, period, contract, prices, credits))


@dataclass(frozen=True)
class Outcome:
    tenant_id: str
    status: str  # issued | already_issued | skipped
    invoice_id: str | None = None
    reason: str | None = None


class Invoicing:
    """The use cases, each in its own transaction of the ``ledger``; ``after_commit``
    wakes the relay."""

    def __init__(
        self,
        ledger: Ledger,
        prices: PriceList,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        after_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.ledger, self.prices, self.clock, self.after_commit = (
            ledger,
            prices,
            clock,
            after_commit,
        )

    # --- the month's invoices ---------------------------------------------------------

    def issue_month(self, period: Period, grace: float = 0.0) -> list[Outcome]:
        """Every tenant's invoice for a month that has ended (``grace`` hours ago)."""
        with self.ledger.reading() as books:
            ids = books.tenant_ids()
        outcomes = [self.issue_for(tenant_id, period, grace) for tenant_id in ids]
        if any(o.status == "issued" for o in outcomes):
            self.after_commit()
        return outcomes

    def issue_for(self, tenant_id: str, period: Period, grace: float = 0.0) -> Outcome:
        now = self.clock()
        number = invoice_number(tenant_id, period, "M")
        try:
            with self.ledger.writing() as books:
                row = tenant_row(books, tenant_id, lock=True)
                existing = books.invoice_numbered(tenant_id, number)  # issued while we waited
                if existing is not None:
                    return Outcome(tenant_id, "already_issued", existing)
                contract = contract_of(row)
                if not contract.covers_some_of(period):
                    return Outcome(tenant_id, "skipped", reason="outside_contract")
                if not period.closed(contract.tz, now - timedelta(hours=grace)):
                    return Outcome(tenant_id, "skipped", reason="month_not_closed")
                draft = draft_month(books, row, period, self.prices, now)
                invoice_id = write_invoice(
                    books,
                    tenant_id=tenant_id,
                    number=number,
                    kind="invoice",
                    purpose="monthly",
                    period=period,
                    lines=draft.lines,
                    issued_at=now,
                )
                return Outcome(tenant_id, "issued", invoice_id)
        except ConcurrentWrite:  # issued at the same moment elsewhere: that one stands
            with self.ledger.reading() as books:
                existing = books.invoice_numbered(tenant_id, number)
            if existing is None:
                raise
            return Outcome(tenant_id, "already_issued", existing)

    def preview(self, tenant_id: str) -> Draft:
        """The running month as it would be invoiced if nothing changed until its end."""
        now = self.clock()
        with self.ledger.reading() as books:
            row = tenant_row(books, tenant_id)
            period = Period.of(now.astimezone(zone(row.time_zone)).date())
            return draft_month(books, row, period, self.prices, now)

    # --- corrections and payments -----------------------------------------------------

    def credit_note(
        self, invoice_id: str, licence_cents: int, other_cents: int, reason: str
    ) -> str:
        """A credit note against an invoice, never more than is left of it."""
        return self._retrying(
            lambda books: self._credit_note(books, invoice_id, licence_cents, other_cents, reason)
        )

    def _retrying(self, work: Callable[[Books], T]) -> T:
        """One transaction; again if a concurrent one took the same number or row first."""
        for attempt in range(3):
            try:
                with self.ledger.writing() as books:
                    result = work(books)
                self.after_commit()
                return result
            except ConcurrentWrite:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _credit_note(
        self, books: Books, invoice_id: str, licence_cents: int, other_cents: int, reason: str
    ) -> str:
        invoice = books.invoice_row(invoice_id)
        if invoice is None:
            raise not_found("invoice")
        if invoice.kind != "invoice":
            raise Refused(
                "not_an_invoice", "A credit note corrects an invoice only.", kind="conflict"
            )
        credited = books.credited(invoice_id)
        licence_left = invoice.licence_cents + credited[0]
        total_left = invoice.total_cents + credited[1]
        if licence_cents > licence_left or licence_cents + other_cents > total_left:
            raise Refused(
                "exceeds_invoice",
                f"Only {total_left} cents ({licence_left} of licence) are left to credit.",
                kind="conflict",
            )
        period = Period.parse(invoice.period)
        notes = books.credit_notes_in(invoice.tenant_id, invoice.period)
        lines = [
            Line(kind, f"{text}, invoice {invoice.number}", 1, 1, Decimal(-cents), -cents)
            for kind, text, cents in (
                ("licence", "Licence correction", licence_cents),
                ("correction", "Correction", other_cents),
            )
            if cents
        ]
        return write_invoice(
            books,
            tenant_id=invoice.tenant_id,
            number=invoice_number(invoice.tenant_id, period, f"C{notes + 1}"),
            kind="credit_note",
            purpose="correction",
            period=period,
            lines=lines,
            issued_at=self.clock(),
            corrects=invoice_id,
            reason=reason,
        )

    def record_payment(self, invoice_id: str, paid: bool) -> datetime:
        """The operator's word that an invoice is (or is not, after all) paid."""
        return self._retrying(lambda books: self._record_payment(books, invoice_id, paid))

    def _record_payment(self, books: Books, invoice_id: str, paid: bool) -> datetime:
        now = self.clock()
        invoice = books.invoice_row(invoice_id)
        if invoice is None:
            raise not_found("invoice")
        if invoice.kind != "invoice":
            raise Refused("not_payable", "A credit note is not paid.", kind="conflict")
        books.record_payment(invoice_id, paid, now)
        books.enqueue(
            Envelope.wrap(
                InvoicePaymentRecorded(invoice_id=uuid.UUID(invoice_id), paid=paid, at=now),
                tenant_id=uuid.UUID(invoice.tenant_id),
                occurred_at=now,
            ),
        )
        return now

    # --- early termination ------------------------------------------------------------

    def early_termination(
        self, tenant_id: str, termination: date | None
    ) -> tuple[Contract, date, EarlyTermination]:
        with self.ledger.reading() as books:
            contract = contract_of(tenant_row(books, tenant_id))
        termination = termination or contract.end_day
        if termination is None:
            raise Refused(
                "termination_required",
                "The contract has not ended: name the termination day.",
                kind="bad_request",
            )
        if termination < contract.start_day:
            raise Refused(
                "before_contract_start",
                f"The contract starts on {contract.start_day}; termination cannot precede it.",
                kind="bad_request",
            )
        if termination > contract.start_day + MAX_CONTRACT:
            raise Refused(
                "too_far",
                "The termination day is beyond any term of this contract.",
                kind="bad_request",
            )
        return contract, termination, early_termination(contract, termination, self.prices)
