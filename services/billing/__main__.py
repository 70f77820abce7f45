"""``python -m services.billing``: monthly invoices from the directory's activation periods."""

from __future__ import annotations

from prometheus_client import REGISTRY

from services.billing.bootstrap import BillingService
from services.billing.settings import BillingSettings
from shared.observability import TableOutboxBacklog
from shared.service import serve


def main() -> None:
    settings = BillingSettings()
    service = BillingService(settings)
    relay = service.relay
    REGISTRY.register(TableOutboxBacklog(relay.name, relay.engine, relay.outbox))  # once
    serve(service.create_app(), settings)


if __name__ == "__main__":
    main()
