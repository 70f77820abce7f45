"""The throw-away PostgreSQL helper in tests/support/postgres.py."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

# `tests` is not an installed package: make the repository root importable when pytest is run
# without `pythonpath = ["."]` in its configuration.
_REPO_ROOT = str(Path(__file__).resolve().parents[3])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from tests.support.postgres import (  # noqa: E402
    ExternalPostgres,
    PostgresCluster,
    postgres_from_env_or_local,
)

DB_A = "support_a"
DB_B = "support_b"


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    pg = PostgresCluster()
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()  # idempotent: test_stop may already have stopped it


def test_url_shape(cluster: PostgresCluster) -> None:
    assert cluster.host == "127.0.0.1"
    assert cluster.user == "postgres"
    assert cluster.password
    assert cluster.url("x") == (
        f"postgresql+psycopg://postgres:{cluster.password}@127.0.0.1:{cluster.port}/x"
    )


def test_databases_are_separate(cluster: PostgresCluster) -> None:
    cluster.create_database(DB_A)
    cluster.create_database(DB_B)
    cluster.create_database(DB_A)  # idempotent

    engine_a = sa.create_engine(cluster.url(DB_A))
    engine_b = sa.create_engine(cluster.url(DB_B))
    try:
        with engine_a.begin() as conn:
            conn.execute(sa.text("CREATE TABLE item (id int PRIMARY KEY, name text NOT NULL)"))
            conn.execute(sa.text("INSERT INTO item VALUES (1, 'first')"))
        with engine_a.connect() as conn:
            assert conn.execute(sa.text("SELECT id, name FROM item")).all() == [(1, "first")]
        with engine_b.connect() as conn:
            assert conn.execute(sa.text("SELECT to_regclass('public.item')")).scalar() is None
            assert conn.execute(sa.text("SELECT current_database()")).scalar() == DB_B
    finally:
        engine_a.dispose()
        engine_b.dispose()


def test_wrong_password_is_rejected(cluster: PostgresCluster) -> None:
    with pytest.raises(psycopg.OperationalError):
        cluster.connect(password="wrong")


def test_drop_database(cluster: PostgresCluster) -> None:
    cluster.create_database("support_dropme")
    idle = cluster.connect("support_dropme")  # an open session must not block the drop
    try:
        cluster.drop_database("support_dropme")
    finally:
        idle.close()
    cluster.drop_database("support_dropme")  # idempotent
    with cluster.connect() as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = 'support_dropme'").fetchone()
    assert row is None


def test_server_settings(cluster: PostgresCluster) -> None:
    with cluster.connect() as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN"
                " ('max_connections', 'fsync', 'listen_addresses')"
            ).fetchall()
        )
    assert settings == {"max_connections": "300", "fsync": "off", "listen_addresses": "127.0.0.1"}


def test_env_url_selects_external_server(
    cluster: PostgresCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_DATABASE_URL", cluster.url("postgres"))
    server = postgres_from_env_or_local()
    assert isinstance(server, ExternalPostgres)
    with server:  # start/stop are no-ops
        assert server.url(DB_A) == cluster.url(DB_A)
        server.create_database("support_external")
        server.drop_database("support_external")
    with cluster.connect() as conn:  # the cluster is still up
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_stop(cluster: PostgresCluster) -> None:
    base_dir = cluster.base_dir
    assert base_dir is not None and base_dir.exists()
    url = cluster.url(DB_A)
    cluster.stop()
    assert not base_dir.exists()
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with pytest.raises(sa.exc.OperationalError), engine.connect():
            pass
    finally:
        engine.dispose()
    cluster.stop()  # idempotent
