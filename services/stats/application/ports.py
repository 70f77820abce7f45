"""What the statistics projector and reports need of their store, and nothing more
(``store.view`` implements it): the application names no table and no SQL.

Both work inside a transaction someone else opened (the consumer's batch, the API's
read), so a port here is one connection's worth of reads and writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from services.stats.domain.buckets import Period
from services.stats.domain.facts import ConversationFact
from services.stats.domain.figures import Row


class Facts(Protocol):
    """The projector's view of one batch's transaction: tenants, end users, facts and
    the rollups changed by deltas (keys as ``domain.contributions`` makes them)."""

    def save_tenant(self, tenant_id: str, time_zone: str, plan: str) -> None: ...

    def save_end_user(
        self, tenant_id: str, user_id: str, first_name: str, last_name: str, role: str
    ) -> None: ...

    def mark_end_user_deleted(self, tenant_id: str, user_id: str) -> None: ...

    def forget_tenant(self, tenant_id: str) -> None: ...

    def time_zones(self, tenant_ids: Iterable[str]) -> dict[str, str]: ...

    def load_facts(self, ids: Iterable[str]) -> dict[str, ConversationFact]: ...

    def tenant_facts(self, tenant_id: str) -> dict[str, ConversationFact]: ...

    def save_facts(self, facts: Iterable[ConversationFact]) -> None: ...

    def add_to_rollups(self, delta: Mapping[tuple[str, tuple], Mapping[str, int]]) -> None: ...

    def clear_rollups(self, tenant_id: str) -> None: ...


class Rollups(Protocol):
    """The reports' reads: a rollup (by its table's name) summed per bucket or over the
    period, and the tenant's settings and end users' names."""

    def series(
        self,
        rollup: str,
        tenant_id: str,
        period: Period,
        channel: str | None,
        dimensions: Sequence[str],
        measures: Sequence[str],
    ) -> list[Row]: ...

    def totals(
        self,
        rollup: str,
        tenant_id: str,
        period: Period,
        channel: str | None,
        dimensions: Sequence[str],
        measures: Sequence[str],
    ) -> list[Row]: ...

    def end_user_names(self, tenant_id: str) -> dict[str, str]: ...

    def tenant_settings(self, tenant_id: str) -> tuple[str, str | None]: ...
