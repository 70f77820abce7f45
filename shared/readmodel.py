"""Read-model plumbing: engines for SQLite (embedded) or PostgreSQL, and the applied-events ledger.

A read model changes and records the ``event_id`` of every event it applied in one
transaction; a redelivered or re-published event is then recognised and skipped, so
at-least-once delivery never counts twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    TypeDecorator,
    create_engine,
    event,
    func,
    insert,
    select,
    text,
)

T = TypeVar("T")


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps go in and come out as aware UTC datetimes, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, _dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, _dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str) -> Engine:
    """An engine tuned for its database: WAL and a busy timeout on SQLite, a pool on PostgreSQL."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            # Deleted and overwritten rows are zeroed in the file, not left in free space
            # (an erased visitor's data must not be recoverable from a file copy).
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def applied_events_table(metadata: MetaData) -> Table:
    if "applied_events" in metadata.tables:
        return metadata.tables["applied_events"]
    return Table(
        "applied_events",
        metadata,
        Column("event_id", String(36), primary_key=True),
        Column("applied_at", UtcDateTime, server_default=func.now(), nullable=False),
    )


def only_new(
    conn: Connection,
    applied: Table,
    items: Sequence[T],
    event_id_of: callable,  # type: ignore[valid-type]
) -> list[T]:
    """The items whose event was never applied (and each event once even within the batch)."""
    ids = [str(event_id_of(item)) for item in items]
    seen: set[str] = set()
    for chunk in _chunks(ids, 500):
        seen.update(conn.scalars(select(applied.c.event_id).where(applied.c.event_id.in_(chunk))))
    fresh: list[T] = []
    for item, event_id in zip(items, ids, strict=True):
        if event_id not in seen:
            seen.add(event_id)
            fresh.append(item)
    return fresh


def mark_applied(conn: Connection, applied: Table, event_ids: Iterable[str]) -> None:
    rows = [{"event_id": str(event_id)} for event_id in event_ids]
    if rows:
        conn.execute(insert(applied), rows)


def ping(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def scrub(engine: Engine) -> None:
    """After an erasure: no old page images in SQLite's write-ahead log (the WAL keeps
    copies of pages as they were until it is reset). PostgreSQL's old row versions are
    invisible to SQL and to logical backups, and autovacuum reclaims them."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
