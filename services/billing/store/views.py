"""Reading billing back: plain queries, every one scoped by tenant unless the operator asks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from services.billing.store.tables import activations, invoice_lines, invoices, payments


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


def find_activations(conn: Connection, tenant_id: str) -> list[Any]:
    """The activation periods billing invoices for the tenant, oldest first."""
    return list(
        conn.execute(
            select(activations.c.user_id, activations.c.activated_at, activations.c.deactivated_at)
            .where(activations.c.tenant_id == tenant_id)
            .order_by(activations.c.activated_at, activations.c.user_id)
        ).all()
    )
