"""The statistics read model: one fact row per conversation, queried with plain SQL.

``conversation_facts`` is documented in the README for analysts. An event counts in the
bucket of its own timestamp (``opened_at`` for received conversations) in the tenant's
time zone.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, String, Table

from shared.readmodel import UtcDateTime

metadata = MetaData()

tenants = Table(
    "tenants",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("time_zone", String(64), nullable=False),
    Column("plan", String(10), nullable=False),
)

conversation_facts = Table(
    "conversation_facts",
    metadata,
    Column("conversation_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("channel_type", String(20), nullable=False),
    Column("language", String(16), nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("first_assigned_at", UtcDateTime),
    Column("assignee_id", String(36)),
    Column("closed_at", UtcDateTime),
    Column("messages_in", Integer, nullable=False, default=0),
    Index("ix_facts_tenant_opened", "tenant_id", "opened_at"),
    Index("ix_facts_tenant_channel_opened", "tenant_id", "channel_type", "opened_at"),
)
