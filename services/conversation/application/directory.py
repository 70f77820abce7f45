"""Use cases of the directory: onboarding, settings, end users, competences, topics, channels, FAQ.

Each method loads, calls the aggregate, saves. Another tenant's aggregate is reported as
missing (``LookupError``), exactly like one that does not exist.
"""

from __future__ import annotations

import contextlib
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from services.conversation.application.eventstore import CacheEvictingOnConflict
from services.conversation.domain.directory import (
    Channel,
    ChannelAccount,
    Competence,
    EndUser,
    FaqEntry,
    Tenant,
    Topic,
    UniqueName,
)
from shared.office_hours import OfficeHours, closed_period_start

A = TypeVar("A", bound=Aggregate)
LABELS: dict[str, type[Competence] | type[Topic]] = {"competence": Competence, "topic": Topic}


@dataclass(frozen=True, slots=True)
class ChannelContext:
    default_language: str
    #: A chatbot answers first on this channel (Bot plan).
    bot_connected: bool
    #: (closed period's start, the channel's out-of-office text) while the tenant is closed.
    out_of_office: tuple[str, str] | None


#: Seconds an inbound message may see a tenant's or channel's settings out of date.
CONTEXT_TTL = 2.0


class Directory(CacheEvictingOnConflict):
    """The tenants' configuration log. Its notification log is the outbox of ``directory-events``."""

    name = "directory"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._contexts: dict[
            tuple[uuid.UUID, uuid.UUID],
            tuple[float, tuple[str, bool, OfficeHours | None, str | None]],
        ] = {}

    # --- loading, always scoped by tenant ---------------------------------------------

    def _get(self, kind: type[A], aggregate_id: uuid.UUID, tenant_id: uuid.UUID | None) -> A:
        try:
            aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise LookupError(kind.__name__) from None
        if not isinstance(aggregate, kind) or getattr(aggregate, "deleted", False):
            raise LookupError(kind.__name__)
        if tenant_id is not None and getattr(aggregate, "tenant_id", None) != tenant_id:
            raise LookupError(kind.__name__)
        return aggregate

    def tenant(self, tenant_id: uuid.UUID) -> Tenant:
        return self._get(Tenant, tenant_id, None)

    def end_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> EndUser:
        return self._get(EndUser, user_id, tenant_id)

    def channel(self, tenant_id: uuid.UUID, channel_id: uuid.UUID) -> Channel:
        return self._get(Channel, channel_id, tenant_id)

    def default_language(self, tenant_id: uuid.UUID) -> str:
        return self.tenant(tenant_id).default_language

    def channel_context(
        self, tenant_id: uuid.UUID, channel_id: uuid.UUID, at: datetime
    ) -> ChannelContext:
        """What an inbound message needs to know of its tenant and channel at ``at``.

        The tenant's and channel's settings are kept for ``CONTEXT_TTL`` seconds: every
        inbound message asks, and a settings change may take that long to apply.
        """
        now = time.monotonic()
        hit = self._contexts.get((tenant_id, channel_id))
        if hit is None or now - hit[0] > CONTEXT_TTL:
            hit = (now, self._channel_settings(tenant_id, channel_id))
            if len(self._contexts) > 10_000:
                self._contexts.clear()
            self._contexts[(tenant_id, channel_id)] = hit
        language, bot, hours, message = hit[1]
        out_of_office = None
        if message and hours is not None:
            period = closed_period_start(hours, at)
            if period is not None:
                out_of_office = (period.isoformat(), message)
        return ChannelContext(language, bot, out_of_office)

    def forget_contexts(self, tenant_id: uuid.UUID) -> None:
        """The tenant is gone (purged): no inbound message may find its settings cached."""
        for key in [k for k in self._contexts if k[0] == tenant_id]:
            self._contexts.pop(key, None)

    def _channel_settings(
        self, tenant_id: uuid.UUID, channel_id: uuid.UUID
    ) -> tuple[str, bool, OfficeHours | None, str | None]:
        tenant = self.tenant(tenant_id)
        try:
            channel: Channel | None = self.channel(tenant_id, channel_id)
        except LookupError:
            channel = None
        message = channel.out_of_office_message if channel else None
        hours = OfficeHours.model_validate(tenant.office_hours) if tenant.office_hours else None
        bot = bool(channel and channel.chatbot) and tenant.plan == "bot"
        return tenant.default_language, bot, hours, message

    # --- tenant -----------------------------------------------------------------------

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

    def change_settings(
        self,
        tenant_id: uuid.UUID,
        routing_enabled: bool,
        languages: list[str],
        default_capacity: int,
        attachment_max_bytes: int | None = None,
    ) -> None:
        tenant = self.tenant(tenant_id)
        tenant.change_settings(routing_enabled, languages, default_capacity, attachment_max_bytes)
        self.save(tenant)

    def set_office_hours(self, tenant_id: uuid.UUID, office_hours: dict[str, Any]) -> None:
        tenant = self.tenant(tenant_id)
        tenant.set_office_hours(office_hours)
        self.save(tenant)

    def end_contract(self, tenant_id: uuid.UUID, contract_end: datetime) -> None:
        tenant = self.tenant(tenant_id)
        tenant.end_contract(contract_end)
        self.save(tenant)

    # --- end users --------------------------------------------------------------------

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
        email = email.strip().lower()
        created: list[uuid.UUID] = []

        def make() -> list[Aggregate]:
            user = EndUser(
                tenant_id=tenant_id,
                first_name=first_name,
                last_name=last_name,
                email=email,
                role=role,
                mother_tongue=mother_tongue,
                languages=languages or [],
                channel_ids=channel_ids or [],
                competences=competences or [],
                capacity=capacity,
                activated_at=datetime.now(UTC),
            )
            created[:] = [user.id]
            return [user, *self._names(tenant_id, user.id, "email", take=email)]

        self._save_unique(make)
        return created[0]

    def update_end_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID, **changes: Any) -> None:
        """A new email is refused with ``NameTaken`` if another end user of the tenant has it."""
        if "email" in changes:
            changes["email"] = changes["email"].strip().lower()

        def make() -> list[Aggregate]:
            user = self.end_user(tenant_id, user_id)
            before = user.email
            if not user.update(**changes):
                return []
            if user.email == before:
                return [user]
            return [user, *self._names(tenant_id, user_id, "email", user.email, before)]

        self._save_unique(make)

    def deactivate_end_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> None:
        user = self.end_user(tenant_id, user_id)
        if user.deactivate(datetime.now(UTC)):
            self.save(user)

    def reactivate_end_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> None:
        user = self.end_user(tenant_id, user_id)
        if user.reactivate(datetime.now(UTC)):
            self.save(user)

    def delete_end_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> None:
        """Deletes it; its email is free for another end user at the same moment."""
        user = self.end_user(tenant_id, user_id)
        user.delete(datetime.now(UTC))
        self.save(user, *self._names(tenant_id, user_id, "email", free=user.email))

    def set_presence(self, tenant_id: uuid.UUID, user_id: uuid.UUID, presence: str) -> None:
        user = self.end_user(tenant_id, user_id)
        if user.set_presence(presence, datetime.now(UTC)):
            self.save(user)

    # --- competences and topics -------------------------------------------------------

    def create_label(
        self, kind: str, tenant_id: uuid.UUID, name: str, description: str
    ) -> uuid.UUID:
        """A name another label of its kind has is refused with ``NameTaken``."""
        self.tenant(tenant_id)
        created: list[uuid.UUID] = []

        def make() -> list[Aggregate]:
            label = LABELS[kind](tenant_id=tenant_id, name=name, description=description)
            created[:] = [label.id]
            return [label, *self._names(tenant_id, label.id, kind, take=name)]

        self._save_unique(make)
        return created[0]

    def update_label(
        self, kind: str, tenant_id: uuid.UUID, label_id: uuid.UUID, name: str, description: str
    ) -> None:
        def make() -> list[Aggregate]:
            label = self._get(LABELS[kind], label_id, tenant_id)
            before = label.name
            label.update(tenant_id, name, description)
            return [label, *self._names(tenant_id, label_id, kind, name, before)]

        self._save_unique(make)

    def delete_label(
        self,
        kind: str,
        tenant_id: uuid.UUID,
        label_id: uuid.UUID,
        holders: set[uuid.UUID] = frozenset(),  # type: ignore[assignment]
    ) -> None:
        """Deletes it; a deleted competence is also taken from everyone who had it."""
        label = self._get(LABELS[kind], label_id, tenant_id)
        label.delete(tenant_id)
        changed: list[Aggregate] = [label, *self._names(tenant_id, label_id, kind, free=label.name)]
        if kind == "competence":
            changed += self._set_holders(tenant_id, str(label_id), set(), set(holders))
        self.save(*changed)

    def assign_competence(
        self,
        tenant_id: uuid.UUID,
        competence_id: uuid.UUID,
        user_ids: set[uuid.UUID],
        current_holders: set[uuid.UUID],
    ) -> None:
        self._get(Competence, competence_id, tenant_id)
        users = self._set_holders(tenant_id, str(competence_id), user_ids, current_holders)
        if users:
            self.save(*users)

    def _set_holders(
        self, tenant_id: uuid.UUID, competence: str, wanted: set[uuid.UUID], current: set[uuid.UUID]
    ) -> list[EndUser]:
        changed = []
        for user_id in wanted | current:
            user = self.end_user(tenant_id, user_id)
            has = competence in user.competences
            if user_id in wanted and not has:
                user.update(competences=[*user.competences, competence])
            elif user_id not in wanted and has:
                user.update(competences=[c for c in user.competences if c != competence])
            else:
                continue
            changed.append(user)
        return changed

    # --- unique names ------------------------------------------------------------------

    def _names(
        self,
        tenant_id: uuid.UUID,
        holder: uuid.UUID,
        kind: str,
        take: str | None = None,
        free: str | None = None,
    ) -> list[UniqueName]:
        """The names to save with ``holder``'s change: ``free`` given up, ``take`` held
        (``NameTaken`` if someone else holds it). A name held before names were recorded
        has no record; the API's check against the views still sees it."""
        changed: list[UniqueName] = []
        if free is not None and free != take:
            old = self._unique(tenant_id, kind, free)
            if old is not None and old.free(holder):
                changed.append(old)
        if take is not None:
            new = self._unique(tenant_id, kind, take) or UniqueName(
                tenant_id=tenant_id, kind=kind, digest=UniqueName.digest_of(take)
            )
            if new.take(holder):
                changed.append(new)
        return changed

    def _unique(self, tenant_id: uuid.UUID, kind: str, name: str) -> UniqueName | None:
        try:
            found = self.repository.get(
                UniqueName.create_id(tenant_id, kind, UniqueName.digest_of(name))
            )
        except AggregateNotFoundError:
            return None
        assert isinstance(found, UniqueName)
        return found

    def _save_unique(self, make: Callable[[], Sequence[Aggregate]]) -> None:
        """Save what ``make`` builds. If another replica saved meanwhile (the same name's
        record at the same version), build again on the stored state: ``make`` then raises
        ``NameTaken``, or succeeds if the other change was to something else."""
        for attempt in range(3):
            aggregates = make()
            if not aggregates:
                return
            try:
                self.save(*aggregates)
                return
            except IntegrityError:
                if attempt == 2 or not any(isinstance(a, UniqueName) for a in aggregates):
                    raise

    # --- channels ---------------------------------------------------------------------

    def connect_channel(
        self,
        tenant_id: uuid.UUID,
        channel_type: str,
        name: str,
        external_id: str | None = None,
        sealed_credentials: str | None = None,
    ) -> uuid.UUID:
        """Connect a channel; a Meta account (page, phone number id) used by another
        connected channel is refused with ``AccountConnectedElsewhere``. The channel and
        the account's claim are saved together, so of two connects at once (any replicas)
        one is stored and the other, retried on the stored state, is refused."""
        self.tenant(tenant_id)
        account = ChannelAccount.account_of(channel_type, external_id)
        for attempt in range(3):
            channel = Channel(
                tenant_id=tenant_id,
                channel_type=channel_type,
                name=name,
                public_key=secrets.token_urlsafe(24),
                external_id=external_id,
                sealed_credentials=sealed_credentials,
            )
            claim = None
            if account is not None:
                claim = self._account(account, tenant_id)
                claim.claim(tenant_id, channel_type, channel.id)
            try:
                self.save(channel, claim)
            except IntegrityError:
                if claim is None or attempt == 2:
                    raise
                continue  # someone claimed the account meanwhile: decide again on what is stored
            return channel.id
        raise AssertionError("unreachable")

    def _account(self, account: str, tenant_id: uuid.UUID) -> ChannelAccount:
        try:
            found = self.repository.get(ChannelAccount.create_id(account))
        except AggregateNotFoundError:
            return ChannelAccount(account=account, tenant_id=tenant_id)
        assert isinstance(found, ChannelAccount)
        return found

    def set_allowed_origins(
        self, tenant_id: uuid.UUID, channel_id: uuid.UUID, allowed_origins: list[str]
    ) -> None:
        channel = self.channel(tenant_id, channel_id)
        channel.set_allowed_origins(tenant_id, allowed_origins)
        self.save(channel)

    def set_out_of_office(
        self, tenant_id: uuid.UUID, channel_id: uuid.UUID, message: str | None
    ) -> None:
        channel = self.channel(tenant_id, channel_id)
        channel.set_out_of_office(tenant_id, message)
        self.save(channel)

    def connect_chatbot(
        self,
        tenant_id: uuid.UUID,
        channel_id: uuid.UUID,
        platform: str,
        url: str,
        sealed_token: str | None,
    ) -> None:
        channel = self.channel(tenant_id, channel_id)
        channel.connect_chatbot(tenant_id, platform, url, sealed_token)
        self.save(channel)

    def disconnect_chatbot(self, tenant_id: uuid.UUID, channel_id: uuid.UUID) -> None:
        channel = self.channel(tenant_id, channel_id)
        channel.disconnect_chatbot()
        self.save(channel)

    def disconnect_channel(self, tenant_id: uuid.UUID, channel_id: uuid.UUID) -> None:
        """Disconnect; the account outside is free for another channel at the same moment."""
        channel = self.channel(tenant_id, channel_id)
        channel.disconnect()
        account = ChannelAccount.account_of(channel.channel_type, channel.external_id)
        claim = None
        if account is not None:
            with contextlib.suppress(AggregateNotFoundError):
                claim = self.repository.get(ChannelAccount.create_id(account))
            if claim is not None and not claim.release(channel_id):
                claim = None  # connected before accounts were claimed: nothing to free
        self.save(channel, claim)

    # --- FAQ (operator) ---------------------------------------------------------------

    def create_faq(self, question: str, answer: str) -> uuid.UUID:
        entry = FaqEntry(question=question, answer=answer)
        self.save(entry)
        return entry.id

    def update_faq(self, entry_id: uuid.UUID, question: str, answer: str) -> None:
        entry = self._get(FaqEntry, entry_id, None)
        entry.update(question, answer)
        self.save(entry)

    def delete_faq(self, entry_id: uuid.UUID) -> None:
        entry = self._get(FaqEntry, entry_id, None)
        entry.delete()
        self.save(entry)
