"""The routing use cases: apply a batch of events per tenant, sweep the take deadlines.

The consumer (``consumers/events.py``) feeds a batch; a timer (``consumers/sweeper.py``)
runs the sweep.

Decisions are saved, not published, here: the tenant states, the decisions (in the
outbox, ``store/snapshots.py``) and the applied event ids commit in one transaction, and
the outbox relay (``shared.outbox``) publishes the decisions after the commit, in order.
What the conversation service applies is therefore always what routing saved: a crash
before the commit leaves neither (the batch comes again, and may now decide otherwise,
as nothing was said yet); a crash after it leaves both, and the relay publishes the
decisions when it starts again. A page published twice (a crash between the broker's
ack and the relay's record) carries the same ``event_id``s (derived, not random), and
the conversation service drops the copies.

The batch consumer and the periodic sweep share the cached states, so they take turns
(one lock). The sweep finds the tenants with an overdue assignment in the database,
not in memory: after a restart the deadlines are still found.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from services.routing.domain.state import TenantRouting
from services.routing.store import snapshots
from shared.events import Envelope, Payload

log = logging.getLogger(__name__)

Owns = Callable[[uuid.UUID], bool]


class Router:
    """The tenants' routing states (cached), changed by events and by the take-deadline sweep."""

    def __init__(self, after_commit: Callable[[], None] = lambda: None) -> None:
        #: Called (from a worker thread) after a sweep committed decisions: wakes the relay.
        #: A batch commits in the consumer's transaction, which wakes the relay itself.
        self.after_commit = after_commit
        self.cache: dict[uuid.UUID, TenantRouting] = {}
        self.lock = threading.Lock()

    def state_of(self, conn: Connection, tenant_id: uuid.UUID) -> TenantRouting:
        """The cached state of the tenant, loaded from the database the first time."""
        state = self.cache.get(tenant_id)
        if state is None:
            state = self.cache[tenant_id] = snapshots.load(conn, tenant_id)
        return state

    @contextmanager
    def batch(self, conn: Connection) -> Iterator[Batch]:
        """One batch of events, inside its transaction (in a worker thread): the events
        change the cached states, then the states and the decisions (to the outbox) are
        saved; the caller commits them with the applied event ids."""
        with self.lock:
            batch = Batch(self, conn)
            try:
                yield batch
                for state in batch.touched.values():
                    snapshots.save(conn, state)
                snapshots.enqueue_decisions(conn, batch.decisions)
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
        rerouted = 0
        for tenant_id in due:
            if not owns(tenant_id):
                continue
            decisions: list[Envelope] = []
            with self.lock:
                try:
                    with engine.begin() as conn:
                        state = self.cache.get(tenant_id)
                        if state is None or state.version != snapshots.version_of(conn, tenant_id):
                            # Saved elsewhere since (a rebalance): decide on the saved state.
                            state = self.cache[tenant_id] = snapshots.load(conn, tenant_id)
                        decisions = state.sweep(now, take_timeout)
                        if decisions:
                            snapshots.save(conn, state)
                            snapshots.enqueue_decisions(conn, decisions)
                except snapshots.StaleState:
                    # Another instance routes this tenant now: forget our copy.
                    self.cache.pop(tenant_id, None)
                    continue
                except BaseException:
                    self.cache.pop(tenant_id, None)
                    raise
            if decisions:  # committed: the relay publishes them now
                rerouted += len(decisions)
                self.after_commit()
        return rerouted


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
        snapshots.purge_tenant(self.conn, tenant_id)
        self.touched.pop(tenant_id, None)
        self.router.cache.pop(tenant_id, None)
