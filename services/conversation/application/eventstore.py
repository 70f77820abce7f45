"""Where the event store lives: one setting of ours mapped onto the eventsourcing library's.

``DATABASE_URL`` empty -> a SQLite file per application under ``DATA_DIR``;
``postgresql+psycopg://user:password@host:port/db`` -> PostgreSQL (tables named after
the application), the production choice.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from eventsourcing.application import Application, Repository
from eventsourcing.persistence import IntegrityError


def _project(aggregate: Any, domain_events: Any) -> Any:
    """eventsourcing's ``project_aggregate`` without its per-event ``isinstance`` against a
    runtime-checkable Protocol: that check walks the protocol's members every time, and it
    was 11% of the conversation service's CPU (every get applies the events since the cache)."""
    for domain_event in domain_events:
        aggregate = domain_event.mutate(aggregate)
    return aggregate


class _Repository(Repository):
    def get(self, aggregate_id: Any, *, projector_func: Any = _project, **kwargs: Any) -> Any:
        return super().get(aggregate_id, projector_func=projector_func, **kwargs)


class CacheEvictingOnConflict(Application):
    """An application that drops aggregates from its cache when their save collides.

    Another replica may save between our get and our save; the save then fails on the
    stored version, and the aggregates of that save are dropped from the cache so the
    retry (the batch's redelivery, the user's next click) starts from the stored state.
    """

    def construct_repository(self) -> Repository:
        repository = super().construct_repository()
        repository.__class__ = _Repository  # the same state; only ``get``'s projector differs
        return repository

    def save(self, *aggregates: Any, **kwargs: Any) -> Any:
        try:
            return super().save(*aggregates, **kwargs)
        except IntegrityError:
            self.forget(*(a.id for a in aggregates if a is not None))
            raise

    def forget(self, *aggregate_ids: Any) -> None:
        cache = self.repository.cache
        if cache is None:
            return
        for aggregate_id in aggregate_ids:
            with contextlib.suppress(KeyError):
                cache.get(aggregate_id, evict=True)


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
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
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
