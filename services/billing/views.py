"""Reading invoices back: plain queries, every one scoped by tenant unless the operator asks."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, select

from services.billing.application.invoicing import Draft
from services.billing.store import invoice_lines, invoices, payments

CSV_COLUMNS = (
    "number",
    "kind",
    "purpose",
    "period",
    "issued_at",
    "paid",
    "line_no",
    "line_kind",
    "description",
    "quantity",
    "per",
    "unit_price_cents",
    "amount_cents",
    "invoice_total_cents",
)


def find_invoices(
    conn: Connection,
    tenant_id: str | None,
    *,
    invoice_id: str | None = None,
    unpaid: bool = False,
    period: str | None = None,
) -> list[dict[str, Any]]:
    """Invoices with their lines and payment state, newest first (``tenant_id`` None: all)."""
    query = select(invoices, payments.c.paid, payments.c.recorded_at).outerjoin(
        payments, payments.c.invoice_id == invoices.c.invoice_id
    )
    if tenant_id is not None:
        query = query.where(invoices.c.tenant_id == tenant_id)
    if invoice_id is not None:
        query = query.where(invoices.c.invoice_id == invoice_id)
    if period is not None:
        query = query.where(invoices.c.period == period)
    if unpaid:
        query = query.where(invoices.c.kind == "invoice", payments.c.paid.is_not(True))
    rows = conn.execute(query.order_by(invoices.c.issued_at.desc(), invoices.c.number.desc())).all()
    found = [_invoice(row) for row in rows]
    lines = _lines_of(conn, [f["invoice_id"] for f in found])
    for invoice in found:
        invoice["lines"] = lines.get(invoice["invoice_id"], [])
    return found


def _invoice(row: Any) -> dict[str, Any]:
    invoice = dict(row._mapping)
    recorded = invoice.pop("recorded_at")
    payable = invoice["kind"] == "invoice"
    invoice["paid"] = bool(invoice["paid"]) if payable else None
    invoice["payment_recorded_at"] = recorded if payable else None
    return invoice


def _lines_of(conn: Connection, ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(ids), 500):
        rows = conn.execute(
            select(invoice_lines)
            .where(invoice_lines.c.invoice_id.in_(ids[start : start + 500]))
            .order_by(invoice_lines.c.invoice_id, invoice_lines.c.line_no)
        ).all()
        for row in rows:
            line = dict(row._mapping)
            found.setdefault(line.pop("invoice_id"), []).append(line)
    return found


def draft_as_dict(draft: Draft, as_of: Any) -> dict[str, Any]:
    return {
        "tenant_id": draft.tenant_id,
        "period": str(draft.period),
        "as_of": as_of,
        "licence_cents": draft.licence_cents,
        "total_cents": draft.total_cents,
        "lines": [{"line_no": no, **vars(line)} for no, line in enumerate(draft.lines, start=1)],
    }


def to_csv(found: Iterable[dict[str, Any]]) -> str:
    """One row per invoice line, amounts in integer cents (unit prices exact decimals)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for invoice in found:
        for line in invoice["lines"]:
            writer.writerow(
                (
                    invoice.get("number", "preview"),
                    invoice.get("kind", "preview"),
                    invoice.get("purpose", "monthly"),
                    invoice["period"],
                    _iso(invoice.get("issued_at")),
                    "" if invoice.get("paid") is None else str(invoice["paid"]).lower(),
                    line["line_no"],
                    line["kind"],
                    line["description"],
                    line["quantity"],
                    line["per"],
                    line["unit_price_cents"],
                    line["amount_cents"],
                    invoice["total_cents"],
                )
            )
    return out.getvalue()


def _iso(moment: Any) -> str:
    return "" if moment is None else moment.isoformat()
