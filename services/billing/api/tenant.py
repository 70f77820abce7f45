"""What a tenant's Administrators see: their invoices, the running month, exports."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request, Response

from services.billing.api import csv_response, draft_as_dict, invoicing, read
from services.billing.api.schemas import ActivationPeriodOut, Format, InvoiceOut, PreviewOut
from services.billing.store.views import find_activations, find_invoices
from shared.auth import Caller, role_in
from shared.http import ApiError

router = APIRouter(prefix="/v1/billing", tags=["billing"])
administrator = role_in("administrator")
CSV = {"text/csv": {"schema": {"type": "string"}}}


@router.get(
    "/invoices",
    response_model=list[InvoiceOut],
    responses={200: {"content": CSV}},
    summary="This tenant's invoices and credit notes, newest first (JSON or CSV)",
)
def list_invoices(
    request: Request, format: Format = "json", who: Caller = Depends(administrator)
) -> list[InvoiceOut] | Response:
    with read(request) as conn:
        found = find_invoices(conn, str(who.tenant_id))
    if format == "csv":
        return csv_response(found, "invoices.csv")
    return [InvoiceOut.model_validate(f) for f in found]


@router.get(
    "/invoices/{invoice_id}",
    response_model=InvoiceOut,
    responses={200: {"content": CSV}, 404: {"description": "No such invoice for this tenant"}},
    summary="One invoice or credit note with its lines (JSON or CSV)",
)
def get_invoice(
    request: Request,
    invoice_id: uuid.UUID,
    format: Format = "json",
    who: Caller = Depends(administrator),
) -> InvoiceOut | Response:
    with read(request) as conn:
        found = find_invoices(conn, str(who.tenant_id), invoice_id=str(invoice_id))
    if not found:
        raise ApiError(404, "not_found", "No such invoice.")
    if format == "csv":
        return csv_response(found, f"{found[0]['number']}.csv")
    return InvoiceOut.model_validate(found[0])


@router.get(
    "/preview",
    response_model=PreviewOut,
    responses={200: {"content": CSV}},
    summary="The running month as it would be invoiced if nothing changed (JSON or CSV)",
)
def preview(
    request: Request, format: Format = "json", who: Caller = Depends(administrator)
) -> PreviewOut | Response:
    billing = invoicing(request)
    draft = billing.preview(str(who.tenant_id))
    body = draft_as_dict(draft, billing.clock())
    if format == "csv":
        return csv_response([body], f"preview-{draft.period}.csv")
    return PreviewOut.model_validate(body)


@router.get(
    "/activations",
    response_model=list[ActivationPeriodOut],
    summary="The activation periods billing invoices for this tenant",
)
def list_activations(
    request: Request, who: Caller = Depends(administrator)
) -> list[ActivationPeriodOut]:
    with read(request) as conn:
        rows = find_activations(conn, str(who.tenant_id))
    return [ActivationPeriodOut.model_validate(r, from_attributes=True) for r in rows]
