"""Upgrades without loss: every service's database is migrated by Alembic, not ``create_all``.

- A database made by release ``90f08a5`` (``tests/fixtures/release_90f08a5``: its
  ``create_all`` schema with three rows in every table) upgrades in place at the service's
  start, on SQLite and PostgreSQL: every row is still there, the version is the head.
- Each service's metadata equals its migrations' head (Alembic's ``compare_metadata``), so a
  table or column added to a store without a revision fails here.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import inspect

from services.billing.migrations import SCHEMA as BILLING
from services.conversation.migrations import SCHEMA as CONVERSATION
from services.ingest.migrations import SCHEMA as INGEST
from services.routing.migrations import SCHEMA as ROUTING
from services.sla.migrations import SCHEMA as SLA
from services.stats.migrations import SCHEMA as STATS
from shared.migrations import (
    Schema,
    current_revision,
    differences,
    head_revision,
    prepare,
)
from shared.readmodel import make_engine
from tests.support.releases import load_release
from tests.support.tables import column_names, row_hashes

SCHEMAS = [CONVERSATION, INGEST, ROUTING, STATS, BILLING, SLA]
DIALECTS = ["sqlite", "postgresql"]


@pytest.fixture(params=DIALECTS)
def empty_database(request, tmp_path):  # type: ignore[no-untyped-def]
    """A function making an empty database of the dialect: name -> SQLAlchemy URL."""
    if request.param == "sqlite":
        return lambda name: f"sqlite:///{tmp_path / name}.sqlite"
    server = request.getfixturevalue("postgres")

    def make(name: str) -> str:
        database = f"mig_{name}_{uuid.uuid4().hex[:8]}"
        server.create_database(database)
        return server.url(database)

    return make


def migrate_at_start(engine, schema: Schema) -> None:  # type: ignore[no-untyped-def]
    """What a service does before it serves: ``prepare`` with each of its metadata."""
    for metadata in schema.metadata:
        prepare(engine, metadata)


#: Tables a later revision drops because nothing read them (no data of any use is lost).
DROPPED_ON_PURPOSE = {"ingest": {"channels"}}  # 0002: written from events, never read


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: s.service)
def test_a_database_of_the_previous_release_upgrades_in_place(empty_database, schema) -> None:
    url = empty_database(schema.service)
    load_release(url, schema.service)
    engine = make_engine(url)
    try:
        before, columns = row_hashes(engine), column_names(engine)
        # Every table of that release (tables added since come from later revisions).
        assert before, "the fixture is empty"
        assert all(count == 3 for count, _ in before.values())

        migrate_at_start(engine, schema)
        migrate_at_start(engine, schema)  # a second start (or a replica) changes nothing

        added = set(inspect(engine).get_table_names()) - set(before)  # by later revisions
        after = row_hashes(engine, skip=(schema.version_table, *added), columns=columns)
        dropped = DROPPED_ON_PURPOSE.get(schema.service, set())
        assert not dropped & set(after)
        # every row and value of every table, the rebuilt views' too
        assert after == {name: rows for name, rows in before.items() if name not in dropped}
        assert current_revision(engine, schema) == head_revision(schema)
        assert differences(engine, schema) == []
    finally:
        engine.dispose()


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: s.service)
def test_each_service_metadata_equals_its_migrations_head(empty_database, schema) -> None:
    engine = make_engine(empty_database(schema.service))
    try:
        migrate_at_start(engine, schema)
        assert current_revision(engine, schema) == head_revision(schema)
        # A table, column, index or type the metadata has and no revision made (or the reverse).
        assert differences(engine, schema) == []
        tables = set(inspect(engine).get_table_names())
        assert set(schema.managed_tables()) | schema.rebuilt | {schema.version_table} == tables
    finally:
        engine.dispose()


def test_replicas_starting_at_once_upgrade_one_after_the_other(empty_database) -> None:
    """Four replicas of a service start together on an empty database: all start, once."""
    url = empty_database("billing")
    engines = [make_engine(url) for _ in range(4)]
    try:
        with ThreadPoolExecutor(len(engines)) as pool:
            list(pool.map(lambda engine: migrate_at_start(engine, BILLING), engines))
        assert current_revision(engines[0], BILLING) == head_revision(BILLING)
        assert differences(engines[0], BILLING) == []
    finally:
        for engine in engines:
            engine.dispose()


def test_a_table_without_a_revision_is_a_difference(tmp_path) -> None:
    """The check above can fail: a metadata with one more table than the head differs."""
    from sqlalchemy import Column, MetaData, String, Table

    engine = make_engine(f"sqlite:///{tmp_path / 'billing.sqlite'}")
    migrate_at_start(engine, BILLING)
    extra = MetaData()
    Table("refunds", extra, Column("refund_id", String(36), primary_key=True))
    grown = Schema("billing", BILLING.versions, (*BILLING.metadata, extra))
    assert [d[0] for d in differences(engine, grown)] == ["add_table"]
    engine.dispose()
