"""Upgrades without loss: Alembic migrations of the tables a service cannot rebuild from events.

Each service has a ``migrations`` package (``services/<name>/migrations/``): its revisions and a
:class:`Schema` naming its metadata and the tables it rebuilds itself (the conversation
service's views, dropped and replayed from the event store when ``VIEWS_VERSION`` changes),
which Alembic leaves alone. The event store's own tables belong to the eventsourcing library.

A store's ``MetaData(info={"migrations": "services.<name>.migrations"})`` names its package;
:func:`prepare` — what every service calls at start-up before it serves — upgrades the database
to the newest revision. A database made before Alembic (release ``90f08a5``, by ``create_all``)
is recognised by its tables and stamped with the baseline revision (its exact schema) first.
Replicas starting together take turns (a PostgreSQL advisory lock around the upgrade).

``python -m services.migrate`` runs the same upgrade as an operator command (a Kubernetes Job),
and makes a new revision (``revision``); ``docs/operations.md`` has the recipe.
"""

from __future__ import annotations

import fcntl
import importlib
import logging
import shutil
import sys
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, inspect, text

ENV_DIR = Path(__file__).with_name("migration_env")
log = logging.getLogger(__name__)
# Alembic says "Context impl SQLiteImpl." at every start; what changed is logged below.
logging.getLogger("alembic").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Schema:
    """One service's migrated tables: its metadata, where its revisions are, what it rebuilds."""

    service: str
    versions: Path
    metadata: tuple[MetaData, ...]
    #: Tables the service rebuilds from events by itself; neither migrated nor compared.
    rebuilt: frozenset[str] = field(default_factory=frozenset)
    #: The revision equal to the schema of the last release made with ``create_all``.
    baseline: str = "0001"
    #: SQL run after a restore (``services.backup``) so that what derives from events is
    #: rebuilt: positions to replay from, outboxes to publish again (consumers skip by id).
    after_restore: tuple[str, ...] = ()

    @property
    def version_table(self) -> str:
        """Per service, so that services sharing one database would not share a version."""
        return f"alembic_version_{self.service}"

    def managed_tables(self) -> list[str]:
        return sorted(
            name for md in self.metadata for name in md.tables if name not in self.rebuilt
        )

    def include_object(
        self, obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        """Only our migrated tables count: not the rebuilt views, nor tables no metadata of
        ours declares (the event store's, Alembic's own)."""
        table = obj if type_ == "table" else getattr(obj, "table", None)
        table_name = name if type_ == "table" else getattr(table, "name", None)
        if table_name in self.rebuilt:
            return False
        return not (type_ == "table" and reflected and compare_to is None)


def schema_of(metadata: MetaData) -> Schema | None:
    """The :class:`Schema` a metadata names in ``info["migrations"]`` (None: not migrated)."""
    package = metadata.info.get("migrations")
    return importlib.import_module(package).SCHEMA if package else None


def alembic_config(schema: Schema, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ENV_DIR))
    config.set_main_option("version_locations", str(schema.versions))
    config.set_main_option("path_separator", "os")
    config.attributes["schema"] = schema
    config.attributes["connection"] = connection
    return config


def _lock(connection: Connection, schema: Schema) -> None:
    """Replicas starting at once upgrade one after the other (PostgreSQL; SQLite is local)."""
    if connection.dialect.name == "postgresql":
        key = zlib.crc32(schema.version_table.encode())
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """SQLite has no advisory lock: processes on one file take turns on a lock file beside it."""
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:":
        yield
        return
    with open(f"{path}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def upgrade(engine: Engine, schema: Schema, revision: str = "head") -> None:
    """Bring the database to ``revision``; a pre-Alembic database is stamped baseline first."""
    with _sqlite_file_lock(engine), engine.begin() as connection:
        _lock(connection, schema)
        config = alembic_config(schema, connection)
        found = set(inspect(connection).get_table_names())
        if schema.version_table not in found and found & set(schema.managed_tables()):
            command.stamp(config, schema.baseline)
            log.info("database of before migrations stamped", extra={"revision": schema.baseline})
        context = MigrationContext.configure(
            connection, opts={"version_table": schema.version_table}
        )
        before = context.get_current_revision()
        command.upgrade(config, revision)
        after = context.get_current_revision()
        if after != before:
            log.info(
                "schema upgraded", extra={"service": schema.service, "from": before, "to": after}
            )


def prepare(engine: Engine, metadata: MetaData) -> None:
    """At start-up: migrate the tables (or create them, for a metadata without migrations)."""
    schema = schema_of(metadata)
    if schema is None:
        metadata.create_all(engine)
        return
    upgrade(engine, schema)
    rebuilt = [t for t in metadata.sorted_tables if t.name in schema.rebuilt]
    if rebuilt:
        metadata.create_all(engine, tables=rebuilt)


def current_revision(engine: Engine, schema: Schema) -> str | None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": schema.version_table}
        )
        return context.get_current_revision()


def head_revision(schema: Schema) -> str | None:
    return ScriptDirectory.from_config(alembic_config(schema)).get_current_head()


def differences(engine: Engine, schema: Schema) -> Sequence[Any]:
    """What the metadata has that the database (at head, say) has not, and the reverse."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "version_table": schema.version_table,
                "include_object": schema.include_object,
                "compare_type": True,
                "target_metadata": list(schema.metadata),
            },
        )
        return compare_metadata(context, list(schema.metadata))


def new_revision(engine: Engine, schema: Schema, message: str) -> str:
    """Write the revision that takes head to the metadata (autogenerated; review it!).

    ``engine`` is a scratch database: it is upgraded to head first, then compared.
    """
    upgrade(engine, schema)
    head = head_revision(schema)
    rev_id = f"{int(head or 0) + 1:04d}" if head is None or head.isdigit() else None
    with engine.begin() as connection:
        config = alembic_config(schema, connection)
        if ruff := shutil.which("ruff") or shutil.which(
            "ruff", path=str(Path(sys.executable).parent)
        ):
            # The project's format, so the new file passes ``ruff format --check`` as written.
            config.set_section_option("post_write_hooks", "hooks", "format")
            config.set_section_option("post_write_hooks", "format.type", "exec")
            config.set_section_option("post_write_hooks", "format.executable", ruff)
            config.set_section_option(
                "post_write_hooks", "format.options", "format REVISION_SCRIPT_FILENAME"
            )
        script = command.revision(
            config,
            message=message,
            autogenerate=True,
            rev_id=rev_id,
            version_path=str(schema.versions),
        )
    assert script is not None and not isinstance(script, list)
    return script.path
