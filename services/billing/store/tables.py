"""Billing's tables: the view built from events, the invoices issued, and the outbox.

The view (``tenants``, ``activations``, ``service_credits``) is rebuilt from position 0
of the directory and SLA topics. Licences are billed per day of activation, so what it
keeps is exactly that: periods ``[activated_at, deactivated_at)`` per end user.

Invoices and their lines are written once and never changed (corrections are credit
notes); a payment is the one thing recorded about an invoice afterwards. Every invoice
and payment writes its integration event to ``outbox`` in the same transaction; the
relay publishes it and sets ``sent_at``.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
    text,
)

from shared.outbox import outbox_table
from shared.readmodel import UtcDateTime

#: Migrated by Alembic (``services/billing/migrations``, ``shared.migrations``).
metadata = MetaData(info={"migrations": "services.billing.migrations"})

tenants = Table(
    "tenants",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("plan", String(10), nullable=False),
    Column("sdk_option", Boolean, nullable=False),
    Column("minimum_end_users", Integer, nullable=False),
    Column("time_zone", String(64), nullable=False),
    # The order's contract start, or the tenant's creation: billing starts there.
    Column("contract_start", UtcDateTime, nullable=False),
    Column("contract_end", UtcDateTime),
)

activations = Table(
    "activations",
    metadata,
    Column("user_id", String(36), primary_key=True),
    Column("activated_at", UtcDateTime, primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("deactivated_at", UtcDateTime),
    Index("ix_activations_tenant", "tenant_id", "activated_at"),
)

service_credits = Table(
    "service_credits",
    metadata,
    Column("credit_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False, index=True),
    Column("incident_id", String(36), nullable=False),
    Column("breach_month", String(7), nullable=False),
    Column("amount_cents", Integer, nullable=False),
    Column("granted_at", UtcDateTime, nullable=False),
)

invoices = Table(
    "invoices",
    metadata,
    Column("invoice_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    # Derived from tenant, period and purpose: issuing the same invoice twice collides here.
    Column("number", String(40), nullable=False),
    Column("kind", String(12), nullable=False),  # invoice | credit_note
    Column("purpose", String(12), nullable=False),  # setup | monthly | correction
    Column("period", String(7), nullable=False),
    Column("licence_cents", Integer, nullable=False),
    Column("total_cents", Integer, nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("corrects_invoice_id", String(36)),
    Column("reason", Text),
    UniqueConstraint("tenant_id", "number", name="uq_invoices_tenant_number"),
    Index("ix_invoices_tenant_period", "tenant_id", "period"),
)

invoice_lines = Table(
    "invoice_lines",
    metadata,
    Column("invoice_id", String(36), ForeignKey("invoices.invoice_id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("description", Text, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("per", Integer, nullable=False),
    Column("unit_price_cents", String(40), nullable=False),  # a Decimal, exactly
    Column("amount_cents", Integer, nullable=False),
    Column("credit_id", String(36), index=True),
)

payments = Table(
    "payments",
    metadata,
    Column("invoice_id", String(36), ForeignKey("invoices.invoice_id"), primary_key=True),
    Column("paid", Boolean, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
)

outbox = outbox_table(metadata)


def drop_view_of_older_version(engine: Engine) -> None:
    """The first version kept only activations (no invoices): its view is dropped and
    rebuilt from position 0 under a new consumer group (see ``bootstrap``)."""
    names = inspect(engine).get_table_names()
    if "tenants" in names and "sdk_option" not in {
        c["name"] for c in inspect(engine).get_columns("tenants")
    }:
        with engine.begin() as conn:
            for name in ("tenants", "activations", "applied_events"):
                conn.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
