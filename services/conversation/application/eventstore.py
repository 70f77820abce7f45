"""Where the event store lives: one setting of ours mapped onto the eventsourcing library's.

``DATABASE_URL`` empty -> a SQLite file per application under ``DATA_DIR``;
``postgresql+psycopg://user:password@host:port/db`` -> PostgreSQL (tables named after
the application), the production choice.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from collections.abc import Collection
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit
from uuid import UUID

import orjson
from eventsourcing.application import Application, LRUCache, ProcessingEvent, Repository
from eventsourcing.domain import BaseAggregate, DomainEventProtocol
from eventsourcing.persistence import (
    DatetimeAsISO,
    IntegrityError,
    JSONTranscoder,
    Notification,
    Recording,
    Transcoder,
    UUIDAsHex,
)
from eventsourcing.sqlite import SQLiteAggregateRecorder, SQLiteConnectionPool, SQLiteFactory

#: Events kept after their save for the outbox relay and the view projector (see ``_notify``).
RECENT_EVENTS = 20_000
#: More foreign notifications than this since the last sync: the whole cache is dropped
#: rather than read through (a replica that was idle while others wrote a lot).
SYNC_SCAN_LIMIT = 5_000


#: What JSON writes as it is: no tag needed (exact types; subclasses such as enums are not).
_PLAIN = frozenset({str, int, bool, float, type(None)})


def _project(aggregate: Any, domain_events: Any) -> Any:
    """eventsourcing's ``project_aggregate`` without its per-event ``isinstance`` against a
    runtime-checkable Protocol: that check walks the protocol's members every time, and it
    was 11% of the conversation service's CPU (every get applies the events since the cache)."""
    for domain_event in domain_events:
        aggregate = domain_event.mutate(aggregate)
    return aggregate


class OrjsonTranscoder(JSONTranscoder):
    """The library's JSON format (``{"_type_": "uuid_hex", "_data_": ...}`` for what JSON
    lacks), written by orjson: the standard library's encoder, calling back into Python for
    every UUID and datetime, was the largest single cost of saving an event. What is stored
    decodes exactly as before (decoding stays the library's), and anything orjson refuses
    (an integer beyond 64 bits, say) is written by the library's encoder as before."""

    _uuid_tag: str | None = None
    _time_tag: str | None = None

    def encode(self, obj: Any) -> bytes:
        # The library's own UUID and datetime forms are written inline (see ``_tagged``).
        uuids, times = self.types.get(UUID), self.types.get(datetime)
        self._uuid_tag = uuids.name if type(uuids) is UUIDAsHex else None
        self._time_tag = times.name if type(times) is DatetimeAsISO else None
        try:
            return orjson.dumps(self._tagged(obj), option=orjson.OPT_NON_STR_KEYS)
        except orjson.JSONEncodeError:
            return super().encode(obj)

    def _tagged(self, o: Any) -> Any:
        """``o`` with every registered type as its tagged form (orjson would write UUIDs
        and datetimes its own way, untagged, and they would come back as strings)."""
        kind = type(o)
        if kind in _PLAIN:
            return o
        if kind is dict:
            # An event's state, the usual case: its plain values, ids and times are taken
            # inline rather than through a call each (half the cost of saving an event).
            uuid_tag, time_tag = self._uuid_tag, self._time_tag
            tagged = {}
            for k, v in o.items():
                t = type(v)
                if t in _PLAIN:
                    tagged[k] = v
                elif t is UUID and uuid_tag:
                    tagged[k] = {"_type_": uuid_tag, "_data_": v.hex}
                elif t is datetime and time_tag:
                    tagged[k] = {"_type_": time_tag, "_data_": v.isoformat()}
                else:
                    tagged[k] = self._tagged(v)
            return tagged
        if kind is list or kind is tuple:
            return [v if type(v) in _PLAIN else self._tagged(v) for v in o]
        transcoding = self.types.get(kind)
        if transcoding is not None:
            data = transcoding.encode(o)
            return {
                "_type_": transcoding.name,
                "_data_": data if type(data) in _PLAIN else self._tagged(data),
            }
        if isinstance(o, dict):
            return {k: self._tagged(v) for k, v in o.items()}
        if isinstance(o, list | tuple):
            return [self._tagged(v) for v in o]
        if isinstance(o, str | int | float):  # str and int enums: their value, as json writes
            return o
        return self._encode_obj(o)  # raises: no transcoding, as the library does


class _Repository(Repository):
    def get(self, aggregate_id: Any, *, projector_func: Any = _project, **kwargs: Any) -> Any:
        return super().get(aggregate_id, projector_func=projector_func, **kwargs)


class CacheEvictingOnConflict(Application):
    """An application that drops aggregates from its cache when their save collides.

    Another replica may save between our get and our save; the save then fails on the
    stored version, and the aggregates of that save are dropped from the cache so the
    retry (the batch's redelivery, the user's next click) starts from the stored state.

    It also keeps the events it just saved, by notification id (:meth:`domain_event`), and,
    when ``synced_cache`` is set, trades the library's per-read fast-forward (a SELECT of
    the aggregate's newer events on every cached get) for one check per unit of work
    (:meth:`sync_cache`).
    """

    #: Set by an application whose every repository read runs under one writer lock that
    #: calls :meth:`sync_cache` first (:class:`Conversations`).
    synced_cache = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._recent: dict[int, DomainEventProtocol[Any]] = {}
        self._recent_order: deque[int] = deque()
        self._recent_lock = threading.Lock()
        super().__init__(*args, **kwargs)
        #: Every write to the log up to this notification id is in the cache (or evicted).
        self._synced_to = (self.recorder.max_notification_id() or 0) if self.synced_cache else 0

    def construct_transcoder(self) -> Transcoder:
        transcoder = OrjsonTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def construct_repository(self) -> Repository:
        repository = super().construct_repository()
        repository.__class__ = _Repository  # the same state; only ``get``'s projector differs
        if self.synced_cache and repository.cache is not None:
            # No fast-forward on a cached get; and the library then puts what a save
            # recorded in the cache, so the next batch finds a new conversation there.
            repository.fastforward = False
        return repository

    def save(self, *aggregates: Any, **kwargs: Any) -> Any:
        try:
            return self._save_collected(aggregates, kwargs)
        except IntegrityError:
            self.forget(*(a.id for a in aggregates if a is not None))
            raise

    def _save_collected(
        self, objs: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> list[Recording[Any]]:
        """The library's ``Application.save`` (9.5) with a cheap check for our aggregates:
        its ``isinstance`` against two runtime-checkable Protocols walks their members for
        every aggregate saved (6% of the service's CPU under load)."""
        processing_event: ProcessingEvent[Any] = ProcessingEvent()
        for obj in objs:
            if isinstance(obj, BaseAggregate):
                processing_event.events.extend(obj.collect_events())
                processing_event.aggregates[obj.id] = obj
            elif obj is not None:
                processing_event.collect_events(obj)
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # the library's deprecated hook, kept
        return recordings

    def forget(self, *aggregate_ids: Any) -> None:
        cache = self.repository.cache
        if cache is None:
            return
        for aggregate_id in aggregate_ids:
            with contextlib.suppress(KeyError):
                cache.get(aggregate_id, evict=True)

    # --- the events just saved ----------------------------------------------------------

    def _notify(self, recordings: list[Recording[Any]]) -> None:
        """Keep what was just recorded: the relay and the projector read these notifications
        back moments later, and decoding every stored event twice more was a fifth of the
        service's CPU. Also moves the sync point past our own contiguous writes."""
        if not recordings:
            return
        ids = [r.notification.id for r in recordings]
        with self._recent_lock:
            for notification_id, recording in zip(ids, recordings, strict=True):
                self._recent[notification_id] = recording.domain_event
                self._recent_order.append(notification_id)
            while len(self._recent_order) > RECENT_EVENTS:
                self._recent.pop(self._recent_order.popleft(), None)
        if self.synced_cache and ids == list(
            range(self._synced_to + 1, self._synced_to + 1 + len(ids))
        ):
            self._synced_to = ids[-1]

    def forget_recent(self, originator_ids: set[UUID]) -> None:
        """Drop the kept events of these aggregates (an erasure: they hold clear text)."""
        with self._recent_lock:
            for notification_id, domain_event in list(self._recent.items()):
                if domain_event.originator_id in originator_ids:
                    del self._recent[notification_id]

    def events_after(
        self, position: int, limit: int, head: int | None = None
    ) -> list[tuple[int, Any]]:
        """The log's next notifications after ``position`` (at most ``limit``) as
        (notification id, domain event): from the events kept here when every one of them
        is (the usual case: this process wrote them moments ago), else read and decoded.

        The head comes from one ``max(notification id)``, so the kept events stand for
        exactly the stored ones; an id not kept (another replica's write, a gap a failed
        save left in PostgreSQL's sequence, an erasure's forgetting) sends the whole page
        to the store. ``head``: the log's head as the caller just read it."""
        if head is None:
            head = self.recorder.max_notification_id() or 0
        stop = min(head, position + limit)
        if stop <= position:
            return []
        with self._recent_lock:
            recent = self._recent
            kept = [(i, recent.get(i)) for i in range(position + 1, stop + 1)]
        if all(event is not None for _, event in kept):
            return kept
        notes = self.recorder.select_notifications(start=position + 1, limit=limit)
        return [(note.id, self.domain_event(note)) for note in notes]

    def domain_event(self, notification: Notification) -> Any:
        """The domain event of a notification of this log, decoded only if not saved here."""
        domain_event = self._recent.get(notification.id)
        if domain_event is None:
            return self.mapper.to_domain_event(notification)
        return domain_event

    def stored_ids(self, ids: Collection[UUID]) -> set[UUID] | None:
        """Which of ``ids`` have events in the store, in one query; None where the store is
        neither SQLite nor PostgreSQL. A batch of inbound messages asks this for the visitors
        it has not cached, instead of one SELECT per new visitor that finds nothing.

        An aggregate that has events has its first (every aggregate starts at version 1,
        and a purge deletes all of them): asking for exactly that key is one index probe per
        id, where "any version" let PostgreSQL choose a scan of the whole table whenever
        its statistics lagged behind a growing log (10-17 ms per batch, writer lock held)."""
        if not ids:
            return set()
        recorder: Any = self.recorder
        table = recorder.events_table_name
        found: set[UUID] = set()
        if isinstance(recorder, SQLiteAggregateRecorder):
            wanted = [i.hex for i in ids]
            for start in range(0, len(wanted), 500):  # SQLite's bound-parameter limit
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                with recorder.datastore.transaction(commit=False) as cursor:
                    cursor.execute(
                        f"SELECT originator_id FROM {table} "
                        f"WHERE originator_id IN ({marks}) AND originator_version = 1",
                        chunk,
                    )
                    found.update(UUID(row[0]) for row in cursor.fetchall())
            return found
        if type(recorder).__module__ == "eventsourcing.postgres":
            from psycopg.sql import SQL, Identifier

            statement = SQL(
                "SELECT originator_id FROM {}.{} WHERE originator_id = ANY(%s)"
                " AND originator_version = 1"
            )
            query = statement.format(Identifier(recorder.datastore.schema), Identifier(table))
            with recorder.datastore.get_connection() as conn, conn.cursor() as cursor:
                cursor.execute(query, [list(ids)])
                found.update(row["originator_id"] for row in cursor.fetchall())
            return found
        return None

    # --- the cache, checked once per unit of work -----------------------------------------

    def sync_cache(self) -> None:
        """Make the cache current with the log's head: evict each aggregate another writer
        (a replica on PostgreSQL) changed since the last sync; ours are current already.

        One ``max(notification_id)`` when nobody else wrote, instead of a SELECT per read.
        Called under the writer lock before a batch or command; a write landing after it
        is still caught by the save's version check (collision, eviction, retry). Our own
        saves move the sync point (``_notify``) when nothing else came between.
        """
        cache = self.repository.cache
        if not self.synced_cache or cache is None:
            return
        head = self.recorder.max_notification_id() or 0
        if head <= self._synced_to:
            return
        if head - self._synced_to > SYNC_SCAN_LIMIT:
            self.repository.cache = LRUCache(maxsize=getattr(cache, "maxsize", RECENT_EVENTS))
        else:
            notes = self.recorder.select_notifications(
                start=self._synced_to + 1, stop=head, limit=head - self._synced_to
            )
            for note in notes:
                try:
                    cached = cache.get(note.originator_id)
                except KeyError:
                    continue
                if cached.version < note.originator_version:
                    with contextlib.suppress(KeyError):
                        cache.get(note.originator_id, evict=True)
        self._synced_to = head


class _NormalSyncPool(SQLiteConnectionPool):
    def _create_connection(self) -> Any:
        connection = super()._create_connection()
        connection._sqlite_conn.execute("PRAGMA synchronous=NORMAL")
        return connection


class SQLiteEventStore(SQLiteFactory):
    """The library's SQLite persistence with ``synchronous=NORMAL``, like every read model.

    In WAL mode the library's default (``FULL``) syncs the log to disk on every commit:
    6 ms of waiting per batch on our machines, against 15 us. ``NORMAL`` loses no commit
    to a crashed or killed process (the WAL is in the OS's hands at commit); only a
    power cut or kernel crash may roll back the last commits, which is also what the
    broker risks (Kafka acknowledges from the page cache). PostgreSQL is untouched.
    """

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        pool = self.datastore.pool  # no connection made yet: the pool opens them lazily
        self.datastore.pool = _NormalSyncPool(db_name=pool.db_name, lock_timeout=pool.lock_timeout)


def event_store_env(database_url: str, data_dir: Path, application: str) -> dict[str, str]:
    common = {
        "AGGREGATE_CACHE_MAXSIZE": "20000",
        # A cached get reads only the events saved since (another replica's, on PostgreSQL):
        # without it a replica would decide on stale state and, where it saves nothing,
        # never find out.
        "AGGREGATE_CACHE_FASTFORWARD": "y",
    }
    if not database_url or database_url.startswith("sqlite"):
        if database_url.startswith("sqlite:///"):
            base = Path(database_url.removeprefix("sqlite:///")).parent
        else:
            base = data_dir
        base.mkdir(parents=True, exist_ok=True)
        return common | {
            "PERSISTENCE_MODULE": f"{__name__}:{SQLiteEventStore.__name__}",
            "SQLITE_DBNAME": str((base / f"{application}-events.sqlite").resolve()),
        }
    parts = urlsplit(database_url)
    if not parts.scheme.startswith("postgres"):
        raise ValueError(f"unsupported DATABASE_URL scheme {parts.scheme!r}")
    common |= _libpq_parameters(parts.query)
    return common | {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parts.path.lstrip("/"),
        "POSTGRES_HOST": parts.hostname or "localhost",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_POOL_SIZE": "5",
        "POSTGRES_MAX_OVERFLOW": "5",
        "CREATE_TABLE": "y",
    }


#: libpq parameters of a ``DATABASE_URL`` query and the environment variable libpq reads
#: for each. The eventsourcing library takes host, port, user, password and database
#: only; TLS and the rest reach its connections through libpq's own environment, so
#: ``?sslmode=verify-full&sslrootcert=...`` protects the event store as it does the views.
LIBPQ_ENVIRONMENT = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
    "sslnegotiation": "PGSSLNEGOTIATION",
    "channel_binding": "PGCHANNELBINDING",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "application_name": "PGAPPNAME",
    "options": "PGOPTIONS",
    "gssencmode": "PGGSSENCMODE",
}


def _libpq_parameters(query: str) -> dict[str, str]:
    """Keeps the URL's parameters: libpq's through its environment (set in this process,
    which has one database), ``connect_timeout`` as the library's own setting."""
    env: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "connect_timeout":
            env["POSTGRES_CONNECT_TIMEOUT"] = value
        elif name in LIBPQ_ENVIRONMENT:
            os.environ[LIBPQ_ENVIRONMENT[name]] = value
        else:
            raise ValueError(
                f"DATABASE_URL parameter {name!r} is not one the event store can pass on "
                f"(known: connect_timeout, {', '.join(sorted(LIBPQ_ENVIRONMENT))})"
            )
    return env
