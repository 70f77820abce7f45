"""``python -m services.billing``: monthly invoices from the directory's activation periods."""

from __future__ import annotations

from fastapi import FastAPI

from services.billing.bootstrap import BillingService
from services.billing.settings import BillingSettings
from shared.service import serve


def build(settings: BillingSettings) -> FastAPI:
    return BillingService(settings).create_app()


def main() -> None:
    settings = BillingSettings()
    serve(build(settings), settings)


if __name__ == "__main__":
    main()
