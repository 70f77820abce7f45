"""The retention purge (SPEC §3.4): a tenant whose contract ended more than 30 days ago
is deleted for good, here and, through ``TenantPurged``, in every other service.

Once a day (one replica at a time: the same PostgreSQL advisory lock the outbox relay
leads with; SQLite is one process) :meth:`RetentionPurge.run` purges every due tenant:

1. the audit record :class:`TenantPurge` is saved in the directory log (unless it is
   there): the relay publishes it as ``TenantPurged`` on ``directory-events``, in order
   after the tenant's other directory events, and every service deletes its rows;
2. a :class:`PurgeMark` goes into each log, then the stored events of every aggregate of
   the tenant are deleted from both event stores (and from the caches);
3. in one transaction that holds the view projector's positions, the tenant's views,
   credentials, sessions and password links are deleted; the audit record is finished
   with the counts.

Every step is idempotent and the tenant's ``tenants`` row goes last, so a run killed
half-way is finished by the next one (the tenant is still due until its row is gone).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from eventsourcing.sqlite import SQLiteAggregateRecorder
from sqlalchemy import Engine, delete, insert, select, text

from services.conversation.application.directory import Directory
from services.conversation.application.eventstore import CacheEvictingOnConflict
from services.conversation.domain.retention import PurgeMark, TenantPurge, purge_due
from services.conversation.store.positions import claim_position
from services.conversation.store.retention import retention_runs
from services.conversation.store.tables import (
    credentials,
    end_users,
    metadata,
    reset_tokens,
    tenants,
)
from shared.purge import delete_tenant_rows

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
#: Tables of this service that are not per-tenant data (and the run ledger).
KEEP = frozenset({retention_runs.name})
LEADER_KEY = zlib.crc32(b"retention-purge")
CHUNK = 500


def utc_now() -> datetime:
    return datetime.now(UTC)


class RetentionPurge:
    def __init__(
        self,
        engine: Engine,
        directory: Directory,
        conversations: CacheEvictingOnConflict,
        wake: Callable[[], None] = lambda: None,
        clock: Clock = utc_now,
        forget_files: Callable[[uuid.UUID], object] = lambda tenant_id: None,
    ) -> None:
        self.engine = engine
        #: Deletes the tenant's files (attachments) from the blob store; idempotent.
        self.forget_files = forget_files
        self.directory = directory
        self.conversations = conversations
        self.wake = wake
        self.clock = clock
        #: The service's loop: the purge runs in a worker thread and wakes the relays there.
        self.loop: asyncio.AbstractEventLoop | None = None

    # --- what is due ------------------------------------------------------------------

    def due(self, now: datetime) -> list[tuple[uuid.UUID, datetime]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(tenants.c.tenant_id, tenants.c.contract_end).where(
                    tenants.c.contract_end.is_not(None)
                )
            ).all()
        return [(uuid.UUID(t), end) for t, end in rows if purge_due(end, now)]

    def run(self, now: datetime | None = None) -> list[uuid.UUID]:
        """Purge every due tenant; returns the tenants purged (safe to run again)."""
        now = now or self.clock()
        purged = []
        for tenant_id, contract_end in self.due(now):
            self.purge_tenant(tenant_id, contract_end, now)
            purged.append(tenant_id)
        return purged

    # --- one tenant ---------------------------------------------------------------------

    def purge_tenant(self, tenant_id: uuid.UUID, contract_end: datetime, now: datetime) -> None:
        record = self._record(tenant_id, contract_end, now)
        deleted = self.delete_stored_events(tenant_id, keep={record.id})
        deleted |= self.delete_rows(tenant_id)
        self.forget_files(tenant_id)
        if record.finish(now, deleted):
            self.directory.save(record)
            self._wake()
        with self.engine.begin() as conn:  # last: until it is gone the tenant is still due
            conn.execute(delete(tenants).where(tenants.c.tenant_id == str(tenant_id)))
        log.info("tenant purged", extra={"tenant_id": str(tenant_id), "deleted": deleted})

    def _record(self, tenant_id: uuid.UUID, contract_end: datetime, now: datetime) -> TenantPurge:
        """The audit record, saved once (its id derives from the tenant, so two replicas
        cannot both save one); saving it is what publishes ``TenantPurged``."""
        record_id = TenantPurge.create_id(tenant_id)
        with contextlib.suppress(AggregateNotFoundError):
            return self.directory.repository.get(record_id)
        record = TenantPurge(tenant_id=tenant_id, contract_end=contract_end, purged_at=now)
        try:
            self.directory.save(record)
        except IntegrityError:
            return self.directory.repository.get(record_id)
        self._wake()
        return record

    def _wake(self) -> None:
        """Saved: the relay publishes now rather than at its next poll."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.wake)

    def delete_stored_events(self, tenant_id: uuid.UUID, keep: set[uuid.UUID]) -> dict[str, int]:
        """Every stored event of every aggregate of the tenant, in both logs."""
        deleted: dict[str, int] = {}
        for app in (self.directory, self.conversations):
            writing = getattr(app, "writing", contextlib.nullcontext())
            with writing:
                app.save(PurgeMark(at=self.clock()))
                ids = [i for i in self._aggregates_of(app, tenant_id) if i not in keep]
                count = _delete_events(app, ids)
                app.forget(*ids)
            if count:
                deleted[f"{app.name}_events"] = count
        self.directory.forget_contexts(tenant_id)  # inbound messages' cached settings
        return deleted

    def _aggregates_of(self, app: CacheEvictingOnConflict, tenant_id: uuid.UUID) -> set[uuid.UUID]:
        """The aggregates whose events name the tenant. A channel account another tenant
        holds now stays (its id is the outside account, not the tenant's)."""
        found = _originators_naming(app, tenant_id)
        mine = set()
        for originator_id, topic in found:
            if ":ChannelAccount." in topic:
                try:
                    account = app.repository.get(originator_id)
                except AggregateNotFoundError:
                    continue
                if account.tenant_id != tenant_id:
                    continue
            mine.add(originator_id)
        return mine

    def delete_rows(self, tenant_id: uuid.UUID) -> dict[str, int]:
        """The tenant's views and security store, but its ``tenants`` row (deleted last)."""
        with self.engine.begin() as conn:
            for log_name in (self.directory.name, self.conversations.name):
                claim_position(conn, f"views:{log_name}")  # the projector waits meanwhile
            users = set(
                conn.scalars(
                    select(end_users.c.user_id).where(end_users.c.tenant_id == str(tenant_id))
                )
            ) | set(
                conn.scalars(
                    select(credentials.c.user_id).where(credentials.c.tenant_id == str(tenant_id))
                )
            )
            links = 0
            user_list = sorted(users)
            for start in range(0, len(user_list), CHUNK):
                chunk = user_list[start : start + CHUNK]
                links += conn.execute(
                    delete(reset_tokens).where(reset_tokens.c.user_id.in_(chunk))
                ).rowcount
            deleted = delete_tenant_rows(conn, metadata, tenant_id, keep=KEEP | {tenants.name})
        if links:
            deleted[reset_tokens.name] = links
        return deleted

    # --- once a day, one replica ------------------------------------------------------------

    def run_today(self) -> list[uuid.UUID] | None:
        """Today's run, unless it happened (any replica) or another replica runs it now."""
        now = self.clock()
        today = now.date()
        if self._ran_on(today):
            return None
        leadership = self._try_lead()
        if leadership is None:
            return None
        try:
            if self._ran_on(today):
                return None
            purged = self.run(now)
            with self.engine.begin() as conn:
                conn.execute(
                    insert(retention_runs).values(
                        day=today, finished_at=self.clock(), tenants=len(purged)
                    )
                )
            return purged
        finally:
            if leadership is not True:
                self._step_down(leadership)

    def _ran_on(self, day: date) -> bool:
        with self.engine.connect() as conn:
            return (
                conn.scalar(select(retention_runs.c.day).where(retention_runs.c.day == day))
                is not None
            )

    def _try_lead(self) -> object | None:
        """PostgreSQL: the run belongs to the connection holding the advisory lock (as with
        the outbox relay); SQLite is one process."""
        if self.engine.dialect.name != "postgresql":
            return True
        conn = self.engine.connect()
        if conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_KEY}):
            conn.commit()
            return conn
        conn.close()
        return None

    @staticmethod
    def _step_down(leadership: Any) -> None:
        """Unlock before the connection goes back to the pool: a session lock outlives
        ``close()`` of a pooled connection, and would keep every replica from leading."""
        with contextlib.suppress(Exception):
            leadership.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LEADER_KEY})
            leadership.commit()
        with contextlib.suppress(Exception):
            leadership.close()

    async def run_daily(self, check_seconds: float) -> None:
        """Looks every ``check_seconds`` whether today's run is still to do; a run that
        failed or was killed half-way is done again at the next look."""
        while True:
            try:
                purged = await asyncio.to_thread(self.run_today)
                if purged:
                    log.info("retention purge ran", extra={"tenants": len(purged)})
            except Exception:
                log.warning("retention purge failed; will retry", exc_info=True)
            await asyncio.sleep(check_seconds)


# --- the event stores (SQLite file per log, or a PostgreSQL table per log) -----------------


def _needle(tenant_id: uuid.UUID) -> bytes:
    """How a stored event names the tenant: a UUID field in the library's JSON encoding."""
    return f'"_data_":"{tenant_id.hex}"'.encode()


def _originators_naming(app: CacheEvictingOnConflict, tenant_id: uuid.UUID) -> set[tuple[Any, str]]:
    recorder: Any = app.recorder
    table = recorder.events_table_name
    if isinstance(recorder, SQLiteAggregateRecorder):
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT DISTINCT originator_id, topic FROM {table} "
                "WHERE originator_id = ? OR instr(state, ?) > 0",
                [tenant_id.hex, _needle(tenant_id)],
            )
            return {(uuid.UUID(row[0]), row[1]) for row in cursor.fetchall()}
    from psycopg.sql import SQL, Identifier

    statement = SQL(
        "SELECT DISTINCT originator_id, topic FROM {}.{} "
        "WHERE originator_id = %s OR position(%s::bytea in state) > 0"
    ).format(Identifier(recorder.datastore.schema), Identifier(table))
    with recorder.datastore.get_connection() as conn, conn.cursor() as cursor:
        cursor.execute(statement, [tenant_id, _needle(tenant_id)])
        return {(row["originator_id"], row["topic"]) for row in cursor.fetchall()}


def _delete_events(app: CacheEvictingOnConflict, ids: list[uuid.UUID]) -> int:
    recorder: Any = app.recorder
    table = recorder.events_table_name
    count = 0
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        if isinstance(recorder, SQLiteAggregateRecorder):
            marks = ",".join("?" * len(chunk))
            with recorder.datastore.transaction(commit=True) as cursor:
                cursor.execute(
                    f"DELETE FROM {table} WHERE originator_id IN ({marks})", [i.hex for i in chunk]
                )
                cursor.execute("SELECT changes()")  # the library's cursor has no rowcount
                count += cursor.fetchone()[0]
        else:
            from psycopg.sql import SQL, Identifier

            statement = SQL("DELETE FROM {}.{} WHERE originator_id = ANY(%s)").format(
                Identifier(recorder.datastore.schema), Identifier(table)
            )
            with recorder.datastore.transaction(commit=True) as curs:
                curs.execute(statement, [chunk])
                count += curs.rowcount
    return count
