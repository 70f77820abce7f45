"""The ledger of the daily retention purge: which days it ran (one run a day, whichever
replica). Not a view (nothing in it comes from the logs) and no tenant data: the audit
record of each tenant's purge is the ``TenantPurge`` aggregate in the directory log."""

from __future__ import annotations

from sqlalchemy import Column, Date, Integer, Table

from services.conversation.store.tables import metadata
from shared.readmodel import UtcDateTime

retention_runs = Table(
    "retention_runs",
    metadata,
    Column("day", Date, primary_key=True),
    Column("finished_at", UtcDateTime, nullable=False),
    Column("tenants", Integer, nullable=False),
)
