"""``python -m services.billing``: monthly invoices from the directory's activation periods."""

from __future__ import annotations

from fastapi import FastAPI

from services.billing.bootstrap import BillingService
from services.billing.settings import BillingSettings
from shared.observability import watch_outbox
from shared.service import serve


def build(settings: BillingSettings) -> FastAPI:
    return BillingService(settings).create_app()


def main() -> None:
    settings = BillingSettings()
    service = BillingService(settings)
    source = service.relay.source
    watch_outbox(source.label, source.engine, source.outbox)
    serve(service.create_app(), settings)


if __name__ == "__main__":
    main()
