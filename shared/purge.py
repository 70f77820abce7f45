"""Deleting one tenant's rows from a service's own tables (the retention purge, SPEC §3.4).

Every service applies ``TenantPurged`` by calling :func:`delete_tenant_rows` on its own
metadata: each table with a ``tenant_id`` column loses that tenant's rows, except the
tables the service names as the operator's own records (billing's invoices). Deleting is
idempotent, so a redelivered or re-published ``TenantPurged`` finds nothing more to do.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import Column, Connection, MetaData, Table, delete

PURGED = "TenantPurged"


def tenant_tables(metadata: MetaData, keep: Collection[str] = ()) -> list[Table]:
    """The tables of ``metadata`` that hold rows per tenant, children before parents."""
    return [
        t for t in reversed(metadata.sorted_tables) if "tenant_id" in t.c and t.name not in keep
    ]


def delete_tenant_rows(
    conn: Connection, metadata: MetaData, tenant_id: uuid.UUID | str, keep: Collection[str] = ()
) -> dict[str, int]:
    """Delete the tenant's rows from every tenant table but ``keep``; rows deleted per table."""
    deleted: dict[str, int] = {}
    for table in tenant_tables(metadata, keep):
        result = conn.execute(delete(table).where(table.c.tenant_id == str(tenant_id)))
        if result.rowcount:
            deleted[table.name] = result.rowcount
    return deleted


def delete_mentioning(
    conn: Connection, table: Table, column: Column, tenant_id: uuid.UUID | str
) -> int:
    """Delete the rows whose text ``column`` names the tenant: outboxes and recorded
    outcomes keep whole envelopes (``"tenant_id": "<id>"``) rather than a tenant column."""
    pattern = f'%"tenant_id":"{tenant_id}"%'
    spaced = f'%"tenant_id": "{tenant_id}"%'
    result = conn.execute(delete(table).where(column.like(pattern) | column.like(spaced)))
    return result.rowcount or 0
