"""Running a service: JSON logs, uvicorn, graceful shutdown on SIGTERM/SIGINT.

Uvicorn turns SIGTERM into the app's lifespan shutdown, where each service stops its
consumers (FastStream finishes the batch in hand and commits), its background tasks
and its database pools, in that order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

from shared.observability import configure_logging
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    configure_logging(settings.service_name, settings.log_level)
    log.info(
        "starting",
        extra={
            "http": f"{settings.http_host}:{settings.http_port}",
            "kafka": settings.kafka_bootstrap_servers,
        },
    )
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
        lifespan="on",
        # X-Forwarded-For is read by the app itself, from FORWARDED_ALLOW_IPS only.
        proxy_headers=False,
    )
    QuietServer(config).run()


class QuietServer(uvicorn.Server):
    """uvicorn, without its ten wake-ups a second.

    uvicorn's main loop sleeps 100 ms at a time to look for a shutdown request and to refresh
    the ``Date`` header: in an idle service that was the most frequent wake-up of all. Here
    the loop waits for the shutdown request itself (the signal handler wakes it at once) and
    refreshes the date once a second, the header's resolution.
    """

    _exit_requested: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._exit_requested = asyncio.Event()
        ticks = 0  # on_tick counts tenths of a second: a multiple of 10 refreshes the date
        while not await self.on_tick(ticks):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit_requested.wait(), timeout=1.0)
            ticks += 10

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None and self._exit_requested is not None:
            self._loop.call_soon_threadsafe(self._exit_requested.set)


class BackgroundTasks:
    """Long-running loops of a service (relays, projectors, timers), cancelled on shutdown."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[Any]] = []

    def start(self, name: str, factory: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        task = asyncio.create_task(self._guard(name, factory), name=name)
        self._tasks.append(task)

    async def _guard(self, name: str, factory: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        # A loop that dies is restarted: a relay must never stop silently.
        while True:
            try:
                await factory()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background task failed; restarting", extra={"task": name})
                await asyncio.sleep(1.0)

    async def stop(self, before: Callable[[], Awaitable[None]] | None = None) -> None:
        if before is not None:
            await before()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
