"""The routing use cases: apply a batch of events per tenant, sweep the take deadlines.

The consumer (``consumers/events.py``) feeds a batch; a timer (``consumers/sweeper.py``)
runs the sweep.

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
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from services.routing.domain.state import TenantRouting
from services.routing.store import snapshots
from shared.events import Envelope, Payload
from shared.purge import delete_tenant_rows

log = logging.getLogger(__name__)

Publish = Callable[[list[Envelope]], Coroutine[Any, Any, None]]
Owns = Callable[[uuid.UUID], bool]


class Router:
    """The tenants' routing states (cached), changed by events and by the take-deadline sweep."""

    def __init__(self, publish: Publish) -> None:
        self.publish = publish
        self.loop: asyncio.AbstractEventLoop | None = None
        self.cache: dict[uuid.UUID, TenantRouting] = {}
        self.lock = threading.Lock()

    def state_of(self, conn: Connection, tenant_id: uuid.UUID) -> TenantRouting:
        """The cached state of the tenant, loaded from the database the first time."""
        state = self.cache.get(tenant_id)
        if state is None:
            state = self.cache[tenant_id] = snapshots.load(conn, tenant_id)
        return state

    def _publish_now(self, decisions: list[Envelope]) -> None:
        assert self.loop is not None
        asyncio.run_coroutine_threadsafe(self.publish(decisions), self.loop).result(30)

    @contextmanager
    def batch(self, conn: Connection) -> Iterator[Batch]:
        """One batch of events, inside its transaction (in a worker thread): the events
        change the cached states, the decisions are published, then the states are saved."""
        with self.lock:
            batch = Batch(self, conn)
            try:
                yield batch
                if batch.decisions:
                    self._publish_now(batch.decisions)
                for state in batch.touched.values():
                    snapshots.save(conn, state)
            except BaseException:
                for tenant_id in batch.touched:  # memory may be ahead of the database now
                    self.cache.pop(tenant_id, None)
                raise

    def sweep(
        self, engine: Engine, now: datetime, take_timeout: timedelta, owns: Owns = lambda _t: True
    ) -> int:
        """Re-route what was assigned at least ``take_timeout`` before ``now`` and not taken,
        for the tenants this instance owns; each tenant in its own transaction."""
        with engine.connect() as conn:
            due = snapshots.tenants_with_assignments_up_to(conn, now - take_timeout)
        published = 0
        for tenant_id in due:
            if not owns(tenant_id):
                continue
            with self.lock:
                try:
                    with engine.begin() as conn:
                        state = self.cache.get(tenant_id)
                        if state is None or state.version != snapshots.version_of(conn, tenant_id):
                            # Saved elsewhere since (a rebalance): decide on the saved state.
                            state = self.cache[tenant_id] = snapshots.load(conn, tenant_id)
                        decisions = state.sweep(now, take_timeout)
                        if decisions:
                            self._publish_now(decisions)
                            snapshots.save(conn, state)
                            published += len(decisions)
                except snapshots.StaleState:
                    # Another instance routes this tenant now: forget our copy.
                    self.cache.pop(tenant_id, None)
                except BaseException:
                    self.cache.pop(tenant_id, None)
                    raise
        return published


class Batch:
    """The events of one batch, applied in order; see :meth:`Router.batch`."""

    def __init__(self, router: Router, conn: Connection) -> None:
        self.router, self.conn = router, conn
        self.touched: dict[uuid.UUID, TenantRouting] = {}
        self.decisions: list[Envelope] = []

    def apply(self, envelope: Envelope, payload: Payload) -> None:
        """A directory or conversation event changes its tenant's state (SPEC §4)."""
        tenant_id = envelope.tenant_id
        state = self.touched.get(tenant_id) or self.router.state_of(self.conn, tenant_id)
        self.touched[tenant_id] = state
        self.decisions.extend(state.apply(envelope, payload))

    def purge(self, tenant_id: uuid.UUID) -> None:
        """Retention ended (SPEC §3.4): forget the tenant, in the database and in memory."""
        delete_tenant_rows(self.conn, snapshots.metadata, tenant_id)
        self.touched.pop(tenant_id, None)
        self.router.cache.pop(tenant_id, None)
