"""Durable positions in the event logs (for the projector and the outbox relay).

The statements are built once: they run several times per batch, and building and keying
a statement cost more than running it against SQLite.
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from services.conversation.store.tables import log_positions

_name = log_positions.c.name == bindparam("b_name")
_READ = select(log_positions.c.position).where(_name)
_WRITE = update(log_positions).where(_name).values(position=bindparam("b_position"))
_INSERT = insert(log_positions).values(name=bindparam("b_name"), position=bindparam("b_position"))
#: A no-op UPDATE: it takes the row's write lock (PostgreSQL row lock, SQLite's writer lock).
_LOCK = update(log_positions).where(_name).values(position=log_positions.c.position)
_CREATE = {
    dialect.__name__.rsplit(".", 1)[-1]: dialect.insert(log_positions)
    .values(name=bindparam("b_name"), position=0)
    .on_conflict_do_nothing()
    for dialect in (postgresql, sqlite)
}


def read_position(conn: Connection, name: str) -> int:
    row = conn.execute(_READ, {"b_name": name}).first()
    return int(row[0]) if row else 0


def write_position(conn: Connection, name: str, position: int) -> None:
    changed = conn.execute(_WRITE, {"b_name": name, "b_position": position}).rowcount
    if not changed:
        conn.execute(_INSERT, {"b_name": name, "b_position": position})


def claim_position(conn: Connection, name: str) -> int:
    """Read a position for updating it in this transaction, others waiting meanwhile.

    A no-op UPDATE first takes the row's write lock (PostgreSQL row lock, SQLite's writer
    lock) before anything is read, so two projectors - threads or replicas on one
    database - never apply the same events twice.
    """
    locked = conn.execute(_LOCK, {"b_name": name}).rowcount
    if not locked:  # a new name: another replica may be inserting it at this moment
        conn.execute(_CREATE[conn.dialect.name], {"b_name": name})
        conn.execute(_LOCK, {"b_name": name})
    return read_position(conn, name)
