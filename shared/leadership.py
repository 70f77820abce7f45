"""Leader election for the work one replica must do alone (outbox relays, scheduled jobs).

Every replica runs the same loops; each loop first becomes the leader of its name, and the
others stand by until the leader goes. The lock lives exactly as long as its holder:

- PostgreSQL: a session advisory lock on a connection kept open while leading. If the
  replica dies the connection closes, the server frees the lock and a standby takes over.
- SQLite (one host by nature): an exclusive ``flock`` on a file next to the database. The
  kernel frees it when the holder's process ends, however it ends.
- An in-memory database: one process, so it always leads.

A leader checks its lock before each piece of work (:meth:`Leadership.check`), so one that
lost it (a PostgreSQL connection killed) stops before writing anything more.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any, Protocol

from prometheus_client import Gauge
from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

LEADING = Gauge(
    "interact_leader", "1 while this replica leads the named work (relay, scheduler).", ["work"]
)
#: How often a standby asks for the lock.
STANDBY_SECONDS = 2.0


class LeadershipLost(Exception):
    """The lock is gone: another replica may be doing the work now."""


class Leadership(Protocol):
    name: str
    #: ``check`` asks the database (run it off the event loop); False: it looks at memory.
    check_blocks: bool

    def acquire(self) -> bool:
        """Take the lock if it is free; True when this replica leads (again) now."""

    def check(self) -> None:
        """Raise :class:`LeadershipLost` when the lock taken is no longer held."""

    def release(self) -> None:
        """Give the lock up (idempotent)."""


class AlwaysLeader:
    """One process by nature (an in-memory database)."""

    check_blocks = False

    def __init__(self, name: str) -> None:
        self.name = name

    def acquire(self) -> bool:
        return True

    def check(self) -> None:
        return None

    def release(self) -> None:
        return None


class AdvisoryLock:
    """PostgreSQL's session advisory lock, keyed by the work's name."""

    check_blocks = True

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine, self.name = engine, name
        self.key = zlib.crc32(name.encode())
        self._conn: Connection | None = None

    def acquire(self) -> bool:
        if self._conn is not None:
            return True
        conn = self.engine.connect()
        try:
            taken = conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key})
            conn.commit()
        except Exception:
            conn.close()
            raise
        if taken:
            self._conn = conn
            return True
        conn.close()
        return False

    def check(self) -> None:
        """The lock lives as long as its connection: if that is gone, so is the lock."""
        if self._conn is None:
            raise LeadershipLost(self.name)
        try:
            self._conn.scalar(text("SELECT 1"))
            self._conn.commit()
        except Exception as exc:
            self.release()
            raise LeadershipLost(f"{self.name}: {exc}") from exc

    def backend_pid(self) -> int | None:
        """The server process holding the lock (to tell which connection leads)."""
        if self._conn is None:
            return None
        pid = self._conn.scalar(text("SELECT pg_backend_pid()"))
        self._conn.commit()
        return int(pid) if pid is not None else None

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                # Closing the connection frees the lock (a pooled one is reset, not kept).
                conn.invalidate()
                conn.close()


class FileLock:
    """An exclusive ``flock`` on ``path``: one holder per host, freed when its process ends.

    ``flock`` locks belong to an open file, so two relays in one process exclude each other
    too (the tests run replicas that way)."""

    check_blocks = False

    def __init__(self, path: Path, name: str) -> None:
        self.path, self.name = path, name
        self._file: IO[bytes] | None = None

    def acquire(self) -> bool:
        if self._file is not None:
            return True
        handle = open(self.path, "ab")  # noqa: SIM115 - held open while leading
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def check(self) -> None:
        if self._file is None:
            raise LeadershipLost(self.name)

    def release(self) -> None:
        handle, self._file = self._file, None
        if handle is not None:
            with contextlib.suppress(Exception):
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()


def leadership_for(engine: Engine, name: str) -> Leadership:
    """The lock that fits ``engine``'s database, for the work called ``name``."""
    if engine.dialect.name == "postgresql":
        return AdvisoryLock(engine, name)
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
        return FileLock(Path(f"{os.path.abspath(database)}.{safe}.lock"), name)
    return AlwaysLeader(name)


async def wait_to_lead(
    leadership: Leadership,
    stopping: Callable[[], bool] = lambda: False,
    interval: float = STANDBY_SECONDS,
) -> bool:
    """Stand by until this replica leads (True) or ``stopping()`` (False)."""
    while not stopping():
        try:
            if await asyncio.to_thread(leadership.acquire):
                LEADING.labels(leadership.name).set(1)
                return True
        except Exception:
            log.debug("leadership cannot be asked for yet", exc_info=True)
        await asyncio.sleep(interval)
    return False


def step_down(leadership: Leadership) -> None:
    leadership.release()
    LEADING.labels(leadership.name).set(0)


async def run_as_leader(
    leadership: Leadership,
    work: Callable[[], Awaitable[Any]],
    interval: float = STANDBY_SECONDS,
) -> None:
    """Run ``work`` (a loop) only while leading; stand by again when the lock is lost.

    For periodic jobs: ``work`` is cancelled as soon as a check finds the lock gone.
    """
    while True:
        await wait_to_lead(leadership, interval=interval)
        task = asyncio.ensure_future(work())
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=interval * 5)
                if not task.done():
                    await asyncio.to_thread(leadership.check)
            task.result()  # a job that ended on its own ends here too
            return
        except LeadershipLost:
            log.warning("leadership lost; standing by", extra={"work": leadership.name})
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            step_down(leadership)
