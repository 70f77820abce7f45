"""Billing's read model: tenants' contracts and every end user's activation periods (SPEC §7).

Licences are billed per day of activation, so what billing keeps is exactly that:
periods ``[activated_at, deactivated_at)`` per end user, from the directory events.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, String, Table

from shared.readmodel import UtcDateTime

metadata = MetaData()

tenants = Table(
    "tenants",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("plan", String(10), nullable=False),
    Column("minimum_end_users", Integer, nullable=False),
    Column("time_zone", String(64), nullable=False),
    Column("contract_start", UtcDateTime),
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
