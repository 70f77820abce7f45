"""The billing API's bodies. Money is integer euro cents; unit prices are exact decimals."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field, model_validator

PERIOD = r"^2\d{3}-(0[1-9]|1[0-2])$"  # as domain.invoice.Period: 2000-2999
MAX_CENTS = 1_000_000_000  # EUR 10 million: no single correction is larger

Format = Literal["json", "csv"]


class ActivationPeriodOut(BaseModel):
    user_id: str
    activated_at: datetime
    deactivated_at: datetime | None


class InvoiceLineOut(BaseModel):
    line_no: int
    kind: str
    description: str
    quantity: int
    per: int
    unit_price_cents: Decimal = Field(description="amount = round(unit price x quantity / per)")
    amount_cents: int
    credit_id: str | None = None


class InvoiceOut(BaseModel):
    invoice_id: str
    tenant_id: str
    number: str
    kind: Literal["invoice", "credit_note"]
    purpose: Literal["setup", "monthly", "correction"]
    period: str
    licence_cents: int
    total_cents: int
    issued_at: datetime
    corrects_invoice_id: str | None = None
    reason: str | None = None
    paid: bool | None = Field(description="None for a credit note (nothing to pay)")
    payment_recorded_at: datetime | None = None
    lines: list[InvoiceLineOut]


class PreviewOut(BaseModel):
    """The running month as it would be invoiced if nothing changed until its end."""

    tenant_id: str
    period: str
    as_of: datetime
    licence_cents: int
    total_cents: int
    lines: list[InvoiceLineOut]


class IssueMonth(BaseModel):
    period: str = Field(pattern=PERIOD, examples=["2026-10"])


class IssueOutcome(BaseModel):
    tenant_id: str
    status: Literal["issued", "already_issued", "skipped"]
    invoice_id: str | None = None
    reason: str | None = None


class IssueResult(BaseModel):
    period: str
    outcomes: list[IssueOutcome]


class PaymentIn(BaseModel):
    paid: bool


class PaymentOut(BaseModel):
    invoice_id: uuid.UUID
    paid: bool
    recorded_at: datetime


class CreditNoteIn(BaseModel):
    licence_cents: int = Field(default=0, ge=0, le=MAX_CENTS, description="licence credited")
    other_cents: int = Field(default=0, ge=0, le=MAX_CENTS, description="anything else credited")
    reason: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _something(self) -> CreditNoteIn:
        if self.licence_cents + self.other_cents == 0:
            raise ValueError("a credit note credits at least one cent")
        return self


class EarlyTerminationIn(BaseModel):
    termination: date | None = Field(
        default=None, description="First day without service; default: the contract's end"
    )


class EarlyTerminationOut(BaseModel):
    tenant_id: uuid.UUID
    contract_start: date
    termination: date
    term_end: date
    minimum_end_users: int
    fee_per_user_cents: Decimal
    amount_cents: int
