"""Running a service: JSON logs, uvicorn, graceful shutdown on SIGTERM/SIGINT.

Every service's ``__main__.py`` has one shape (billing, sla and stats follow it)::

    def build(settings: XSettings, *, clock=..., ...) -> FastAPI:
        # The whole service as one app: consumers, background tasks, routers.
        service = ConsumerService(settings, metadata)  # database, broker, health
        service.consume(...)                           # consumers/: the handler tables
        service.on_start.append(...)                   # relays and timers
        app = service.create_app(title, routers)       # api/
        app.state.<use cases> = ...                    # what the routes and tests reach
        return app

    def main() -> None:
        settings = XSettings()                         # settings.py
        app = build(settings)
        ...                                            # once per process: gauges
        serve(app, settings)

``build`` wires and starts nothing (consumers and tasks start with the app's lifespan), so
tests run the same app in-process, with their own clock or consumer group as keyword
arguments; what it wired is reachable on ``app.state`` (``app.state.service`` is the
``ConsumerService``: engine, broker, ``apply_batch_now``).

Uvicorn turns SIGTERM into the app's lifespan shutdown, where each service stops its
consumers (FastStream finishes the batch in hand and commits), its background tasks
and its database pools, in that order.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from shared.observability import configure_logging
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

#: Pauses before a failed background loop is restarted: 0.5 s doubling up to 10 s, with jitter.
RESTART_WAIT = wait_exponential_jitter(multiplier=0.5, max=10.0, jitter=1.0)
#: A loop that ran this long before failing had recovered: its next failure is a new outage.
HEALTHY_RUN_S = 60.0
#: The cyclic garbage collector's thresholds in a service. Python's default (700 allocations
#: per young collection) makes a busy consumer collect every few messages, and each older
#: collection walks the aggregate cache and the events kept for the relay: a quarter to a
#: third of the conversation service's CPU per message. Nearly all our garbage is freed by
#: reference counting anyway; cycles still go, only in larger batches.
GC_THRESHOLDS = (20_000, 50, 50)


def tune_gc(thresholds: tuple[int, int, int] = GC_THRESHOLDS) -> None:
    """Move what start-up made (modules, the app) out of the collector's sight, then
    collect less often (see :data:`GC_THRESHOLDS`)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)


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
    tune_gc()
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
        """A loop that dies is restarted (a relay must never stop silently), after an
        exponential pause with jitter (tenacity). Logs are bounded: the error with its
        traceback once when the loop starts failing (e.g. the database went away), later
        failures of the same outage only at debug; a loop that ran healthy for
        :data:`HEALTHY_RUN_S` before failing starts a new outage (and a short pause)."""
        began = [0.0]

        async def run() -> None:
            began[0] = time.monotonic()
            await factory()

        def pause(state: RetryCallState) -> float:
            if time.monotonic() - began[0] > HEALTHY_RUN_S:
                state.attempt_number = 1  # a new outage: back to the shortest pause
            error = state.outcome.exception() if state.outcome is not None else None
            if state.attempt_number == 1:
                log.error(
                    "background task failed; restarting with backoff",
                    extra={"task": name},
                    exc_info=error,
                )
            else:
                log.debug("background task failed again", extra={"task": name}, exc_info=error)
            return RESTART_WAIT(state)

        # CancelledError is not an Exception: it is never retried, the shutdown goes on.
        retrying = AsyncRetrying(wait=pause, retry=retry_if_exception_type(Exception))
        await retrying(run)

    async def stop(self, before: Callable[[], Awaitable[None]] | None = None) -> None:
        if before is not None:
            await before()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
