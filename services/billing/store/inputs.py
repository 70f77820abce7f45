"""The SQL of billing's consumer: what it keeps of the directory and SLA events (tenants'
contracts, end users' activation periods, service credits), and a tenant's purge.

Plain functions on the batch's connection, so a batch stays one transaction
(``consumers`` decides what each event means; this reads and writes).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from services.billing.store.tables import activations, metadata, outbox, service_credits, tenants
from shared.purge import delete_mentioning, delete_tenant_rows

#: The operator's own records, kept after a tenant's purge (SPEC §3.4 names content,
#: configuration and statistics; invoices, payments and credits are accounting records
#: that hold amounts, periods and ids, no personal data). ``tenants`` holds the contract
#: terms credit notes of those invoices are computed from.
KEPT_AFTER_PURGE = frozenset(
    {"invoices", "invoice_lines", "payments", "service_credits", "tenants"}
)


def purge_tenant(conn: Connection, tenant_id: str) -> None:
    """The tenant's rows go, except the accounting records (``KEPT_AFTER_PURGE``)."""
    delete_tenant_rows(conn, metadata, tenant_id, keep=KEPT_AFTER_PURGE)
    delete_mentioning(conn, outbox, outbox.c.envelope, tenant_id)


def end_activation(conn: Connection, tenant_id: str, user_id: str, at: datetime) -> None:
    """Close the end user's open activation period, if it began by ``at``."""
    conn.execute(
        update(activations)
        .where(
            activations.c.tenant_id == tenant_id,
            activations.c.user_id == user_id,
            activations.c.deactivated_at.is_(None),
            activations.c.activated_at <= at,
        )
        .values(deactivated_at=at)
    )


def end_contract(conn: Connection, tenant_id: str, contract_end: datetime) -> None:
    conn.execute(
        update(tenants).where(tenants.c.tenant_id == tenant_id).values(contract_end=contract_end)
    )


def credit_known(conn: Connection, credit_id: str) -> bool:
    found = conn.scalar(
        select(service_credits.c.credit_id).where(service_credits.c.credit_id == credit_id)
    )
    return found is not None


def insert_credit(conn: Connection, **credit: Any) -> None:
    """A granted service credit (``credit``: its columns)."""
    conn.execute(insert(service_credits).values(**credit))


def tenant_known(conn: Connection, tenant_id: str) -> bool:
    return bool(conn.scalar(select(tenants.c.tenant_id).where(tenants.c.tenant_id == tenant_id)))


def insert_tenant(conn: Connection, **tenant: Any) -> Row:
    """The tenant's contract (``tenant``: its columns); returns the row as stored."""
    conn.execute(insert(tenants).values(**tenant))
    return conn.execute(select(tenants).where(tenants.c.tenant_id == tenant["tenant_id"])).one()


def open_activation(conn: Connection, tenant_id: str, user_id: str) -> datetime | None:
    """When the end user's open activation period began, if there is one."""
    return conn.scalar(
        select(activations.c.activated_at).where(
            activations.c.tenant_id == tenant_id,
            activations.c.user_id == user_id,
            activations.c.deactivated_at.is_(None),
        )
    )


def activation_at(conn: Connection, user_id: str, at: datetime) -> bool:
    """Whether a period of the end user began at exactly ``at`` (the table's key)."""
    found = conn.scalar(
        select(activations.c.user_id).where(
            activations.c.user_id == user_id, activations.c.activated_at == at
        )
    )
    return found is not None


def insert_activation(conn: Connection, tenant_id: str, user_id: str, at: datetime) -> None:
    conn.execute(insert(activations).values(user_id=user_id, activated_at=at, tenant_id=tenant_id))
