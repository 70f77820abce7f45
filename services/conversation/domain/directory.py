"""The tenant's directory: the tenant itself, its end users and its channels (SPEC §2, §3.1.2, §3.1.5).

Presence lives on the end user because routing must hear about it in order with the
user's other changes.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from eventsourcing.domain import Aggregate, event

from shared.events import HANDLING_ROLES


class DirectoryError(Exception):
    """A directory change the rules do not allow."""


class Tenant(Aggregate):
    @event("Created")
    def __init__(
        self,
        name: str,
        plan: str,
        sdk_option: bool,
        minimum_end_users: int,
        contract_start: datetime | None,
        time_zone: str,
        default_language: str,
        routing_enabled: bool,
        default_capacity: int,
    ) -> None:
        self.name = name
        self.plan = plan
        self.sdk_option = sdk_option
        self.minimum_end_users = minimum_end_users
        self.contract_start = contract_start
        self.time_zone = time_zone
        self.default_language = default_language
        self.routing_enabled = routing_enabled
        self.default_capacity = default_capacity

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.id


class EndUser(Aggregate):
    @event("Created")
    def __init__(
        self,
        tenant_id: uuid.UUID,
        first_name: str,
        last_name: str,
        email: str,
        role: str,
        mother_tongue: str,
        languages: list[str],
        channel_ids: list[uuid.UUID],
        competences: list[str],
        capacity: int | None,
        activated_at: datetime,
    ) -> None:
        if role not in HANDLING_ROLES and (languages or channel_ids or competences):
            raise DirectoryError("only administrators, managers and agents get skills")
        self.tenant_id = tenant_id
        self.first_name = first_name
        self.last_name = last_name
        self.email = email
        self.role = role
        self.mother_tongue = mother_tongue
        self.languages = list(languages)
        self.channel_ids = list(channel_ids)
        self.competences = list(competences)
        self.capacity = capacity
        self.active = True
        self.presence = "offline"

    def set_presence(self, presence: str, at: datetime) -> bool:
        if presence == self.presence:
            return False
        if not self.active:
            raise DirectoryError("a deactivated user has no presence")
        self._presence_changed(self.tenant_id, presence, at)
        return True

    @event("PresenceChanged")
    def _presence_changed(self, tenant_id: uuid.UUID, presence: str, at: datetime) -> None:
        self.presence = presence


class Channel(Aggregate):
    @event("Connected")
    def __init__(self, tenant_id: uuid.UUID, channel_type: str, name: str, public_key: str) -> None:
        self.tenant_id = tenant_id
        self.channel_type = channel_type
        self.name = name
        self.public_key = public_key
        self.connected = True
