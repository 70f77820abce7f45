"""What end users do with conversations in the Portal (SPEC §3.1.8, §3.1.10, §3.2.2), with
the rules that need more than the conversation itself, each checked here once:

- who may take from the shared queue (Managers and Administrators always; everyone when
  routing is off),
- whom a conversation may be passed or dispatched to (an active handler of the tenant),
- who may change its requirements (its holder; dispatch may change any), and to what
  (a language the tenant offers, the tenant's competences),
- who may close, archive or give it back to the bot (its holder, a Manager or an
  Administrator), and with which topics (the tenant's).

The rules of the conversation's own state (``not_in_your_queue``, ``closed``, ...) are the
domain's (``domain.conversation``); this layer reads the views through :class:`Queries`
and calls :class:`Conversations`. Methods are synchronous: callers run them off the event
loop.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from services.conversation.application.conversations import Conversations
from services.conversation.application.queries import Queries
from shared.access import ADMINISTRATOR, MANAGER
from shared.errors import Refusal
from shared.events import HANDLING_ROLES

#: Roles that may take any waiting conversation and finish anyone's.
DISPATCHING_ROLES = frozenset({ADMINISTRATOR, MANAGER})


class Handling:
    """Conversation commands from the Portal: the view-backed rules, then the command."""

    def __init__(self, conversations: Conversations, queries: Queries) -> None:
        self.conversations = conversations
        self.queries = queries

    # --- commands --------------------------------------------------------------------

    def take(
        self,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        user_id: uuid.UUID,
        role: str,
        at: datetime,
    ) -> None:
        """It becomes the user's, in progress: from their queue; from the shared queue when
        routing is off; Managers and Administrators may take any waiting conversation."""
        shared = role in DISPATCHING_ROLES or not self.queries.routing_enabled(tenant_id)
        self.conversations.take(tenant_id, conversation_id, user_id, at, from_shared_queue=shared)

    def assign(
        self,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        to: uuid.UUID,
        by: uuid.UUID,
        at: datetime,
        *,
        dispatch: bool,
    ) -> None:
        """Pass on (the holder) or dispatch (by hand) to an active handler of the tenant."""
        self._handler_in_tenant(tenant_id, to)
        self.conversations.assign(tenant_id, conversation_id, to, by, at, dispatch=dispatch)

    def change_requirements(
        self,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        language: str | None,
        competences: list[uuid.UUID] | None,
        by: uuid.UUID,
        at: datetime,
        *,
        dispatched: bool,
    ) -> None:
        """Correct the language or the competences; only its holder may, or dispatch."""
        if not dispatched and self.queries.holder(tenant_id, conversation_id) != str(by):
            raise Refusal("not_yours", "Only its holder can change it; dispatch can too.")
        self._language_offered(tenant_id, language)
        known = None if competences is None else self.known_competences(tenant_id, competences)
        self.conversations.change_requirements(
            tenant_id, conversation_id, language, known, by, at, dispatched=dispatched
        )

    def close(
        self,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        by: uuid.UUID,
        role: str,
        topics: list[str],
        at: datetime,
    ) -> None:
        """Done: it moves to History; with topics it is archived at once."""
        self._may_finish(tenant_id, conversation_id, by, role)
        self._topics_exist(tenant_id, topics)
        self.conversations.close_conversation(tenant_id, conversation_id, at, by, topics)

    def archive(
        self,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        by: uuid.UUID,
        role: str,
        topics: list[str],
        at: datetime,
    ) -> None:
        """File a closed conversation under one or more topics (SPEC §3.1.4)."""
        self._may_finish(tenant_id, conversation_id, by, role)
        self._topics_exist(tenant_id, topics)
        self.conversations.archive(tenant_id, conversation_id, topics, at)

    def resume_bot(
        self,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        by: uuid.UUID,
        role: str,
        at: datetime,
    ) -> None:
        """The bot answers again; its holder or a Manager/Administrator gives it back."""
        self._may_finish(tenant_id, conversation_id, by, role)
        self.conversations.resume_bot(tenant_id, conversation_id, by, at)

    # --- rules that need the views ---------------------------------------------------

    def known_competences(self, tenant_id: uuid.UUID, ids: Iterable[uuid.UUID]) -> list[str]:
        """The ids as stored, or ``unknown_competence`` naming those that are not this
        tenant's competences (another tenant's id is refused exactly like a made-up one)."""
        wanted = sorted({str(i) for i in ids})
        if not wanted:
            return []
        known = self.queries.label_ids("competence", tenant_id, among=wanted)
        unknown = [i for i in wanted if i not in known]
        if unknown:
            raise Refusal(
                "unknown_competence",
                "No such competence: give ids from GET /v1/competences.",
                {"unknown": unknown},
                kind="invalid",
            )
        return wanted

    def _may_finish(
        self, tenant_id: uuid.UUID, conversation_id: uuid.UUID, by: uuid.UUID, role: str
    ) -> None:
        holder = self.queries.holder(tenant_id, conversation_id)
        if holder != str(by) and role not in DISPATCHING_ROLES:
            raise Refusal("not_yours", "Only its holder (or a Manager) can do this.")

    def _topics_exist(self, tenant_id: uuid.UUID, names: list[str]) -> None:
        if not names:
            return
        unknown = sorted(set(names) - self.queries.label_names("topic", tenant_id, names))
        if unknown:
            raise Refusal(
                "unknown_topic",
                f"No such topic: {', '.join(unknown)}.",
                {"unknown": unknown},
                kind="invalid",
            )

    def _handler_in_tenant(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> None:
        row = self.queries.handler(tenant_id, user_id)
        if row is None:
            raise Refusal("unknown_user", "No such end user in your organisation.", kind="invalid")
        if not row.active or row.role not in HANDLING_ROLES:
            raise Refusal(
                "not_a_handler",
                "Only active Administrators, Managers and Agents take conversations.",
                kind="invalid",
            )

    def _language_offered(self, tenant_id: uuid.UUID, language: str | None) -> None:
        if language is None:
            return
        languages = self.queries.languages(tenant_id)
        if language not in languages:
            raise Refusal(
                "unknown_language",
                f"{language} is not one of your languages.",
                {"languages": languages},
                kind="invalid",
            )
