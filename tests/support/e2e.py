"""Helpers of the whole-stack tests: a database per service on the throw-away PostgreSQL
cluster, a demo end user's login, waiting for a condition, and the Portal's live event
stream read in a thread."""

from __future__ import annotations

import threading
import time

import httpx
import orjson

from services.stack import DEMO_PASSWORD, SERVICES, Stack


def database_urls(pg, prefix: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    urls = {}
    for name in SERVICES:
        database = f"{prefix}_{name}"
        pg.create_database(database)
        urls[name] = pg.url(database)
    return urls


def login(stack: Stack, email: str) -> dict[str, str]:
    response = httpx.post(
        f"{stack.url('conversation')}/v1/auth/login",
        json={"email": email, "password": DEMO_PASSWORD},
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['token']}"}


def wait_for(check, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


class LiveEvents:
    """Reads the Portal's event stream in a thread; keeps (id, type, payload) in order."""

    def __init__(self, url: str, headers: dict[str, str], last_event_id: str | None = None) -> None:
        self.events: list[tuple[str, str, dict]] = []
        self._stop = threading.Event()
        headers = dict(headers)
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        self._thread = threading.Thread(target=self._run, args=(url, headers), daemon=True)
        self._thread.start()

    def _run(self, url: str, headers: dict[str, str]) -> None:
        with httpx.stream("GET", url, headers=headers, timeout=None) as response:
            assert response.status_code == 200
            event_id = kind = None
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("id: "):
                    event_id = line[4:]
                elif line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and event_id:
                    self.events.append((event_id, kind, orjson.loads(line[6:])["payload"]))

    def types(self, conversation_id: str) -> list[str]:
        return [k for _, k, p in self.events if p.get("conversation_id") == conversation_id]

    def close(self) -> None:
        self._stop.set()  # the reader leaves at its next line (a heartbeat at the latest)
