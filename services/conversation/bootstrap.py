"""Wiring of the conversation service: stores, applications, outboxes, consumers, API."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager, suppress
from datetime import timedelta

from eventsourcing.application import Application
from fastapi import FastAPI
from prometheus_client import REGISTRY, CollectorRegistry

from services.conversation.application.administration import Administration
from services.conversation.application.conversations import Conversations
from services.conversation.application.directory import Directory
from services.conversation.application.erasure import Erasure, ErasureLog
from services.conversation.application.eventstore import event_store_env
from services.conversation.application.export import Exports
from services.conversation.application.handling import Handling
from services.conversation.application.mail import Mailer
from services.conversation.application.purge import RetentionPurge
from services.conversation.application.queries import Queries
from services.conversation.application.ratelimit import AccessLimits
from services.conversation.application.security import Security
from services.conversation.consumers.outbox import log_relay
from services.conversation.settings import ConversationSettings
from services.conversation.store.datakeys import SqlKeyStore
from services.conversation.store.files import forget_files
from services.conversation.store.positions import read_position
from services.conversation.store.projection import Projector, ensure_views_current
from services.conversation.store.tables import metadata
from shared import topics
from shared.blobs import BlobSettings, blob_store_from_settings, tenant_prefix
from shared.clamd import scanner_from_address
from shared.datakeys import Sealer
from shared.kafka import ensure_topics, make_broker, make_producer
from shared.migrations import prepare
from shared.readmodel import make_engine, ping, scrub
from shared.service import BackgroundTasks
from shared.transit import truncate_consumed


class ConversationService:
    """Everything the service's entry points share; built once per process."""

    def __init__(
        self, settings: ConversationSettings, registry: CollectorRegistry = REGISTRY
    ) -> None:
        self.settings = settings
        self.engine = make_engine(settings.sqlalchemy_url("conversation"))
        prepare(self.engine, metadata)  # Alembic upgrade; then the views, rebuilt if outdated
        ensure_views_current(self.engine)
        self.keys = SqlKeyStore(self.engine)
        self.sealer = Sealer(self.keys, ttl=settings.data_key_cache_seconds)
        self.directory = Directory(
            env=event_store_env(settings.database_url, settings.data_dir, "directory")
        )
        self.conversations = Conversations(
            env=event_store_env(settings.database_url, settings.data_dir, "conversations"),
            sealer=self.sealer,
        )
        self.security = Security(
            self.engine,
            session_ttl=timedelta(hours=settings.session_ttl_hours),
            reset_ttl=timedelta(minutes=settings.reset_link_minutes),
        )
        # The Portal's read side, and the use cases whose rules need it.
        self.queries = Queries(self.engine)
        self.handling = Handling(self.conversations, self.queries)
        self.administration = Administration(self.directory, self.security, self.queries)
        self.mailer = Mailer(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from,
            settings.public_base_url,
            settings.smtp_username,
            settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            settings.smtp_starttls,
        )
        self.access_limits = AccessLimits(
            self.engine,
            login_per_account=settings.login_attempts_per_account_per_minute,
            login_per_address=settings.login_attempts_per_address_per_minute,
            forgot_per_account=settings.password_links_per_account_per_hour,
            forgot_per_address=settings.password_links_per_address_per_hour,
        )
        self.projector = Projector(self.engine, [self.directory, self.conversations])
        self.registry = registry
        self.broker = make_broker(settings, registry)
        self.relays = [
            log_relay(
                app,
                topic,
                self.engine,
                lambda: make_producer(settings),
                idle_poll=settings.outbox_poll_seconds,
                ensure_topics=lambda: ensure_topics(settings),
            )
            for app, topic in (
                (self.directory, topics.DIRECTORY_EVENTS),
                (self.conversations, topics.CONVERSATION_EVENTS),
            )
        ]
        self.tasks = BackgroundTasks()
        self._changed = asyncio.Event()
        self.exports = Exports(self.engine)
        self.blobs = blob_store_from_settings(BlobSettings(data_dir=settings.data_dir))
        self.purge = RetentionPurge(
            self.engine,
            self.directory,
            self.conversations,
            self.changed,
            # The purge runs in a worker thread: the blob store's calls get a loop of their own.
            forget_files=lambda tenant_id: asyncio.run(
                self.blobs.delete_prefix(tenant_prefix(tenant_id))
            ),
        )
        self.scanner = scanner_from_address(settings.clamd_address)
        self.erasure = Erasure(
            self.conversations,
            self.sealer,
            ErasureLog(settings.erasure_log_path),
            project=self.after_change,
            published_past=self._published_past,
            truncate=lambda: truncate_consumed(
                settings,
                [topics.INBOUND_MESSAGES, topics.OUTBOUND_MESSAGES],
                unread=[topics.DEAD_LETTERS],
                wait_seconds=settings.erasure_wait_seconds,
            ),
            publish_wait_seconds=settings.erasure_wait_seconds,
            scrub=lambda: scrub(self.engine),
            forget_files=self._forget_files,
        )

    async def _forget_files(self, tenant_id: uuid.UUID, conversation_ids: list[uuid.UUID]) -> int:
        """An erasure: every file of these conversations leaves the blob store."""
        return await forget_files(self.engine, self.blobs, tenant_id, conversation_ids)

    def _published_past(self, notification_id: int) -> bool:
        with self.engine.connect() as conn:
            return read_position(conn, f"outbox:{self.conversations.name}") >= notification_id

    def changed(self, *logs: Application) -> None:
        """Something was saved (in ``logs``; none named: in any): wake their relays and the
        projector now rather than at their poll. A batch of the consumers writes only the
        conversation log, and waking the directory's relay for it cost a position read."""
        self._changed.set()
        for relay in self.relays:
            if not logs or getattr(relay.source, "app", None) in logs:
                relay.wake()

    async def after_change(self) -> None:
        """After a command from the API: wake the relays, and read-your-writes in the views."""
        self.changed()
        await self.projector.catch_up()

    async def send_first_password_link(self, email: str, user_id: object = None) -> None:
        """The welcome link of a new account (only that one, when ``user_id`` is given)."""
        issued = await asyncio.to_thread(self.security.issue_reset_tokens, email, user_id)
        for _user_id, token in issued:
            await self.mailer.send_password_link(email, token, first_time=True)

    async def send_password_links(self, email: str) -> None:
        """ "Forgot password": a link per account of this address (one person in two tenants
        resets each on its own). Runs after the response, so its cost reveals nothing."""
        issued = await asyncio.to_thread(self.security.issue_reset_tokens, email)
        for _user_id, token in issued:
            await self.mailer.send_password_link(email, token, first_time=False)

    async def _project_forever(self) -> None:
        while True:
            self._changed.clear()  # before, so a change during the catch-up is not missed
            await self.projector.catch_up()
            with suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait(), timeout=self.settings.projection_poll_seconds
                )

    async def ready(self) -> bool:
        db_ok = await asyncio.to_thread(ping, self.engine)
        try:
            broker_ok = await self.broker.ping(timeout=2.0)
        except Exception:
            broker_ok = False
        # A consumer that had lag and did not advance for CONSUMER_STALL_SECONDS is not ready.
        return db_ok and bool(broker_ok) and not self.broker.stalled_consumers()

    @asynccontextmanager
    async def lifespan(self, _app: FastAPI):  # type: ignore[no-untyped-def]
        await ensure_topics(self.settings)
        await self.projector.catch_up()
        # An erasure that died after its event and before its keys went: finish it now.
        await asyncio.to_thread(lambda: self.sealer.destroy(self.keys.erased_but_live()))
        await self.broker.start()
        for relay in self.relays:
            self.tasks.start(relay.name, relay.run)
        self.tasks.start("projector", self._project_forever)
        if self.settings.retention_purge_enabled:
            check = self.settings.retention_check_seconds
            self.tasks.start("retention-purge", lambda: self.purge.run_daily(check))
        try:
            yield
        finally:
            await self.broker.stop()  # finishes the batch in hand, commits
            for relay in self.relays:
                relay.stop()
            await self.tasks.stop()
            self.conversations.close()
            self.directory.close()
            self.engine.dispose()
