"""Administration (SPEC §3.1.2-§3.1.5): end users, competences, topics and channels, with
the rules that need the views, each checked here once:

- ids in a change are the tenant's (channels, competences, users) and languages are among
  the tenant's offer;
- an email (a label's name) is unique within the tenant: the views answer for names held
  before names were recorded, the directory's ``UniqueName`` refuses a second holder at
  any number of replicas;
- Administrators neither deactivate nor delete themselves;
- an account outside (a page, a phone number) is connected in one channel at a time.

"Analysts get no competences, channels or languages" is the domain's
(:func:`~services.conversation.domain.directory.check_skills`); it is asked here before
the references, so an Analyst given an unknown channel hears about the rule first.
Methods are synchronous: callers run them off the event loop.
"""

from __future__ import annotations

import uuid
from typing import Any

from services.conversation.application.directory import Directory
from services.conversation.application.queries import Queries
from services.conversation.application.security import Security
from services.conversation.domain.directory import (
    ACCOUNT_KINDS,
    AccountConnectedElsewhere,
    NameTaken,
    SkillsNotAllowed,
    check_skills,
    may_have_skills,
)
from shared.errors import Refusal

#: Channels a bot can serve (all of ours, today).
BOT_CHANNELS = frozenset({"messenger", "page_comments", "whatsapp", "webchat"})


class Administration:
    """An Administrator's changes to the tenant's directory (and the operator's onboarding)."""

    def __init__(self, directory: Directory, security: Security, queries: Queries) -> None:
        self.directory = directory
        self.security = security
        self.queries = queries

    # --- onboarding (the operator) ----------------------------------------------------

    def onboard(
        self,
        order: dict[str, Any],
        first_name: str,
        last_name: str,
        email: str,
        language: str,
        password: str | None,
    ) -> tuple[uuid.UUID, uuid.UUID]:
        """An order (SPEC §5) becomes a tenant and its first end user, an Administrator
        (with a password, if one is given); returns both ids."""
        tenant_id = self.directory.create_tenant(**order)
        admin_id = self.directory.create_end_user(
            tenant_id, first_name, last_name, email, "administrator", language, languages=[language]
        )
        if password:
            self.security.set_password(str(tenant_id), str(admin_id), password)
        return tenant_id, admin_id

    # --- the tenant's settings -------------------------------------------------------

    def change_settings(
        self,
        tenant_id: uuid.UUID,
        routing_enabled: bool,
        languages: list[str],
        default_capacity: int,
        attachment_max_bytes: int | None,
        *,
        operator_limit: int,
    ) -> None:
        """General settings: each language once; the tenant's file size limit never above
        the operator's (docs/attachments.md)."""
        if len(set(languages)) != len(languages):
            raise Refusal("duplicate_language", "A language is listed twice.", kind="invalid")
        if attachment_max_bytes is not None and attachment_max_bytes > operator_limit:
            raise Refusal(
                "attachment_limit_too_high",
                f"The file size limit can be at most {operator_limit} bytes on this installation.",
                {"max": operator_limit},
                kind="invalid",
            )
        self.directory.change_settings(
            tenant_id, routing_enabled, languages, default_capacity, attachment_max_bytes
        )

    # --- end users -------------------------------------------------------------------

    def create_end_user(
        self,
        tenant_id: uuid.UUID,
        first_name: str,
        last_name: str,
        email: str,
        role: str,
        mother_tongue: str,
        *,
        languages: list[str],
        channel_ids: list[uuid.UUID],
        competences: list[uuid.UUID],
        capacity: int | None,
        password: str | None,
    ) -> uuid.UUID:
        """A new end user (with a password, if one is given)."""
        check_skills(role, languages, channel_ids, competences)
        self._check_references(tenant_id, channel_ids, competences, languages)
        self._email_free(tenant_id, email)
        user_id = self.directory.create_end_user(
            tenant_id,
            first_name,
            last_name,
            email,
            role,
            mother_tongue,
            languages=languages,
            channel_ids=channel_ids,
            competences=[str(c) for c in competences],
            capacity=capacity,
        )
        if password:
            self.security.set_password(str(tenant_id), str(user_id), password)
        return user_id

    def update_end_user(
        self, tenant_id: uuid.UUID, user_id: uuid.UUID, changes: dict[str, Any]
    ) -> None:
        """Profile changes (only those given); the domain checks the role's skills."""
        self.queries.end_user(tenant_id, user_id)
        self._check_references(
            tenant_id,
            changes.get("channel_ids"),
            changes.get("competences"),
            changes.get("languages"),
        )
        changes = dict(changes)
        if "email" in changes:
            changes["email"] = str(changes["email"]).lower()
            self._email_free(tenant_id, changes["email"], but=user_id)
        if "competences" in changes:
            changes["competences"] = [str(c) for c in changes["competences"]]
        self.directory.update_end_user(tenant_id, user_id, **changes)

    def deactivate_end_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID, by: uuid.UUID) -> None:
        """Ends the user's sessions at once; their open conversations go back to routing."""
        if user_id == by:
            raise Refusal("cannot_deactivate_self", "Administrators cannot deactivate themselves.")
        self.directory.deactivate_end_user(tenant_id, user_id)
        self.security.revoke_user(str(user_id))

    def delete_end_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID, by: uuid.UUID) -> None:
        if user_id == by:
            raise Refusal("cannot_delete_self", "Administrators cannot delete themselves.")
        self.directory.delete_end_user(tenant_id, user_id)
        self.security.revoke_user(str(user_id))

    def _email_free(self, tenant_id: uuid.UUID, email: str, but: uuid.UUID | None = None) -> None:
        owner = self.queries.email_holder(tenant_id, email)
        if owner is not None and owner != str(but):
            raise NameTaken("email")

    def _check_references(
        self,
        tenant_id: uuid.UUID,
        channel_ids: list[uuid.UUID] | None,
        competences: list[uuid.UUID] | None,
        languages: list[str] | None,
    ) -> None:
        """Ids in the change must be this tenant's; languages must be among its offer."""
        if channel_ids:
            known = self.queries.channel_ids(tenant_id)
            unknown = [str(c) for c in channel_ids if str(c) not in known]
            if unknown:
                raise Refusal(
                    "unknown_channel", "No such channel.", {"channel_ids": unknown}, kind="invalid"
                )
        if competences:
            known = self.queries.label_ids("competence", tenant_id)
            unknown = [str(c) for c in competences if str(c) not in known]
            if unknown:
                raise Refusal(
                    "unknown_competence",
                    "No such competence.",
                    {"competences": unknown},
                    kind="invalid",
                )
        if languages:
            offered = self.queries.languages(tenant_id)
            extra = [language for language in languages if language not in offered]
            if extra:
                raise Refusal(
                    "language_not_offered",
                    "Add the language to the general settings first.",
                    {"languages": extra},
                    kind="invalid",
                )

    # --- competences and topics ------------------------------------------------------

    def create_label(
        self, kind: str, tenant_id: uuid.UUID, name: str, description: str
    ) -> uuid.UUID:
        self._name_free(kind, tenant_id, name)
        return self.directory.create_label(kind, tenant_id, name, description)

    def update_label(
        self, kind: str, tenant_id: uuid.UUID, label_id: uuid.UUID, name: str, description: str
    ) -> None:
        self.queries.label(kind, tenant_id, label_id)
        self._name_free(kind, tenant_id, name, but=label_id)
        self.directory.update_label(kind, tenant_id, label_id, name, description)

    def delete_label(self, kind: str, tenant_id: uuid.UUID, label_id: uuid.UUID) -> None:
        """Deletes it; a deleted competence is also taken from everyone who had it."""
        self.queries.label(kind, tenant_id, label_id)
        holders = self._holders(tenant_id, label_id) if kind == "competence" else set()
        self.directory.delete_label(kind, tenant_id, label_id, holders)

    def assign_competence(
        self, tenant_id: uuid.UUID, competence_id: uuid.UUID, user_ids: set[uuid.UUID]
    ) -> None:
        """Exactly these end users have the competence (the tenant's handlers only)."""
        self.queries.label("competence", tenant_id, competence_id)
        roles = self.queries.roles(tenant_id)
        unknown = [str(u) for u in user_ids if str(u) not in roles]
        if unknown:
            raise Refusal(
                "unknown_user", "No such end user.", {"user_ids": unknown}, kind="invalid"
            )
        analysts = [str(u) for u in user_ids if not may_have_skills(roles[str(u)])]
        if analysts:
            raise SkillsNotAllowed({"user_ids": analysts})
        holders = self._holders(tenant_id, competence_id)
        self.directory.assign_competence(tenant_id, competence_id, user_ids, holders)

    def _holders(self, tenant_id: uuid.UUID, competence_id: uuid.UUID) -> set[uuid.UUID]:
        return {
            uuid.UUID(r.user_id) for r in self.queries.competence_holders(tenant_id, competence_id)
        }

    def _name_free(
        self, kind: str, tenant_id: uuid.UUID, name: str, but: uuid.UUID | None = None
    ) -> None:
        owner = self.queries.label_holder(kind, tenant_id, name)
        if owner is not None and owner != str(but):
            raise NameTaken(kind)

    # --- channels --------------------------------------------------------------------

    def connect_channel(
        self,
        tenant_id: uuid.UUID,
        channel_type: str,
        name: str,
        external_id: str | None,
        sealed_credentials: str | None,
        out_of_office_message: str | None,
        allowed_origins: list[str],
    ) -> uuid.UUID:
        """Connect a channel: the website chat needs the SDK option; an account outside is
        connected in one channel at a time."""
        if channel_type == "webchat" and not self.directory.tenant(tenant_id).sdk_option:
            raise Refusal(
                "option_required",
                "The website chat needs the SDK option.",
                {"option": "sdk"},
                kind="forbidden",
            )
        self._account_free(tenant_id, channel_type, external_id)
        channel_id = self.directory.connect_channel(
            tenant_id, channel_type, name, external_id, sealed_credentials
        )
        if out_of_office_message:
            self.directory.set_out_of_office(tenant_id, channel_id, out_of_office_message)
        if allowed_origins:
            self.directory.set_allowed_origins(tenant_id, channel_id, allowed_origins)
        return channel_id

    def set_allowed_origins(
        self, tenant_id: uuid.UUID, channel_id: uuid.UUID, allowed_origins: list[str]
    ) -> None:
        """The websites whose pages may open the chat widget: the website chat only."""
        if self.queries.channel(tenant_id, channel_id).channel_type != "webchat":
            raise Refusal(
                "origins_not_used", "Only the website chat has allowed origins.", kind="invalid"
            )
        self.directory.set_allowed_origins(tenant_id, channel_id, sorted(set(allowed_origins)))

    def set_out_of_office(
        self, tenant_id: uuid.UUID, channel_id: uuid.UUID, message: str | None
    ) -> None:
        self.queries.channel(tenant_id, channel_id)
        self.directory.set_out_of_office(tenant_id, channel_id, message)

    def disconnect_channel(self, tenant_id: uuid.UUID, channel_id: uuid.UUID) -> None:
        """Disconnect (``already_disconnected`` from the domain if it is)."""
        self.queries.channel(tenant_id, channel_id)
        self.directory.disconnect_channel(tenant_id, channel_id)

    def bot_may_serve(self, tenant_id: uuid.UUID, channel_id: uuid.UUID) -> None:
        """A chatbot answers first on a connected channel of a type bots can serve."""
        channel = self.directory.channel(tenant_id, channel_id)
        if not channel.connected or channel.channel_type not in BOT_CHANNELS:
            raise Refusal("unsupported_channel", "A bot cannot serve this channel.", kind="invalid")

    def _account_free(
        self, tenant_id: uuid.UUID, channel_type: str, external_id: str | None
    ) -> None:
        """Channels connected before accounts were claimed have no claim: the views say
        whether one of them uses the account (the claim in the directory decides for
        everything since). Never names another tenant's channel."""
        kind = ACCOUNT_KINDS.get(channel_type)
        if kind is None or external_id is None:
            return
        same_kind = [c for c, k in ACCOUNT_KINDS.items() if k == kind]
        for row in self.queries.channels_using(external_id, same_kind):
            if row.tenant_id != str(tenant_id):
                raise AccountConnectedElsewhere()
            if row.channel_type == channel_type:
                raise AccountConnectedElsewhere(uuid.UUID(row.channel_id))
