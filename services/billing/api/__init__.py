"""Billing's HTTP API under ``/v1/billing``: tenant Administrators read, the operator acts.

Refusals of the use cases (``application.invoicing.Refused``) reach the client through
``shared.http``'s one mapping; nothing here translates them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import Request, Response
from sqlalchemy import Connection

from services.billing.application.invoicing import Draft, Invoicing

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


def invoicing(request: Request) -> Invoicing:
    return request.app.state.invoicing


@contextmanager
def read(request: Request) -> Iterator[Connection]:
    with request.app.state.service.engine.connect() as conn:
        yield conn


def csv_response(found: list[dict[str, Any]], filename: str) -> Response:
    return Response(
        to_csv(found),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


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
