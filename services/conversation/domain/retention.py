"""How long a tenant's data is kept (SPEC §3.4, §7): the contract + 30 calendar days.

Configuration, customer content and statistics are kept while the contract runs and for
``RETENTION_AFTER_CONTRACT`` after its end, then deleted for good. :class:`TenantPurge`
is the operator's record that (and when) a tenant's data was purged: it holds the
tenant's id and dates only, and its creation is what the other services hear as
``TenantPurged``. :class:`PurgeMark` is a tenant-less marker a purge writes into a log
before deleting from it (see ``application/purge.py``).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.domain import Aggregate, event

#: SPEC §3.4: "retention is the contract duration + 30 calendar days".
RETENTION_AFTER_CONTRACT = timedelta(days=30)

PURGE_NAMESPACE = uuid.UUID("0f8e6c43-7f0b-4a53-9f1e-2f6a1c9d8b70")


def retained_until(contract_end: datetime) -> datetime:
    """The last moment the tenant's data is kept."""
    return contract_end + RETENTION_AFTER_CONTRACT


def purge_due(contract_end: datetime | None, now: datetime) -> bool:
    """A tenant is purged once its contract ended more than 30 days before ``now``."""
    return contract_end is not None and now > retained_until(contract_end)


class TenantPurge(Aggregate):
    """The audit record of one tenant's purge; one per tenant (its id derives from it)."""

    @staticmethod
    def create_id(tenant_id: uuid.UUID, **_: Any) -> uuid.UUID:
        return uuid.uuid5(PURGE_NAMESPACE, f"tenant-purge/{tenant_id}")

    @event("Started")
    def __init__(self, tenant_id: uuid.UUID, contract_end: datetime, purged_at: datetime) -> None:
        self.tenant_id = tenant_id
        self.contract_end = contract_end
        self.purged_at = purged_at
        self.finished_at: datetime | None = None
        #: Rows deleted per store of the conversation service (what the audit shows).
        self.deleted: dict[str, int] = {}

    def finish(self, at: datetime, deleted: dict[str, int]) -> bool:
        """Recorded once, when this service's stores hold nothing of the tenant."""
        if self.finished_at is not None:
            return False
        self._finished(self.tenant_id, at, deleted)
        return True

    @event("Finished")
    def _finished(self, tenant_id: uuid.UUID, at: datetime, deleted: dict[str, int]) -> None:
        self.finished_at = at
        self.deleted = dict(deleted)


class PurgeMark(Aggregate):
    """Written to a log before a purge deletes from it, so the log's last notification is
    never a deleted one: SQLite numbers a new row after the highest remaining one, and a
    reused number behind the relay's position would never be published."""

    @event("Marked")
    def __init__(self, at: datetime) -> None:
        self.at = at
