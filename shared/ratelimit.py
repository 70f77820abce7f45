"""Rate limits every replica of a service shares: fixed windows counted in its database.

Why not the ``limits`` library: its storages are memory (one process), Redis, Memcached,
MongoDB and etcd; none is SQL, and Interact runs on nothing but Kafka and its databases.
Memory would let an attacker multiply every limit by the number of replicas (and an
HPA scales them), so the counter lives where every replica already looks: the service's
own database. The counter is one row per (limit, hashed key, window start), bumped by a
single ``INSERT ... ON CONFLICT DO UPDATE SET hits = hits + 1 RETURNING hits``. It is
atomic on PostgreSQL and SQLite alike, so two replicas that count at once never both
see the last free slot. A fixed window lets a burst of at most twice the limit straddle a
window boundary; for login, reset mails and widget floods that bound is enough, and it
costs one indexed row write per counted request.

Keys are SHA-256 hashed before they are stored: a table of counters holds no emails or
addresses. Windows older than a day are deleted now and then by the hits themselves (no
timer to run).
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, Engine, Integer, MetaData, String, Table, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

#: One in this many hits also sweeps the windows that have ended.
SWEEP_ONE_IN = 200


def rate_limit_table(metadata: MetaData) -> Table:
    """The counters' table, added to a service's own metadata (created with its tables)."""
    return Table(
        "rate_limit_windows",
        metadata,
        Column("bucket", String(80), primary_key=True),  # limit name + hashed key
        Column("window_start", BigInteger, primary_key=True),  # epoch seconds
        Column("hits", Integer, nullable=False),
    )


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``hits`` per ``window_seconds`` for each key, under the name ``name``."""

    name: str
    hits: int
    window_seconds: int = 60


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    #: Whole seconds until the window ends (the ``Retry-After`` of a refusal).
    retry_after: int


class SharedLimiter:
    """Counts hits against :class:`Limit`s in ``table`` of ``engine`` (blocking: call it in
    a thread from async code)."""

    def __init__(self, engine: Engine, table: Table, clock=time.time) -> None:  # type: ignore[no-untyped-def]
        self.engine, self.table, self.clock = engine, table, clock
        dialect = engine.dialect.name
        self._insert = pg_insert if dialect == "postgresql" else sqlite_insert

    def hit(self, limit: Limit, key: str) -> Verdict:
        """Counts one hit for ``key``; refused once the window's count passes the limit."""
        now = self.clock()
        start = int(now // limit.window_seconds * limit.window_seconds)
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:40]
        bucket = f"{limit.name[:39]}:{digest}"
        statement = self._insert(self.table).values(bucket=bucket, window_start=start, hits=1)
        statement = statement.on_conflict_do_update(
            index_elements=["bucket", "window_start"],
            set_={"hits": self.table.c.hits + 1},
        ).returning(self.table.c.hits)
        with self.engine.begin() as conn:
            hits = conn.execute(statement).scalar_one()
            if random.randrange(SWEEP_ONE_IN) == 0:
                horizon = start - 24 * 3600
                conn.execute(delete(self.table).where(self.table.c.window_start < horizon))
        retry_after = max(1, math.ceil(start + limit.window_seconds - now))
        return Verdict(hits <= limit.hits, retry_after)

    def hit_all(self, checks: list[tuple[Limit, str]]) -> Verdict:
        """The checks in order, narrowest first; the first refusal stops, so the wider
        limits count only what the narrower let through (one flooding address does not
        spend the whole website's allowance)."""
        for limit, key in checks:
            verdict = self.hit(limit, key)
            if not verdict.allowed:
                return verdict
        return Verdict(True, 0)
