"""Who is connected to this replica, and waking their sockets when their mailbox grows.

A reply may be stored by any ingest replica (the consumer group splits the tenants), while
the visitor's socket is open on another. So each replica polls the mailbox once per
``poll_seconds`` for the visitors connected to it (one query for all of them), and the
replica that stored a message wakes its own sockets at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from sqlalchemy import Engine

from services.ingest.store import webchat as store
from services.ingest.store.webchat import VisitorKey


class Hub:
    def __init__(self, engine: Engine, poll_seconds: float = 1.0) -> None:
        self.engine, self.poll_seconds = engine, poll_seconds
        self._waiters: dict[VisitorKey, set[asyncio.Event]] = {}
        self._known: dict[VisitorKey, int] = {}

    def register(self, key: VisitorKey) -> asyncio.Event:
        event = asyncio.Event()
        self._waiters.setdefault(key, set()).add(event)
        return event

    def unregister(self, key: VisitorKey, event: asyncio.Event) -> None:
        waiting = self._waiters.get(key)
        if waiting is None:
            return
        waiting.discard(event)
        if not waiting:
            del self._waiters[key]
            self._known.pop(key, None)

    @property
    def connected(self) -> int:
        return sum(len(w) for w in self._waiters.values())

    def wake(self, keys: Iterable[VisitorKey]) -> None:
        for key in keys:
            for event in self._waiters.get(key, ()):
                event.set()

    async def poll_once(self) -> None:
        keys = list(self._waiters)
        if not keys:
            return
        latest = await asyncio.to_thread(store.latest_seqs, self.engine, keys)
        grown = [k for k, seq in latest.items() if seq > self._known.get(k, 0)]
        self._known.update(latest)
        self.wake(grown)

    async def poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            await self.poll_once()
