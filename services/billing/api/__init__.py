"""Billing's HTTP API under ``/v1/billing``: tenant Administrators read, the operator acts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import Request, Response
from sqlalchemy import Connection

from services.billing.application.invoicing import Invoicing, Refused
from services.billing.views import to_csv
from shared.http import ApiError


def invoicing(request: Request) -> Invoicing:
    return request.app.state.invoicing


@contextmanager
def read(request: Request) -> Iterator[Connection]:
    with request.app.state.service.engine.connect() as conn:
        yield conn


@contextmanager
def refusals() -> Iterator[None]:
    """A use case's refusal becomes the API's error body."""
    try:
        yield
    except Refused as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None


def csv_response(found: list[dict[str, Any]], filename: str) -> Response:
    return Response(
        to_csv(found),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
