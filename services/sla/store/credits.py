"""The SQL of a claim: the tenant's queue, the credits granted (one row per breach)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from services.sla.store.tables import credits, tenants


def queue_claims_of(conn: Connection, tenant_id: str) -> Row | None:
    """The tenant's row, after a no-op write to it: claims of one tenant queue here (the
    row lock on PostgreSQL, the write lock on SQLite), so two claims never both use the
    same cap room. None: the tenant is unknown."""
    conn.execute(
        update(tenants).where(tenants.c.tenant_id == tenant_id).values(plan=tenants.c.plan)
    )
    return conn.execute(select(tenants).where(tenants.c.tenant_id == tenant_id)).first()


def granted_amount(conn: Connection, credit_id: str) -> int | None:
    """The amount of the credit already granted under this id, if any."""
    return conn.scalar(select(credits.c.amount_cents).where(credits.c.credit_id == credit_id))


def insert_credit(conn: Connection, **credit: Any) -> None:
    conn.execute(insert(credits).values(**credit))
