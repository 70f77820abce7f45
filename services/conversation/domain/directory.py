"""The tenant's directory (SPEC §2, §3.1.2-§3.1.7): the tenant and its settings, end users,
competences, topics and channels.

Presence lives on the end user because routing must hear about it in order with the
user's other changes. Every event carries ``tenant_id`` so the outbox keys it without a
lookup. Rules that need more than one aggregate (known ids) are checked by the application
against the views before these methods are called; unique names are held by a
:class:`UniqueName` saved with the change, so the event store enforces them at any number
of replicas.

Each aggregate's ``__init__`` sets its whole state. An event that gained a field after
events of its kind were stored is declared as a class with a ``class_version`` and an
``upcast_v1_v2``: the library upcasts stored (older) events on reading, so every event has
every field and old stores load unchanged (no ``getattr`` defaults).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from shared.errors import Kind, Refusal
from shared.events import HANDLING_ROLES


class DirectoryError(Refusal):
    """A directory change the rules do not allow; ``code`` names the rule."""

    def __init__(
        self, code: str, message: str, details: Any = None, *, kind: Kind = "conflict"
    ) -> None:
        super().__init__(code, message, details, kind=kind)


class SkillsNotAllowed(DirectoryError):
    """Analysts get no competences, channels or languages (SPEC §3.1.2)."""

    def __init__(self, details: Any = None) -> None:
        super().__init__(
            "skills_not_allowed",
            "Analysts get no competences, channels or languages.",
            details,
            kind="invalid",
        )


def may_have_skills(role: str) -> bool:
    """Only the roles that handle conversations have competences, channels and languages."""
    return role in HANDLING_ROLES


def check_skills(role: str, languages: list, channel_ids: list, competences: list) -> None:
    """:class:`SkillsNotAllowed` when a role without skills is given some."""
    if not may_have_skills(role) and (languages or channel_ids or competences):
        raise SkillsNotAllowed()


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
        self.contract_end: datetime | None = None
        self.time_zone = time_zone
        self.default_language = default_language
        self.routing_enabled = routing_enabled
        self.default_capacity = default_capacity
        self.languages: list[str] = [default_language]
        self.office_hours: dict[str, Any] | None = None
        self.attachment_max_bytes: int | None = None

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.id

    class SettingsChanged(Aggregate.Event):
        """The general settings; ``attachment_max_bytes`` came later (v2): older events get
        None (the platform's limit)."""

        routing_enabled: bool
        languages: list[str]
        default_capacity: int
        attachment_max_bytes: int | None
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("attachment_max_bytes", None)

    @event(SettingsChanged)
    def change_settings(
        self,
        routing_enabled: bool,
        languages: list[str],
        default_capacity: int,
        attachment_max_bytes: int | None = None,
    ) -> None:
        self.routing_enabled = routing_enabled
        self.languages = list(languages)
        self.default_capacity = default_capacity
        self.attachment_max_bytes = attachment_max_bytes

    @event("OfficeHoursSet")
    def set_office_hours(self, office_hours: dict[str, Any]) -> None:
        self.office_hours = office_hours

    @event("ContractEnded")
    def end_contract(self, contract_end: datetime) -> None:
        self.contract_end = contract_end


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
        check_skills(role, languages, channel_ids, competences)
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
        self.deleted = False
        self.presence = "offline"

    def update(self, **changes: Any) -> bool:
        """Apply profile changes; returns False when nothing changes (no event)."""
        self._check_alive()
        current = self.profile()
        merged = current | changes
        check_skills(
            merged["role"], merged["languages"], merged["channel_ids"], merged["competences"]
        )
        if merged == current:
            return False
        self._updated(self.tenant_id, **merged)
        return True

    def profile(self) -> dict[str, Any]:
        return {
            "first_name": self.first_name,
            "last_name": self.last_name,
            "email": self.email,
            "role": self.role,
            "mother_tongue": self.mother_tongue,
            "languages": list(self.languages),
            "channel_ids": list(self.channel_ids),
            "competences": list(self.competences),
            "capacity": self.capacity,
        }

    @event("Updated")
    def _updated(
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
    ) -> None:
        self.first_name, self.last_name, self.email = first_name, last_name, email
        self.role, self.mother_tongue = role, mother_tongue
        self.languages, self.channel_ids = list(languages), list(channel_ids)
        self.competences, self.capacity = list(competences), capacity

    def deactivate(self, at: datetime) -> bool:
        self._check_alive()
        if not self.active:
            return False
        self._deactivated(self.tenant_id, at)
        return True

    @event("Deactivated")
    def _deactivated(self, tenant_id: uuid.UUID, at: datetime) -> None:
        self.active = False
        self.presence = "offline"

    def reactivate(self, at: datetime) -> bool:
        self._check_alive()
        if self.active:
            return False
        self._reactivated(self.tenant_id, at)
        return True

    @event("Reactivated")
    def _reactivated(self, tenant_id: uuid.UUID, at: datetime) -> None:
        self.active = True

    def delete(self, at: datetime) -> None:
        self._check_alive()
        self._deleted(self.tenant_id, at, self.active)

    @event("Deleted")
    def _deleted(self, tenant_id: uuid.UUID, at: datetime, was_active: bool) -> None:
        self.deleted = True
        self.active = False
        self.presence = "offline"

    def set_presence(self, presence: str, at: datetime) -> bool:
        if presence == self.presence:
            return False
        if not self.active or self.deleted:
            raise DirectoryError("inactive_user", "A deactivated user has no presence.")
        self._presence_changed(self.tenant_id, presence, at)
        return True

    @event("PresenceChanged")
    def _presence_changed(self, tenant_id: uuid.UUID, presence: str, at: datetime) -> None:
        self.presence = presence

    def _check_alive(self) -> None:
        if self.deleted:
            raise LookupError("end user")


class Competence(Aggregate):
    """A skill conversations can require (SPEC §3.1.3)."""

    @event("Created")
    def __init__(self, tenant_id: uuid.UUID, name: str, description: str) -> None:
        self.tenant_id, self.name, self.description = tenant_id, name, description
        self.deleted = False

    @event("Updated")
    def update(self, tenant_id: uuid.UUID, name: str, description: str) -> None:
        self.name, self.description = name, description

    @event("Deleted")
    def delete(self, tenant_id: uuid.UUID) -> None:
        self.deleted = True


class Topic(Aggregate):
    """A label a conversation is archived with (SPEC §3.1.4)."""

    @event("Created")
    def __init__(self, tenant_id: uuid.UUID, name: str, description: str) -> None:
        self.tenant_id, self.name, self.description = tenant_id, name, description
        self.deleted = False

    @event("Updated")
    def update(self, tenant_id: uuid.UUID, name: str, description: str) -> None:
        self.name, self.description = name, description

    @event("Deleted")
    def delete(self, tenant_id: uuid.UUID) -> None:
        self.deleted = True


class Channel(Aggregate):
    """A connected channel account (SPEC §3.1.5). Credentials are stored encrypted."""

    class Connected(Aggregate.Created):
        """Channel connected; ``external_id`` and ``sealed_credentials`` came later (v2):
        older events get None."""

        tenant_id: uuid.UUID
        channel_type: str
        name: str
        public_key: str
        external_id: str | None
        sealed_credentials: str | None
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("external_id", None)
            state.setdefault("sealed_credentials", None)

    @event(Connected)
    def __init__(
        self,
        tenant_id: uuid.UUID,
        channel_type: str,
        name: str,
        public_key: str,
        external_id: str | None = None,
        sealed_credentials: str | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self.channel_type = channel_type
        self.name = name
        self.public_key = public_key
        self.external_id = external_id
        self.sealed_credentials = sealed_credentials
        self.out_of_office_message: str | None = None
        #: The websites whose pages may open the chat widget (website chat only).
        self.allowed_origins: list[str] = []
        self.chatbot: dict[str, str | None] | None = None
        self.connected = True

    @event("OutOfOfficeSet")
    def set_out_of_office(self, tenant_id: uuid.UUID, message: str | None) -> None:
        self.out_of_office_message = message

    @event("OriginsSet")
    def set_allowed_origins(self, tenant_id: uuid.UUID, allowed_origins: list[str]) -> None:
        """The websites whose pages may open the chat widget (website chat only)."""
        self.allowed_origins = list(allowed_origins)

    @event("ChatbotConnected")
    def connect_chatbot(
        self, tenant_id: uuid.UUID, platform: str, url: str, sealed_token: str | None
    ) -> None:
        self.chatbot = {"platform": platform, "url": url, "sealed_token": sealed_token}

    def disconnect_chatbot(self) -> None:
        if self.chatbot is None:
            raise LookupError("chatbot")
        self._chatbot_disconnected(self.tenant_id)

    @event("ChatbotDisconnected")
    def _chatbot_disconnected(self, tenant_id: uuid.UUID) -> None:
        self.chatbot = None

    def disconnect(self) -> None:
        if not self.connected:
            raise DirectoryError("already_disconnected", "The channel is already disconnected.")
        self._disconnected(self.tenant_id)

    @event("Disconnected")
    def _disconnected(self, tenant_id: uuid.UUID) -> None:
        self.connected = False


#: Channel types that use the same account outside: Messenger and Page comments a page.
ACCOUNT_KINDS = {
    "messenger": "facebook-page",
    "page_comments": "facebook-page",
    "whatsapp": "whatsapp",
}
ACCOUNT_NAMESPACE = uuid.UUID("9d3f6a0e-2b7c-4e51-8a4d-5c1e0f7b3a92")


class AccountConnectedElsewhere(DirectoryError):
    """The account outside is used by another connected channel (of this tenant or, without
    saying which, of another one)."""

    def __init__(self, channel_id: uuid.UUID | None = None) -> None:
        # Never names another tenant's channel; the caller's own is named.
        super().__init__(
            "account_connected_elsewhere",
            "This page or phone number is already connected in another channel; disconnect it"
            " there first.",
            {"channel_id": str(channel_id)} if channel_id else None,
        )
        #: The channel that has it, when it is the caller's own.
        self.channel_id = channel_id


class ChannelAccount(Aggregate):
    """An account outside (a Facebook page, a WhatsApp phone number id) and the connected
    channels that use it: one tenant at a time, one connected channel per channel type
    (Messenger and Page comments may share a page). Disconnecting frees it.

    The id is derived from the account, so two connects at once write the same aggregate
    at the same version and the event store's unique (id, version) lets only one through,
    whichever replica each runs on.
    """

    @staticmethod
    def account_of(channel_type: str, external_id: str | None) -> str | None:
        kind = ACCOUNT_KINDS.get(channel_type)
        return f"{kind}/{external_id}" if kind and external_id else None

    @staticmethod
    def create_id(account: str, **_: Any) -> uuid.UUID:
        return uuid.uuid5(ACCOUNT_NAMESPACE, f"channel-account/{account}")

    @event("Registered")
    def __init__(self, account: str, tenant_id: uuid.UUID) -> None:
        self.account = account
        self.tenant_id = tenant_id
        #: channel type -> the connected channel that uses the account for it.
        self.channels: dict[str, uuid.UUID] = {}

    def claim(self, tenant_id: uuid.UUID, channel_type: str, channel_id: uuid.UUID) -> None:
        if self.channels and self.tenant_id != tenant_id:
            raise AccountConnectedElsewhere()
        if channel_type in self.channels:
            raise AccountConnectedElsewhere(self.channels[channel_type])
        self._claimed(tenant_id, channel_type, channel_id)

    @event("Claimed")
    def _claimed(self, tenant_id: uuid.UUID, channel_type: str, channel_id: uuid.UUID) -> None:
        self.tenant_id = tenant_id
        self.channels[channel_type] = channel_id

    def release(self, channel_id: uuid.UUID) -> bool:
        """The channel no longer uses the account (False: it did not)."""
        for channel_type, holder in self.channels.items():
            if holder == channel_id:
                self._released(self.tenant_id, channel_type)
                return True
        return False

    @event("Released")
    def _released(self, tenant_id: uuid.UUID, channel_type: str) -> None:
        del self.channels[channel_type]


class NameTaken(DirectoryError):
    """Another end user of the tenant has that email, or another label of its kind that name."""

    def __init__(self, kind: str) -> None:
        if kind == "email":
            super().__init__("email_taken", "Another end user of this tenant has that email.")
        else:
            super().__init__("name_taken", f"A {kind} with that name exists.")
        self.name_kind = kind


UNIQUE_NAMESPACE = uuid.UUID("4f1c2a77-5d0e-4b8a-9e36-0c7d2b915f44")


class UniqueName(Aggregate):
    """A name that is unique within a tenant - an end user's email, a competence's or a
    topic's name - and what holds it (freed when the holder is renamed or deleted).

    The id is derived from (tenant, kind, name), so two replicas creating the same name at
    once write the same aggregate at the same version, and the event store's unique
    (id, version) lets only one of them through (as :class:`ChannelAccount` does). It keeps
    a digest of the name, not the name: an email lives only in its end user's events.
    """

    @staticmethod
    def digest_of(name: str) -> str:
        return hashlib.sha256(name.encode()).hexdigest()

    @staticmethod
    def create_id(tenant_id: uuid.UUID, kind: str, digest: str, **_: Any) -> uuid.UUID:
        return uuid.uuid5(UNIQUE_NAMESPACE, f"{tenant_id}/{kind}/{digest}")

    @event("Registered")
    def __init__(self, tenant_id: uuid.UUID, kind: str, digest: str) -> None:
        self.tenant_id, self.kind, self.digest = tenant_id, kind, digest
        self.holder: uuid.UUID | None = None

    def take(self, holder: uuid.UUID) -> bool:
        """Hold the name for ``holder`` (False: it already does); :class:`NameTaken` if
        someone else does."""
        if self.holder == holder:
            return False
        if self.holder is not None:
            raise NameTaken(self.kind)
        self._taken(self.tenant_id, holder)
        return True

    @event("Taken")
    def _taken(self, tenant_id: uuid.UUID, holder: uuid.UUID) -> None:
        self.holder = holder

    def free(self, holder: uuid.UUID) -> bool:
        """``holder`` no longer has the name (False: it did not hold it)."""
        if self.holder != holder:
            return False
        self._freed(self.tenant_id)
        return True

    @event("Freed")
    def _freed(self, tenant_id: uuid.UUID) -> None:
        self.holder = None


class FaqEntry(Aggregate):
    """A question and answer on how the service works (SPEC §3.1.12), kept by the operator."""

    @event("Created")
    def __init__(self, question: str, answer: str) -> None:
        self.question, self.answer, self.deleted = question, answer, False

    @event("Updated")
    def update(self, question: str, answer: str) -> None:
        self.question, self.answer = question, answer

    @event("Deleted")
    def delete(self) -> None:
        self.deleted = True
