"""The routing use cases: apply a batch of events per tenant, sweep the take deadlines.

Decisions are published *before* the state and the applied event ids are committed.
A crash in between replays the batch on the same saved state, which gives the same
decisions with the same ``event_id``s (they are derived, not random), and the
conversation service drops the copies. The other order could lose a decision.

The batch consumer and the periodic sweep share the cached states, so they take turns
(one lock). The sweep finds the tenants with an overdue assignment in the database,
not in memory: after a restart the deadlines are still found.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from services.routing import store
from services.routing.domain.state import TenantRouting
from shared.events import Envelope
from shared.kafka import Delivery
from shared.purge import PURGED, delete_tenant_rows

log = logging.getLogger(__name__)

Publish = Callable[[list[Envelope]], Coroutine[Any, Any, None]]
Owns = Callable[[uuid.UUID], bool]

WANTED = {
    "TenantCreated",
    "TenantSettingsChanged",
    "EndUserCreated",
    "EndUserUpdated",
    "EndUserActivated",
    "EndUserDeactivated",
    "EndUserDeleted",
    "PresenceChanged",
    "LabelChanged",
    "LabelDeleted",
    "ConversationOpened",
    "ConversationAssigned",
    "ConversationTaken",
    "ConversationRequirementsChanged",
    "ConversationQueued",
    "HandoverChanged",
    "ConversationClosed",
    "ConversationArchived",
    PURGED,
}


class Router:
    def __init__(self, publish: Publish) -> None:
        self.publish = publish
        self.loop: asyncio.AbstractEventLoop | None = None
        self.cache: dict[uuid.UUID, TenantRouting] = {}
        self.lock = threading.Lock()

    def _state(self, conn: Connection, tenant_id: uuid.UUID) -> TenantRouting:
        state = self.cache.get(tenant_id)
        if state is None:
            state = self.cache[tenant_id] = store.load(conn, tenant_id)
        return state

    def _publish_now(self, decisions: list[Envelope]) -> None:
        assert self.loop is not None
        asyncio.run_coroutine_threadsafe(self.publish(decisions), self.loop).result(30)

    def apply(self, conn: Connection, batch: list[Delivery]) -> int:
        """Runs in a worker thread inside the batch's transaction."""
        with self.lock:
            touched: dict[uuid.UUID, TenantRouting] = {}
            decisions: list[Envelope] = []
            try:
                for delivery in batch:
                    tenant_id = delivery.envelope.tenant_id
                    if delivery.envelope.type == PURGED:  # retention ended: forget it all
                        delete_tenant_rows(conn, store.metadata, tenant_id)
                        touched.pop(tenant_id, None)
                        self.cache.pop(tenant_id, None)
                        continue
                    state = touched.get(tenant_id) or self._state(conn, tenant_id)
                    touched[tenant_id] = state
                    decisions.extend(state.apply(delivery.envelope, delivery.payload))
                if decisions:
                    self._publish_now(decisions)
                for state in touched.values():
                    store.save(conn, state)
            except BaseException:
                for tenant_id in touched:  # memory may be ahead of the database now
                    self.cache.pop(tenant_id, None)
                raise
            return len(decisions)

    def sweep(
        self, engine: Engine, now: datetime, take_timeout: timedelta, owns: Owns = lambda _t: True
    ) -> int:
        """Re-route what was assigned at least ``take_timeout`` before ``now`` and not taken,
        for the tenants this instance owns; each tenant in its own transaction."""
        with engine.connect() as conn:
            due = store.tenants_with_assignments_up_to(conn, now - take_timeout)
        published = 0
        for tenant_id in due:
            if not owns(tenant_id):
                continue
            with self.lock:
                try:
                    with engine.begin() as conn:
                        state = self.cache.get(tenant_id)
                        if state is None or state.version != store.version_of(conn, tenant_id):
                            # Saved elsewhere since (a rebalance): decide on the saved state.
                            state = self.cache[tenant_id] = store.load(conn, tenant_id)
                        decisions = state.sweep(now, take_timeout)
                        if decisions:
                            self._publish_now(decisions)
                            store.save(conn, state)
                            published += len(decisions)
                except store.StaleState:
                    # Another instance routes this tenant now: forget our copy.
                    self.cache.pop(tenant_id, None)
                except BaseException:
                    self.cache.pop(tenant_id, None)
                    raise
        return published
