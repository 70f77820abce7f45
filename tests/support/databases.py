"""The database a test runs on when it runs on both (``@pytest.fixture(params=BOTH)``):
SQLite, the embedded default, or a new database on the session's PostgreSQL cluster."""

from __future__ import annotations

import uuid

import pytest

#: The parameters of a fixture that gives each test both databases, in this order.
BOTH = ["sqlite", "postgres"]


def database_for(request: pytest.FixtureRequest, name: str, sqlite: str = "") -> str:
    """``sqlite`` (empty: the services' own default files) for the SQLite run; for the
    PostgreSQL run the URL of a new database called ``<name>_<random>``."""
    if request.param == "sqlite":
        return sqlite
    pg = request.getfixturevalue("postgres")
    database = f"{name}_{uuid.uuid4().hex[:8]}"
    pg.create_database(database)
    return pg.url(database)
