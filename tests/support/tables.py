"""Row hashes per table: what "nothing lost" and "equal to the backup" are checked with."""

from __future__ import annotations

import hashlib

from sqlalchemy import Engine, MetaData, select


def row_hashes(engine: Engine, skip: tuple[str, ...] = ()) -> dict[str, tuple[int, str]]:
    """Every table of the database (as reflected) -> (row count, hash of its sorted rows).

    Values are compared as text so that a SQLite and a PostgreSQL copy of one table compare
    by content, whatever order the rows come in.
    """
    reflected = MetaData()
    reflected.reflect(engine)
    found: dict[str, tuple[int, str]] = {}
    with engine.connect() as conn:
        for name, table in sorted(reflected.tables.items()):
            if name in skip:
                continue
            columns = sorted(table.columns, key=lambda c: c.name)
            rows = sorted(
                repr(tuple(str(v) for v in row)) for row in conn.execute(select(*columns))
            )
            digest = hashlib.sha256("\n".join(rows).encode()).hexdigest()
            found[name] = (len(rows), digest)
    return found
