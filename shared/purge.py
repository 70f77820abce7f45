"""Deleting one tenant's rows from a service's own tables (the retention purge, SPEC §3.4).

Every service applies ``TenantPurged`` by calling :func:`delete_tenant_rows` on its own
metadata: each table with a ``tenant_id`` column loses that tenant's rows, except the
tables the service names as the operator's own records (billing's invoices). Deleting is
idempotent, so a redelivered or re-published ``TenantPurged`` finds nothing more to do.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import Column, Connection, MetaData, String, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite

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


# --- after the purge: late and replayed events of the tenant are dropped ---------------


def purged_tenants_table(metadata: MetaData) -> Table:
    """Which tenants this service has purged, by a digest of the id (not the id itself:
    nothing that names the tenant remains). A consumer drops any later event of such a
    tenant — a replay from an old offset, or a topic read in parallel that lags — so a
    purged tenant's rows are not made again."""
    if "purged_tenants" in metadata.tables:
        return metadata.tables["purged_tenants"]
    return Table(
        "purged_tenants",
        metadata,
        Column("tenant_digest", String(64), primary_key=True),
    )


def tenant_digest(tenant_id: uuid.UUID | str) -> str:
    return hashlib.sha256(f"interact-purged-tenant/{tenant_id}".encode()).hexdigest()


def without_purged(conn: Connection, table: Table, deliveries: list[Any]) -> list[Any]:
    """The deliveries but those of tenants purged before; a ``TenantPurged`` is kept (and
    remembered here, in the caller's transaction), so applying it again stays harmless."""
    digests = {str(d.envelope.tenant_id): tenant_digest(d.envelope.tenant_id) for d in deliveries}
    known = set(
        conn.scalars(
            select(table.c.tenant_digest).where(table.c.tenant_digest.in_(digests.values()))
        )
    )
    kept = []
    for d in deliveries:
        digest = digests[str(d.envelope.tenant_id)]
        if d.envelope.type == PURGED:
            if digest not in known:  # two consumer groups of a service may race: no conflict
                dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
                conn.execute(
                    dialect.insert(table).values(tenant_digest=digest).on_conflict_do_nothing()
                )
                known.add(digest)
            kept.append(d)
        elif digest not in known:
            kept.append(d)
    return kept
