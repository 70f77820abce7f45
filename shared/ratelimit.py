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

Under load the writes are coalesced (:class:`CoalescingLimiter`): the checks that arrive
while a batch is being counted wait for the next batch, and a batch is one transaction
with one multi-row upsert per stage that adds each bucket's number of hits at once
(``hits = hits + n RETURNING hits``). The returned total says which of the batch's hits
were the last ones, so the count stays exact at N replicas; one commit per batch
instead of one per check was most of ingest's CPU per message.

Keys are SHA-256 hashed before they are stored: a table of counters holds no emails or
addresses. Windows older than a day are deleted now and then by the hits themselves (no
timer to run).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, Engine, Integer, MetaData, String, Table, delete

#: One in this many hits also sweeps the windows that have ended.
SWEEP_ONE_IN = 200
#: Rows per multi-row upsert (3 bound parameters each; SQLite allows 32,766).
ROWS_PER_STATEMENT = 500

#: One request's checks, narrowest first: (limit, key) pairs.
Checks = Sequence[tuple["Limit", str]]


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

    def hit(self, limit: Limit, key: str) -> Verdict:
        """Counts one hit for ``key``; refused once the window's count passes the limit."""
        return self.hit_many([[(limit, key)]])[0]

    def hit_all(self, checks: Checks) -> Verdict:
        """The checks in order, narrowest first; the first refusal stops, so the wider
        limits count only what the narrower let through (one flooding address does not
        spend the whole website's allowance)."""
        return self.hit_many([checks])[0]

    def hit_many(self, requests: Sequence[Checks]) -> list[Verdict]:
        """:meth:`hit_all` for each request, in one transaction.

        Stage by stage (the first check of every request, then the second of those still
        allowed, ...), each bucket's hits are added at once and the total it returns
        numbers them: the request holding hit number k of a window is allowed when
        k <= the limit, as if the hits had been counted one by one in the batch's order.
        """
        now = self.clock()
        verdicts = [Verdict(True, 0) for _ in requests]
        pending = [i for i, checks in enumerate(requests) if checks]
        with self.engine.begin() as conn:
            stage = 0
            while pending:
                # (bucket, window_start) -> the requests hitting it, in order
                hits: dict[tuple[str, int], list[int]] = {}
                meta: dict[tuple[str, int], Limit] = {}
                for index in pending:
                    limit, key = requests[index][stage]
                    slot = (_bucket(limit, key), _window_start(limit, now))
                    hits.setdefault(slot, []).append(index)
                    meta[slot] = limit
                totals = self._add(conn, {slot: len(who) for slot, who in hits.items()})
                still: list[int] = []
                for slot, who in hits.items():
                    limit, first = meta[slot], totals[slot] - len(who) + 1
                    for number, index in enumerate(who, start=first):
                        if number > limit.hits:
                            retry_after = max(1, math.ceil(slot[1] + limit.window_seconds - now))
                            verdicts[index] = Verdict(False, retry_after)
                        elif stage + 1 < len(requests[index]):
                            still.append(index)
                pending, stage = sorted(still), stage + 1
            if random.randrange(SWEEP_ONE_IN) < max(1, len(requests)):
                horizon = int(now) - 24 * 3600
                conn.execute(delete(self.table).where(self.table.c.window_start < horizon))
        return verdicts

    def _add(self, conn, counts: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:  # type: ignore[no-untyped-def]
        """Adds each slot's count with multi-row upserts; the totals after, per slot.

        Plain SQL through the driver (the same on PostgreSQL and SQLite): a SQLAlchemy
        statement with a different number of rows each time is compiled anew each time."""
        totals: dict[tuple[str, int], int] = {}
        # In one order everywhere: two replicas' batches lock shared rows without deadlocking.
        rows = sorted(counts.items())
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        name = self.table.name
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start : start + ROWS_PER_STATEMENT]
            values = ",".join([f"({mark},{mark},{mark})"] * len(chunk))
            params = tuple(v for (bucket, window), n in chunk for v in (bucket, window, n))
            result = conn.exec_driver_sql(
                f"INSERT INTO {name} (bucket, window_start, hits) VALUES {values} "
                f"ON CONFLICT (bucket, window_start) DO UPDATE SET hits = {name}.hits + "
                "excluded.hits RETURNING bucket, window_start, hits",
                params,
            )
            for bucket, window_start, total in result:
                totals[(bucket, window_start)] = total
        return totals


def _bucket(limit: Limit, key: str) -> str:
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return f"{limit.name[:39]}:{digest}"


def _window_start(limit: Limit, now: float) -> int:
    return int(now // limit.window_seconds * limit.window_seconds)


class CoalescingLimiter:
    """A :class:`SharedLimiter` for async code: checks that arrive while a batch is being
    counted (in a worker thread) are counted together in the next one, so under load a
    commit serves many requests, and alone a check costs what it did before."""

    def __init__(self, limiter: SharedLimiter) -> None:
        self.limiter = limiter
        self._waiting: list[tuple[Checks, asyncio.Future[Verdict]]] = []
        self._counting: asyncio.Task[None] | None = None

    async def hit_all(self, checks: Checks) -> Verdict:
        future: asyncio.Future[Verdict] = asyncio.get_running_loop().create_future()
        self._waiting.append((checks, future))
        if self._counting is None:  # held here: the loop keeps only a weak reference
            self._counting = asyncio.get_running_loop().create_task(self._count())
        return await future

    async def _count(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    verdicts = await asyncio.to_thread(
                        self.limiter.hit_many, [checks for checks, _ in batch]
                    )
                except Exception as exc:  # each waiter sees the database's failure
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                except BaseException:  # cancelled (shutdown): so are the waiters
                    for _, future in batch:
                        future.cancel()
                    raise
                for (_, future), verdict in zip(batch, verdicts, strict=True):
                    if not future.done():
                        future.set_result(verdict)
        finally:
            self._counting = None
