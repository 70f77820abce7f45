"""The routing use case: apply a batch of events per tenant, publish the decisions, save.

Decisions are published *before* the state and the applied event ids are committed.
A crash in between replays the batch on the same saved state, which gives the same
decisions with the same ``event_id``s (they are derived, not random), and the
conversation service drops the copies. The other order could lose a decision.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy import Connection

from services.routing import store
from services.routing.application.state import TenantRouting
from shared.events import Envelope
from shared.kafka import Delivery

Publish = Callable[[list[Envelope]], Coroutine[Any, Any, None]]

WANTED = {
    "TenantCreated",
    "TenantSettingsChanged",
    "EndUserCreated",
    "EndUserUpdated",
    "EndUserActivated",
    "EndUserDeactivated",
    "EndUserDeleted",
    "PresenceChanged",
    "ConversationOpened",
    "ConversationAssigned",
    "ConversationClosed",
}


class Router:
    def __init__(self, publish: Publish) -> None:
        self.publish = publish
        self.loop: asyncio.AbstractEventLoop | None = None
        self.cache: dict[uuid.UUID, TenantRouting] = {}

    def _state(self, conn: Connection, tenant_id: uuid.UUID) -> TenantRouting:
        state = self.cache.get(tenant_id)
        if state is None:
            state = self.cache[tenant_id] = store.load(conn, tenant_id)
        return state

    def apply(self, conn: Connection, batch: list[Delivery]) -> int:
        """Runs in a worker thread inside the batch's transaction."""
        touched: dict[uuid.UUID, TenantRouting] = {}
        decisions: list[Envelope] = []
        try:
            for delivery in batch:
                tenant_id = delivery.envelope.tenant_id
                state = touched.get(tenant_id) or self._state(conn, tenant_id)
                touched[tenant_id] = state
                decisions.extend(state.apply(delivery.envelope, delivery.payload))
            if decisions:
                assert self.loop is not None
                asyncio.run_coroutine_threadsafe(self.publish(decisions), self.loop).result(30)
            for state in touched.values():
                store.save(conn, state)
        except BaseException:
            for tenant_id in touched:  # memory may be ahead of the database now
                self.cache.pop(tenant_id, None)
            raise
        return len(decisions)
