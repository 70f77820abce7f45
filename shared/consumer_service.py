"""The shape every consuming service shares: a database, a broker, batch appliers, an HTTP API.

A service declares its tables and, per topic, a function that applies a batch of new
deliveries inside one transaction; this module does the rest: deduplication by
``event_id`` in the same transaction, dead-lettering, probes, metrics, graceful shutdown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from prometheus_client import REGISTRY, Counter
from pydantic import SecretStr
from sqlalchemy import Connection, MetaData
from sqlalchemy.exc import DataError

from shared.auth import TokenChecker
from shared.events import Envelope, UnreadableEvent
from shared.http import install_error_handlers, install_probes, new_app
from shared.kafka import Delivery, ensure_topics, make_broker, subscribe_batches
from shared.migrations import prepare
from shared.purge import purged_tenants_table, without_purged
from shared.readmodel import applied_events_table, make_engine, mark_applied, only_new, ping
from shared.service import BackgroundTasks
from shared.settings import ServiceSettings

Applier = Callable[[Connection, list[Delivery]], Any]

APPLIED = Counter("interact_events_applied_total", "Events applied to a read model.", ["service"])
DUPLICATES = Counter(
    "interact_duplicate_events_total", "Redelivered events recognised and skipped.", ["service"]
)


class ConsumerServiceSettings(ServiceSettings):
    conversation_url: str = "http://127.0.0.1:8000"
    auth_cache_seconds: float = 5.0
    #: Bearer token of this service's operator endpoints (same value as the conversation service's).
    operator_token: SecretStr = SecretStr("change-me-operator-token")
    #: Scoped operator tokens (``shared.hardening``); unset: ``OPERATOR_TOKEN`` opens the scope.
    operator_feed_token: SecretStr | None = None
    operator_onboarding_token: SecretStr | None = None
    operator_desk_token: SecretStr | None = None


class ConsumerService:
    def __init__(self, settings: ConsumerServiceSettings, metadata: MetaData) -> None:
        self.settings = settings
        self.metadata = metadata
        self.applied = applied_events_table(metadata)
        self.purged = purged_tenants_table(metadata)
        self.engine = make_engine(settings.sqlalchemy_url(settings.service_name))
        prepare(self.engine, metadata)  # Alembic upgrade before anything serves
        self.broker = make_broker(settings, REGISTRY)
        self.tasks = BackgroundTasks()
        self.token_checker = TokenChecker(settings.conversation_url, settings.auth_cache_seconds)
        self.on_start: list[Callable[[], Awaitable[None]]] = []

    def apply_batch_now(self, apply: Applier, deliveries: list[Delivery]) -> Any:
        """Apply the never-seen deliveries and record them, in one transaction.

        Data the database refuses (a value it cannot hold) will be refused on every retry:
        it is reported as unreadable, so the batch is applied one by one and only the
        offending event goes to the dead-letter topic.
        """
        try:
            with self.engine.begin() as conn:
                fresh = only_new(conn, self.applied, deliveries, lambda d: d.envelope.event_id)
                DUPLICATES.labels(self.settings.service_name).inc(len(deliveries) - len(fresh))
                live = without_purged(conn, self.purged, fresh)  # late events of a purged tenant
                result = apply(conn, live) if live else None
                mark_applied(conn, self.applied, (d.envelope.event_id for d in fresh))
        except DataError as exc:
            raise UnreadableEvent(f"the database refuses it: {exc.orig}"[:500]) from exc
        APPLIED.labels(self.settings.service_name).inc(len(fresh))
        return result

    def consume(
        self,
        *topics: str,
        group_id: str,
        apply: Applier,
        wanted: Callable[[Envelope], bool] = lambda _e: True,
        types: Collection[str] | None = None,
        after_commit: Callable[[Any], None] | None = None,
        **options: Any,
    ) -> None:
        """Apply the batches of ``topics`` with ``apply``; ``after_commit`` gets what
        ``apply`` returned once its transaction committed (on the loop: e.g. to wake an
        outbox relay the batch wrote to)."""

        async def handle(batch: list[Delivery]) -> None:
            result = await asyncio.to_thread(self.apply_batch_now, apply, batch)
            if after_commit is not None:
                after_commit(result)

        subscribe_batches(
            self.broker,
            self.settings,
            *topics,
            group_id=group_id,
            handler=handle,
            wanted=wanted,
            types=types,
            **options,
        )

    async def ready(self) -> bool:
        db_ok = await asyncio.to_thread(ping, self.engine)
        try:
            broker_ok = bool(await self.broker.ping(timeout=2.0))
        except Exception:
            broker_ok = False
        # A consumer that had lag and did not advance for CONSUMER_STALL_SECONDS is not ready.
        return db_ok and broker_ok and not self.broker.stalled_consumers()

    @asynccontextmanager
    async def lifespan(self, _app: FastAPI):  # type: ignore[no-untyped-def]
        await ensure_topics(self.settings)
        for hook in self.on_start:
            await hook()
        await self.broker.start()
        try:
            yield
        finally:
            await self.broker.stop()
            await self.tasks.stop()
            await self.token_checker.close()
            self.engine.dispose()

    def create_app(self, title: str, routers: list[APIRouter], description: str = "") -> FastAPI:
        app = new_app(title=title, version="1.0.0", description=description, lifespan=self.lifespan)
        app.state.service = self
        app.state.token_checker = self.token_checker
        install_error_handlers(
            app, self.settings.http_max_body_bytes, self.settings.forwarded_allow_ips
        )
        install_probes(app, REGISTRY, self.ready)
        for router in routers:
            app.include_router(router)
        return app
