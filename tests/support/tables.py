"""Row hashes per table: what "nothing lost" and "equal to the backup" are checked with."""

from __future__ import annotations

import hashlib

from sqlalchemy import Engine, MetaData, inspect, select


def row_hashes(
    engine: Engine, skip: tuple[str, ...] = (), columns: dict[str, list[str]] | None = None
) -> dict[str, tuple[int, str]]:
    """Every table of the database (as reflected) -> (row count, hash of its sorted rows).

    Values are compared as text so that a SQLite and a PostgreSQL copy of one table compare
    by content, whatever order the rows come in. ``columns`` limits a table to the columns
    it had (a migration may add some: the old ones must keep their values).
    """
    reflected = MetaData()
    reflected.reflect(engine)
    found: dict[str, tuple[int, str]] = {}
    with engine.connect() as conn:
        for name, table in sorted(reflected.tables.items()):
            if name in skip:
                continue
            chosen = sorted(
                (c for c in table.columns if columns is None or c.name in columns[name]),
                key=lambda c: c.name,
            )
            rows = sorted(repr(tuple(str(v) for v in row)) for row in conn.execute(select(*chosen)))
            digest = hashlib.sha256("\n".join(rows).encode()).hexdigest()
            found[name] = (len(rows), digest)
    return found


def column_names(engine: Engine) -> dict[str, list[str]]:
    found = inspect(engine)
    return {t: [c["name"] for c in found.get_columns(t)] for t in found.get_table_names()}
