"""Incidents: load the history, let the aggregate decide, append the event and project it,
all in one transaction of the ``Store`` it is given (``Incidents`` is the application, its
methods the commands)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from services.sla.application.errors import Refused
from services.sla.application.ports import ConcurrentWrite, Records, Store
from services.sla.domain import aggregate as agg
from services.sla.domain.targets import Priority

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def _one_writer() -> Iterator[None]:
    """Two commands that appended the same version: the later one's transaction is rolled
    back and it is told to try again (optimistic concurrency on ``incident_history``)."""
    try:
        yield
    except ConcurrentWrite:
        raise Refused(
            "concurrent_change",
            "The incident changed meanwhile; try again.",
            kind="conflict",
        ) from None


class Incidents:
    def __init__(self, store: Store, clock: Clock = utc_now) -> None:
        self.store, self.clock = store, clock

    def report(
        self,
        tenant_id: uuid.UUID,
        priority: Priority,
        reported_via: agg.ReportedVia,
        created_at: datetime,
        summary: str = "",
        incident_id: uuid.UUID | None = None,
    ) -> agg.IncidentState:
        """A new incident of a known tenant. Hub tenants may report incidents too (Dutch
        §5.1.1: the service desk for incidents only), but no service level applies."""
        new_id = str(incident_id or uuid.uuid4())
        with _one_writer(), self.store.writing() as records:
            if records.plan_of(str(tenant_id)) is None:
                raise Refused("unknown_tenant", f"There is no tenant {tenant_id}.", kind="invalid")
            if records.load(new_id) is not None:
                raise Refused(
                    "incident_exists", f"Incident {new_id} exists already.", kind="conflict"
                )
            event = self._decide(
                lambda: agg.report(
                    str(tenant_id), priority, reported_via, created_at, self.clock(), summary
                )
            )
            return self._append(records, new_id, None, event)

    def correct_priority(
        self, incident_id: uuid.UUID, priority: Priority, at: datetime | None
    ) -> agg.IncidentState:
        return self._command(
            incident_id, lambda s, now: agg.correct_priority(s, priority, at or now, now)
        )

    def start_troubleshooting(
        self, incident_id: uuid.UUID, at: datetime | None
    ) -> agg.IncidentState:
        return self._command(
            incident_id, lambda s, now: agg.start_troubleshooting(s, at or now, now)
        )

    def resolve(self, incident_id: uuid.UUID, at: datetime | None) -> agg.IncidentState:
        return self._command(incident_id, lambda s, now: agg.resolve(s, at or now, now))

    def stop_clock(
        self,
        incident_id: uuid.UUID,
        reason: agg.StopReason,
        start: datetime | None,
        end: datetime | None,
    ) -> agg.IncidentState:
        return self._command(
            incident_id, lambda s, now: agg.stop_clock(s, reason, start or now, end, now)
        )

    def end_stop_clock(
        self, incident_id: uuid.UUID, number: int, end: datetime | None
    ) -> agg.IncidentState:
        return self._command(
            incident_id, lambda s, now: agg.end_stop_clock(s, number, end or now, now)
        )

    def _command(
        self,
        incident_id: uuid.UUID,
        decide: Callable[[agg.IncidentState, datetime], agg.IncidentEvent],
    ) -> agg.IncidentState:
        with _one_writer(), self.store.writing() as records:
            records.queue_behind(str(incident_id))  # commands on one incident queue here
            state = records.load(str(incident_id))
            if state is None:
                raise Refused("not_found", f"There is no incident {incident_id}.", kind="not_found")
            now = self.clock()
            event = self._decide(lambda: decide(state, now))
            return self._append(records, str(incident_id), state, event)

    @staticmethod
    def _decide(command: Callable[[], agg.IncidentEvent]) -> agg.IncidentEvent:
        try:
            return command()
        except agg.Rejected as exc:
            raise Refused(exc.code, exc.message, kind=exc.kind) from None

    def _append(
        self,
        records: Records,
        incident_id: str,
        state: agg.IncidentState | None,
        event: agg.IncidentEvent,
    ) -> agg.IncidentState:
        after = agg.evolve(state, incident_id, event)
        records.append(after, event, self.clock())
        records.project(after)
        return after
