"""The operator's billing (``OPERATOR_TOKEN``): issue the month, payments, credit notes, fees."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request, Response

from services.billing.api import csv_response, invoicing, read
from services.billing.api.schemas import (
    CreditNoteIn,
    EarlyTerminationIn,
    EarlyTerminationOut,
    Format,
    InvoiceOut,
    IssueMonth,
    IssueOutcome,
    IssueResult,
    PaymentIn,
    PaymentOut,
)
from services.billing.domain.invoice import Period
from services.billing.store.views import find_invoices
from shared.auth import operator
from shared.http import ApiError

router = APIRouter(
    prefix="/v1/billing/operator", tags=["billing operator"], dependencies=[Depends(operator)]
)
CSV = {"text/csv": {"schema": {"type": "string"}}}


@router.post(
    "/invoices",
    response_model=IssueResult,
    summary="Issue every tenant's invoice for a month that has ended (idempotent)",
)
def issue_month(request: Request, body: IssueMonth) -> IssueResult:
    try:
        period = Period.parse(body.period)
    except ValueError as exc:
        raise ApiError(422, "invalid_period", str(exc)) from None
    outcomes = invoicing(request).issue_month(period)
    return IssueResult(
        period=body.period, outcomes=[IssueOutcome.model_validate(vars(o)) for o in outcomes]
    )


@router.get(
    "/invoices",
    response_model=list[InvoiceOut],
    responses={200: {"content": CSV}},
    summary="All invoices, optionally of one tenant, one period, or only the unpaid ones",
)
def list_invoices(
    request: Request,
    tenant_id: uuid.UUID | None = None,
    period: str | None = None,
    unpaid: bool = False,
    format: Format = "json",
) -> list[InvoiceOut] | Response:
    if period is not None:
        try:
            Period.parse(period)
        except ValueError as exc:
            raise ApiError(422, "invalid_period", str(exc)) from None
    with read(request) as conn:
        found = find_invoices(
            conn, str(tenant_id) if tenant_id else None, unpaid=unpaid, period=period
        )
    if format == "csv":
        return csv_response(found, "invoices.csv")
    return [InvoiceOut.model_validate(f) for f in found]


@router.put(
    "/invoices/{invoice_id}/payment",
    response_model=PaymentOut,
    summary="Record that an invoice is paid (or unpaid after all); unpaid ones block credits",
)
def record_payment(request: Request, invoice_id: uuid.UUID, body: PaymentIn) -> PaymentOut:
    at = invoicing(request).record_payment(str(invoice_id), body.paid)
    return PaymentOut(invoice_id=invoice_id, paid=body.paid, recorded_at=at)


@router.post(
    "/invoices/{invoice_id}/credit-notes",
    response_model=InvoiceOut,
    status_code=201,
    summary="Correct an issued invoice with a credit note (invoices never change)",
)
def credit_note(request: Request, invoice_id: uuid.UUID, body: CreditNoteIn) -> InvoiceOut:
    note_id = invoicing(request).credit_note(
        str(invoice_id), body.licence_cents, body.other_cents, body.reason
    )
    with read(request) as conn:
        return InvoiceOut.model_validate(find_invoices(conn, None, invoice_id=note_id)[0])


@router.post(
    "/tenants/{tenant_id}/early-termination-fee",
    response_model=EarlyTerminationOut,
    summary="The fee for ending the contract early (§7.2.2.1): computed, not invoiced",
)
def early_termination_fee(
    request: Request, tenant_id: uuid.UUID, body: EarlyTerminationIn
) -> EarlyTerminationOut:
    billing = invoicing(request)
    contract, termination, fee = billing.early_termination(str(tenant_id), body.termination)
    return EarlyTerminationOut(
        tenant_id=tenant_id,
        contract_start=contract.start_day,
        termination=termination,
        term_end=fee.term_end,
        minimum_end_users=contract.minimum_end_users,
        fee_per_user_cents=billing.prices.licence_fee(contract.plan),
        amount_cents=fee.amount_cents,
    )
