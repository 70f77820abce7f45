"""A DATABASE_URL keeps its parameters (``sslmode`` and the rest) for the event store too,
not only for the views (docs/security.md, T7). Proved on a real PostgreSQL without TLS:
``sslmode=require`` must then fail to connect, ``sslmode=disable`` must work."""

from __future__ import annotations

import os
import uuid

import pytest

from services.conversation.application.directory import Directory
from services.conversation.application.eventstore import LIBPQ_ENVIRONMENT, event_store_env


@pytest.fixture
def clean_libpq_env():  # type: ignore[no-untyped-def]
    """libpq's variables as they were before, whatever the test set (they are process-wide:
    one left behind would change every later PostgreSQL connection of the suite)."""
    saved = {v: os.environ.pop(v) for v in LIBPQ_ENVIRONMENT.values() if v in os.environ}
    yield
    for variable in LIBPQ_ENVIRONMENT.values():
        os.environ.pop(variable, None)
    os.environ.update(saved)


def test_the_url_parameters_are_passed_on(clean_libpq_env, tmp_path):
    env = event_store_env(
        "postgresql+psycopg://u:p@db:5432/interact_conversation"
        "?sslmode=verify-full&sslrootcert=/etc/ssl/ca.pem&connect_timeout=7",
        tmp_path,
        "directory",
    )
    assert env["POSTGRES_CONNECT_TIMEOUT"] == "7"
    assert os.environ["PGSSLMODE"] == "verify-full"
    assert os.environ["PGSSLROOTCERT"] == "/etc/ssl/ca.pem"


def test_an_unknown_parameter_is_refused_with_its_name(clean_libpq_env, tmp_path):
    with pytest.raises(ValueError, match="sslmod"):
        event_store_env("postgresql+psycopg://u:p@db/x?sslmod=require", tmp_path, "directory")


def test_sslmode_reaches_the_event_stores_connections(clean_libpq_env, postgres, tmp_path):
    name = f"params_{uuid.uuid4().hex[:8]}"
    postgres.create_database(name)
    url = postgres.url(name)
    joiner = "&" if "?" in url else "?"
    # The server has no TLS: with sslmode=require no connection can be made (the same URL
    # with sslmode=disable works below, so it is the parameter that made the difference).
    with pytest.raises(Exception):  # noqa: B017 - the pool's own timeout error
        required = f"{url}{joiner}sslmode=require&connect_timeout=2"
        app = Directory(env=event_store_env(required, tmp_path, "d"))
        app.create_tenant("Over TLS", "pro")
    os.environ.pop("PGSSLMODE", None)
    app = Directory(env=event_store_env(f"{url}{joiner}sslmode=disable", tmp_path, "d"))
    try:
        assert app.create_tenant("In clear, as asked", "pro")
    finally:
        app.close()
