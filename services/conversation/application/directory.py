"""Use cases of the directory: onboarding a tenant, its end users, channels and presence."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from functools import lru_cache

from eventsourcing.application import AggregateNotFoundError, Application

from services.conversation.domain.directory import Channel, EndUser, Tenant


class Directory(Application):
    """The tenants' configuration log. Its notification log is the outbox of ``directory-events``."""

    name = "directory"

    def create_tenant(
        self,
        name: str,
        plan: str,
        sdk_option: bool = False,
        minimum_end_users: int = 0,
        contract_start: datetime | None = None,
        time_zone: str = "Europe/Brussels",
        default_language: str = "nl",
        routing_enabled: bool = True,
        default_capacity: int = 5,
    ) -> uuid.UUID:
        tenant = Tenant(
            name=name,
            plan=plan,
            sdk_option=sdk_option,
            minimum_end_users=minimum_end_users,
            contract_start=contract_start,
            time_zone=time_zone,
            default_language=default_language,
            routing_enabled=routing_enabled,
            default_capacity=default_capacity,
        )
        self.save(tenant)
        return tenant.id

    def tenant(self, tenant_id: uuid.UUID) -> Tenant:
        try:
            tenant = self.repository.get(tenant_id)
        except AggregateNotFoundError:
            raise LookupError("tenant") from None
        if not isinstance(tenant, Tenant):
            raise LookupError("tenant")
        return tenant

    def default_language(self, tenant_id: uuid.UUID) -> str:
        return _cached_language(self, tenant_id)

    def create_end_user(
        self,
        tenant_id: uuid.UUID,
        first_name: str,
        last_name: str,
        email: str,
        role: str,
        mother_tongue: str,
        languages: list[str] | None = None,
        channel_ids: list[uuid.UUID] | None = None,
        competences: list[str] | None = None,
        capacity: int | None = None,
    ) -> uuid.UUID:
        self.tenant(tenant_id)
        user = EndUser(
            tenant_id=tenant_id,
            first_name=first_name,
            last_name=last_name,
            email=email.strip().lower(),
            role=role,
            mother_tongue=mother_tongue,
            languages=languages or [],
            channel_ids=channel_ids or [],
            competences=competences or [],
            capacity=capacity,
            activated_at=datetime.now(UTC),
        )
        self.save(user)
        return user.id

    def end_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> EndUser:
        try:
            user = self.repository.get(user_id)
        except AggregateNotFoundError:
            raise LookupError("end user") from None
        if not isinstance(user, EndUser) or user.tenant_id != tenant_id:
            raise LookupError("end user")
        return user

    def set_presence(self, tenant_id: uuid.UUID, user_id: uuid.UUID, presence: str) -> None:
        user = self.end_user(tenant_id, user_id)
        if user.set_presence(presence, datetime.now(UTC)):
            self.save(user)

    def connect_channel(self, tenant_id: uuid.UUID, channel_type: str, name: str) -> uuid.UUID:
        self.tenant(tenant_id)
        channel = Channel(
            tenant_id=tenant_id,
            channel_type=channel_type,
            name=name,
            public_key=secrets.token_urlsafe(24),
        )
        self.save(channel)
        return channel.id

    def channel(self, tenant_id: uuid.UUID, channel_id: uuid.UUID) -> Channel:
        try:
            channel = self.repository.get(channel_id)
        except AggregateNotFoundError:
            raise LookupError("channel") from None
        if not isinstance(channel, Channel) or channel.tenant_id != tenant_id:
            raise LookupError("channel")
        return channel


@lru_cache(maxsize=10_000)
def _cached_language(directory: Directory, tenant_id: uuid.UUID) -> str:
    # The default language only changes through general settings (a later issue drops the cache).
    return directory.tenant(tenant_id).default_language
