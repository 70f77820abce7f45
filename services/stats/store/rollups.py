"""The dashboard's queries on the rollup tables: one per report, summed per bucket and
dimension over the tenant's rows covering the period (``application.reports`` makes the
summary, breakdown and figures from what they return)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import BigInteger, Connection, Table, and_, cast, func, or_, select

from services.stats.domain.buckets import Period, segments
from services.stats.domain.figures import Row
from services.stats.store import end_users
from services.stats.store.access import bucket_of


def series(
    conn: Connection,
    table: Table,
    tenant_id: str,
    period: Period,
    channel: str | None,
    dimensions: Sequence[str],
    measures: Sequence[str],
) -> list[Row]:
    """The report's one query: measures summed per bucket and dimension, in order."""
    bucket = bucket_of(conn.dialect.name, table.c.day, period.bucket).label("bucket")
    dims = [table.c[d] for d in dimensions]
    query = (
        select(bucket, *dims, *_sums(table, measures))
        .where(*_scope(table, tenant_id, period, channel))
        .group_by(bucket, *dims)
        .order_by(bucket, *dims)
    )
    return _rows(conn, query, ["bucket", *dimensions], measures)


def totals(
    conn: Connection,
    table: Table,
    tenant_id: str,
    period: Period,
    channel: str | None,
    dimensions: Sequence[str],
    measures: Sequence[str],
) -> list[Row]:
    """Measures summed per dimension over the whole period (whole months where they fit)."""
    dims = [table.c[d] for d in dimensions]
    query = (
        select(*dims, *_sums(table, measures))
        .where(*_scope(table, tenant_id, period, channel, grain="month"))
        .group_by(*dims)
        .order_by(*dims)
    )
    return _rows(conn, query, list(dimensions), measures)


def _scope(
    table: Table, tenant_id: str, period: Period, channel: str | None, grain: str | None = None
) -> list:  # type: ignore[type-arg]
    """The tenant's rows covering the period: whole weeks or months from their own rows
    where the bucket allows (``grain``), single days at the edges."""
    parts = segments(period.first_day, period.last_day, grain or period.bucket)
    scope = [
        table.c.tenant_id == tenant_id,
        or_(*(and_(table.c.grain == g, table.c.day.between(lo, hi)) for g, lo, hi in parts)),
    ]
    if channel:
        scope.append(table.c.channel_type == channel)
    return scope


def _sums(table: Table, measures: Sequence[str]) -> list:  # type: ignore[type-arg]
    # BIGINT, not PostgreSQL's numeric for sums of bigints: plain ints come back.
    return [cast(func.sum(table.c[m]), BigInteger).label(m) for m in measures]


def _rows(conn: Connection, query, keys: list[str], measures: Sequence[str]) -> list[Row]:  # type: ignore[no-untyped-def]
    names = [*keys, *measures]
    return [dict(zip(names, row, strict=True)) for row in conn.execute(query).all()]


def end_user_names(conn: Connection, tenant_id: str) -> dict[str, str]:
    """The tenant's end users' names (deleted ones too: past figures still name them)."""
    return {
        r.user_id: f"{r.first_name} {r.last_name}".strip()
        for r in conn.execute(
            select(end_users.c.user_id, end_users.c.first_name, end_users.c.last_name).where(
                end_users.c.tenant_id == tenant_id
            )
        )
    }
