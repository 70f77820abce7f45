"""``python -m services.billing``: monthly invoices from the directory's activation periods."""

from __future__ import annotations

from services.billing.bootstrap import BillingService
from services.billing.settings import BillingSettings
from shared.service import serve


def main() -> None:
    settings = BillingSettings()
    serve(BillingService(settings).create_app(), settings)


if __name__ == "__main__":
    main()
