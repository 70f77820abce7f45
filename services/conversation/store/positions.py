"""Durable positions in the event logs (for the projector and the outbox relay)."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from services.conversation.store.tables import log_positions


def read_position(conn: Connection, name: str) -> int:
    row = conn.execute(select(log_positions.c.position).where(log_positions.c.name == name)).first()
    return int(row[0]) if row else 0


def write_position(conn: Connection, name: str, position: int) -> None:
    changed = conn.execute(
        update(log_positions).where(log_positions.c.name == name).values(position=position)
    ).rowcount
    if not changed:
        conn.execute(insert(log_positions).values(name=name, position=position))


def claim_position(conn: Connection, name: str) -> int:
    """Read a position for updating it in this transaction, others waiting meanwhile.

    A no-op UPDATE first takes the row's write lock (PostgreSQL row lock, SQLite's writer
    lock) before anything is read, so two projectors - threads or replicas on one
    database - never apply the same events twice.
    """
    locked = conn.execute(
        update(log_positions)
        .where(log_positions.c.name == name)
        .values(position=log_positions.c.position)
    ).rowcount
    if not locked:  # a new name: another replica may be inserting it at this moment
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(
            dialect.insert(log_positions).values(name=name, position=0).on_conflict_do_nothing()
        )
        conn.execute(
            update(log_positions)
            .where(log_positions.c.name == name)
            .values(position=log_positions.c.position)
        )
    return read_position(conn, name)
