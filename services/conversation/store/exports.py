"""The record of each tenant export: who asked, when, and how far the archive got.

The archive is produced while it is downloaded; this row is its progress, readable from
any replica (``GET /v1/exports/{id}``), and the trace that the tenant's content left.
It has a ``tenant_id`` column, so the retention purge deletes it with the tenant.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table

from services.conversation.store.tables import metadata
from shared.readmodel import UtcDateTime

exports = Table(
    "exports",
    metadata,
    Column("export_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    #: The Administrator's user id, or ``operator``.
    Column("requested_by", String(36), nullable=False),
    #: running, finished, or aborted (the download stopped before the end).
    Column("status", String(10), nullable=False),
    Column("total_rows", Integer, nullable=False),
    Column("rows_written", Integer, nullable=False, default=0),
    Column("bytes_written", BigInteger, nullable=False, default=0),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    Index("ix_exports_tenant", "tenant_id", "started_at"),
)
