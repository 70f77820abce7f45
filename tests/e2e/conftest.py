"""The whole stack as real processes, on SQLite files or on the throw-away PostgreSQL cluster."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from services.stack import DEMO_PASSWORD, SERVICES, Stack
from shared.local_broker import free_port


def database_urls(pg, prefix: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    urls = {}
    for name in SERVICES:
        database = f"{prefix}_{name}"
        pg.create_database(database)
        urls[name] = pg.url(database)
    return urls


@pytest.fixture
def make_stack(tmp_path, kafka_bootstrap, request) -> Iterator[Callable[[str], Stack]]:  # type: ignore[no-untyped-def]
    """Starts a stack on fresh ports and data (``store`` = 'sqlite' or 'postgres')."""
    stacks: list[Stack] = []

    def start(store: str, env: dict[str, str] | None = None) -> Stack:
        urls = {}
        if store == "postgres":
            urls = database_urls(request.getfixturevalue("postgres"), f"e2e_{uuid.uuid4().hex[:8]}")
        stack = Stack(
            tmp_path / f"stack-{len(stacks)}",
            ports={name: free_port() for name in SERVICES},
            env={"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, **(env or {})},
            database_urls=urls,
        )
        stacks.append(stack)
        return stack.start()

    yield start
    for stack in stacks:
        stack.stop()


def login(stack: Stack, email: str) -> dict[str, str]:
    response = httpx.post(
        f"{stack.url('conversation')}/v1/auth/login",
        json={"email": email, "password": DEMO_PASSWORD},
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['token']}"}
