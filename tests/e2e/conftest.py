"""The whole stack as real processes, on SQLite files or on the throw-away PostgreSQL cluster."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from services.stack import SERVICES, Stack
from shared.local_broker import free_port
from tests.support.e2e import database_urls


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
