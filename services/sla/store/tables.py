"""The SLA service's tables: inputs from other services, the incident history, the read
model, granted credits and the outbox. One database, so a command, its projection and a
granted credit's outgoing event commit together.

Why a table-backed aggregate and not the ``eventsourcing`` library (as the conversation
service uses): a granted credit must reach Kafka exactly when the claim that granted it
commits, and the claim reads the incident read model, the invoices and the earlier
credits. With the history, the read model, the credits and the outbox in one SQLAlchemy
database all of that is one transaction on SQLite and PostgreSQL alike; the library's
store would be a second database and need a notification-log relay plus position
tracking to say the same. ``incident_history`` is append-only (never updated or
deleted); ``(incident_id, version)`` is unique, so two concurrent commands on one incident
cannot both append version n (optimistic concurrency). ``incidents`` and ``stop_clocks``
are a projection: ``store.projection.rebuild`` recreates them from the history alone.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from shared.outbox import outbox_table
from shared.readmodel import UtcDateTime

#: Migrated by Alembic (``services/sla/migrations``, ``shared.migrations``).
metadata = MetaData(info={"migrations": "services.sla.migrations"})

# --- inputs (directory and billing topics) --------------------------------------------

tenants = Table(
    "tenants",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("plan", String(10), nullable=False),
    Column("contract_end", UtcDateTime, nullable=True),
)

#: Invoices and credit notes as billing issued them, with their payment state.
invoices = Table(
    "invoices",
    metadata,
    Column("invoice_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False, index=True),
    Column("kind", String(12), nullable=False),
    Column("period", String(7), nullable=False),
    Column("licence_cents", BigInteger, nullable=False),
    Column("total_cents", BigInteger, nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("paid", Boolean, nullable=False, default=False),
)

# --- the incident aggregate -----------------------------------------------------------

incident_history = Table(
    "incident_history",
    metadata,
    Column("position", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", String(36), nullable=False),
    Column("version", Integer, nullable=False),
    Column("tenant_id", String(36), nullable=False, index=True),
    Column("type", String(40), nullable=False),
    Column("data", JSON, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    UniqueConstraint("incident_id", "version", name="uq_incident_version"),
)

# --- read model (rebuildable from incident_history) -----------------------------------

incidents = Table(
    "incidents",
    metadata,
    Column("incident_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False, index=True),
    Column("reported_priority", String(2), nullable=False),
    Column("priority", String(2), nullable=False),  # the measured (corrected) one
    Column("reported_via", String(10), nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("created_at", UtcDateTime, nullable=False),
    Column("troubleshooting_started_at", UtcDateTime, nullable=True),
    Column("resolved_at", UtcDateTime, nullable=True),
    Column("version", Integer, nullable=False),
)

stop_clocks = Table(
    "stop_clocks",
    metadata,
    Column("incident_id", String(36), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("reason", String(30), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime, nullable=True),
)

# --- credits and the outbox -----------------------------------------------------------

#: One granted credit per SLA breach (incident and KPI): the unique key makes a second
#: grant for the same breach impossible.
credits = Table(
    "credits",
    metadata,
    Column("credit_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False, index=True),
    Column("incident_id", String(36), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("priority", String(2), nullable=False),
    Column("breach_month", String(7), nullable=False),
    Column("breached_at", UtcDateTime, nullable=False),
    Column("claimed_at", UtcDateTime, nullable=False),
    Column("granted_at", UtcDateTime, nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    UniqueConstraint("incident_id", "kind", name="uq_credit_breach"),
)

#: Envelopes waiting for Kafka; the relay publishes them in ``seq`` order and marks them.
outbox = outbox_table(metadata)
