"""The statistics application's ports onto the view (``application.ports``), on the
connection of the transaction the caller opened: ``View`` for the projector (the
consumer's batch), ``Reader`` for the reports (the API's read). The SQL is ``access``'s
and ``rollups``'s; rollups are named by their table's name (``ROLLUPS``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import Connection

from services.stats.domain.buckets import Period
from services.stats.domain.facts import ConversationFact
from services.stats.domain.figures import Row
from services.stats.store import ROLLUPS, access, end_users, metadata, rollups, tenants
from shared.purge import delete_tenant_rows


class View:
    """The projector's reads and writes in one batch's transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def save_tenant(self, tenant_id: str, time_zone: str, plan: str) -> None:
        row = {"tenant_id": tenant_id, "time_zone": time_zone, "plan": plan}
        access.upsert(self.conn, tenants, [row], add=False)

    def save_end_user(
        self, tenant_id: str, user_id: str, first_name: str, last_name: str, role: str
    ) -> None:
        row = {
            "tenant_id": tenant_id,
            "user_id": user_id,
            "first_name": first_name,
            "last_name": last_name,
            "role": role,
            "deleted": False,
        }
        access.upsert(self.conn, end_users, [row], add=False)

    def mark_end_user_deleted(self, tenant_id: str, user_id: str) -> None:
        access.mark_end_user_deleted(self.conn, tenant_id, user_id)

    def forget_tenant(self, tenant_id: str) -> None:
        delete_tenant_rows(self.conn, metadata, tenant_id)

    def time_zones(self, tenant_ids: Iterable[str]) -> dict[str, str]:
        return access.time_zones(self.conn, tenant_ids)

    def load_facts(self, ids: Iterable[str]) -> dict[str, ConversationFact]:
        return access.load_facts(self.conn, ids)

    def tenant_facts(self, tenant_id: str) -> dict[str, ConversationFact]:
        return access.tenant_facts(self.conn, tenant_id)

    def save_facts(self, facts: Iterable[ConversationFact]) -> None:
        access.save_facts(self.conn, facts)

    def add_to_rollups(self, delta: Mapping[tuple[str, tuple], Mapping[str, int]]) -> None:
        access.add_to_rollups(self.conn, delta)

    def clear_rollups(self, tenant_id: str) -> None:
        access.clear_rollups(self.conn, tenant_id)


class Reader:
    """The reports' reads on one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def series(
        self,
        rollup: str,
        tenant_id: str,
        period: Period,
        channel: str | None,
        dimensions: Sequence[str],
        measures: Sequence[str],
    ) -> list[Row]:
        return rollups.series(
            self.conn, ROLLUPS[rollup], tenant_id, period, channel, dimensions, measures
        )

    def totals(
        self,
        rollup: str,
        tenant_id: str,
        period: Period,
        channel: str | None,
        dimensions: Sequence[str],
        measures: Sequence[str],
    ) -> list[Row]:
        return rollups.totals(
            self.conn, ROLLUPS[rollup], tenant_id, period, channel, dimensions, measures
        )

    def end_user_names(self, tenant_id: str) -> dict[str, str]:
        return rollups.end_user_names(self.conn, tenant_id)

    def tenant_settings(self, tenant_id: str) -> tuple[str, str | None]:
        return access.tenant_settings(self.conn, tenant_id)
