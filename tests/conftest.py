"""Real parts for the tests: an Apache Kafka node and a throw-away PostgreSQL cluster.

``KAFKA_BOOTSTRAP_SERVERS`` / ``TEST_DATABASE_URL`` point the suite at existing ones;
otherwise the embedded Kafka node (a temp folder) and a local PostgreSQL cluster are started. A missing
part fails the run with what to install; nothing is skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# The suite runs on the development defaults (shipped secrets allowed, loopback bots);
# tests of the production refusal set INTERACT_ENV themselves.
os.environ.setdefault("INTERACT_ENV", "development")

from shared.local_broker import LocalBroker
from tests.support.postgres import postgres_from_env_or_local


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    with LocalBroker() as broker:
        yield broker.bootstrap_servers


@pytest.fixture(scope="session")
def postgres():  # type: ignore[no-untyped-def]
    server = postgres_from_env_or_local().start()
    try:
        yield server
    finally:
        server.stop()
