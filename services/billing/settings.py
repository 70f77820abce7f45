"""Billing's settings: the price list (SPEC §7) and the invoicing timer, from the environment.

Prices are ``Decimal`` euro cents (``2500`` is EUR 25.00; fractions of a cent are allowed
in a unit price, never in an invoiced amount, see ``domain.invoice``):

=================================  ===============================================
``LICENCE_FEE_CENTS_HUB``/``_PRO``  Monthly licence fee per activated end user,
``/_BOT``                           per plan.
``SDK_OPTION_FEE_CENTS``            Monthly fee of the website chat SDK option.
``SETUP_FEE_CENTS``                 One-time set-up fee, invoiced at activation.
``SDK_SETUP_FEE_CENTS``             One-time set-up fee of the SDK option.
``AUTO_ISSUE_INVOICES``             Issue last month's invoices by itself (default on).
``INVOICE_GRACE_HOURS``             How long after a month ends it waits for late events.
``INVOICE_CHECK_SECONDS``           How often it looks for a month to issue.
=================================  ===============================================
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from services.billing.domain.invoice import PriceList
from shared.consumer_service import ConsumerServiceSettings

Cents = Decimal


class BillingSettings(ConsumerServiceSettings):
    service_name: str = "billing"
    http_port: int = 8004

    licence_fee_cents_hub: Cents = Field(default=Decimal("1500"), ge=0)
    licence_fee_cents_pro: Cents = Field(default=Decimal("2500"), ge=0)
    licence_fee_cents_bot: Cents = Field(default=Decimal("3500"), ge=0)
    sdk_option_fee_cents: Cents = Field(default=Decimal("5000"), ge=0)
    setup_fee_cents: Cents = Field(default=Decimal("25000"), ge=0)
    sdk_setup_fee_cents: Cents = Field(default=Decimal("10000"), ge=0)

    auto_issue_invoices: bool = True
    invoice_grace_hours: float = Field(default=6.0, ge=0)
    invoice_check_seconds: float = Field(default=3600.0, gt=0)

    def price_list(self) -> PriceList:
        return PriceList(
            licence_fee_cents={
                "hub": self.licence_fee_cents_hub,
                "pro": self.licence_fee_cents_pro,
                "bot": self.licence_fee_cents_bot,
            },
            sdk_option_fee_cents=self.sdk_option_fee_cents,
            setup_fee_cents=self.setup_fee_cents,
            sdk_setup_fee_cents=self.sdk_setup_fee_cents,
        )
