"""The conversation aggregate and the visitor it belongs to (SPEC §3.1.8, §3.2.2).

A conversation keeps only what its rules need (status, assignee, requirements, handover
state, the channel message ids it has seen, delivery states); message bodies live in its
events and in the views. Every event carries ``tenant_id`` so the outbox can key it
without a lookup.

Statuses: ``bot`` (a chatbot answers) -> ``waiting`` (in the tenant's queue) ->
``assigned`` (in someone's queue) -> ``in_progress`` (taken) -> ``closed`` -> ``archived``
(:class:`shared.events.ConversationStatus`, shared with routing, which follows them).
Handover (Bot plan): ``bot`` -> ``waiting_for_human`` -> ``human`` -> ``bot``.

Each aggregate's ``__init__`` sets its whole state (the creation event is replayed through
it, so state added later starts at its default for old conversations too). An event that
gained a field after events of its kind were stored is declared as a class with a
``class_version`` and an ``upcast_v1_v2``: the library upcasts stored (older) events on
reading, so every event has every field (no ``getattr`` defaults, here or in readers).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from shared.errors import Refusal
from shared.events import HELD_STATUSES, OPEN_STATUSES, ConversationStatus

NAMESPACE = uuid.UUID("6f1c7d1e-3c0b-4a57-9a8e-3f4a1b2c9d00")

DELIVERY_ORDER = {"sent": 1, "delivered": 2, "read": 3}
PROFILE_FIELDS = ("first_name", "last_name", "email", "birth_date", "phone", "mobile")


#: Rules about what a command carries rather than the conversation's state: ``invalid``.
INVALID_REQUEST_CODES = frozenset({"topics_required", "unknown_field"})


class ConversationError(Refusal):
    """A command the conversation's state does not allow (``conflict``), or one whose
    content breaks a rule (``invalid``, :data:`INVALID_REQUEST_CODES`); ``code`` names it."""

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        kind = "invalid" if code in INVALID_REQUEST_CODES else "conflict"
        super().__init__(code, message, details, kind=kind)


class Visitor(Aggregate):
    """A person writing on one channel; knows their open conversation and what was seen before.

    The id is derived from (tenant, channel, channel identity), so finding a visitor
    needs no index and replays land on the same aggregate.
    """

    @staticmethod
    def create_id(
        tenant_id: uuid.UUID, channel_id: uuid.UUID, external_id: str, **_: Any
    ) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"visitor/{tenant_id}/{channel_id}/{external_id}")

    @event("Registered")
    def __init__(
        self,
        tenant_id: uuid.UUID,
        channel_id: uuid.UUID,
        external_id: str,
        name: str | None,
    ) -> None:
        self.tenant_id = tenant_id
        self.channel_id = channel_id
        self.external_id = external_id
        self.name = name
        self.open_conversation_id: uuid.UUID | None = None
        self.conversation_ids: list[uuid.UUID] = []
        self.earlier_message_ids: set[str] = set()
        self.profile: dict[str, str | None] = {}
        self.bot_paused = False
        #: Set by an Administrator's erasure (GDPR art. 17): the keys of this visitor and
        #: their conversations are destroyed, so name, contact fields and texts read
        #: ``[erased]`` (docs/data-lifecycle.md).
        self.erased_at: datetime | None = None

    @property
    def next_sequence(self) -> int:
        return len(self.conversation_ids) + 1

    @event("ConversationStarted")
    def conversation_started(self, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> None:
        self.open_conversation_id = conversation_id
        self.conversation_ids.append(conversation_id)

    @event("ConversationEnded")
    def conversation_ended(
        self, tenant_id: uuid.UUID, conversation_id: uuid.UUID, channel_message_ids: list[str]
    ) -> None:
        if self.open_conversation_id == conversation_id:
            self.open_conversation_id = None
        self.earlier_message_ids.update(channel_message_ids)

    def update_profile(self, changes: dict[str, str | None], by: uuid.UUID) -> bool:
        """Only the named fields; unchanged values record nothing."""
        changed = {k: v for k, v in changes.items() if self.profile.get(k) != v}
        unknown = set(changed) - set(PROFILE_FIELDS)
        if unknown:
            raise ConversationError("unknown_field", f"Unknown profile fields: {sorted(unknown)}")
        if not changed:
            return False
        self._profile_updated(self.tenant_id, changed, by)
        return True

    @event("ProfileUpdated")
    def _profile_updated(
        self, tenant_id: uuid.UUID, changes: dict[str, str | None], by: uuid.UUID
    ) -> None:
        self.profile = {**self.profile, **changes}

    @property
    def erased(self) -> bool:
        return self.erased_at is not None

    def erase(self, by: uuid.UUID, at: datetime) -> bool:
        """Erase this person's data; False if erased already (nobody wrote since).

        The event holds no personal data: it is the audit record (who, when) and the list
        of subjects whose keys go."""
        if self.erased:
            return False
        self._erased(self.tenant_id, by, at, list(self.conversation_ids))
        return True

    @event("Erased")
    def _erased(
        self, tenant_id: uuid.UUID, by: uuid.UUID, at: datetime, conversation_ids: list[uuid.UUID]
    ) -> None:
        self.erased_at = at
        self.name = None
        self.external_id = ""
        self.profile = {}

    def reidentify(self, external_id: str, name: str | None) -> None:
        """An erased visitor writes again: we know them anew (under a new key)."""
        self._reidentified(self.tenant_id, external_id, name)

    @event("Reidentified")
    def _reidentified(self, tenant_id: uuid.UUID, external_id: str, name: str | None) -> None:
        self.external_id = external_id
        self.name = name
        self.erased_at = None

    @event("BotPaused")
    def pause_bot(self, tenant_id: uuid.UUID, by: uuid.UUID, at: datetime) -> None:
        self.bot_paused = True

    @event("BotResumed")
    def resume_bot(self, tenant_id: uuid.UUID, by: uuid.UUID, at: datetime) -> None:
        self.bot_paused = False


class Conversation(Aggregate):
    """One exchange with a visitor on a channel, from first message to archive.

    Its id is derived from the visitor and the visitor's conversation number, so a
    replayed first message opens the same conversation, never a second one.
    """

    @staticmethod
    def create_id(visitor_id: uuid.UUID, sequence: int, **_: Any) -> uuid.UUID:
        return uuid.uuid5(visitor_id, f"conversation/{sequence}")

    class Opened(Aggregate.Created):
        """Conversation opened; ``bot_active`` came later (v2): older events get False."""

        tenant_id: uuid.UUID
        channel_id: uuid.UUID
        channel_type: str
        visitor_id: uuid.UUID
        sequence: int
        language: str
        required_competences: list[str]
        opened_at: datetime
        bot_active: bool
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("bot_active", False)

    @event(Opened)
    def __init__(
        self,
        tenant_id: uuid.UUID,
        channel_id: uuid.UUID,
        channel_type: str,
        visitor_id: uuid.UUID,
        sequence: int,
        language: str,
        required_competences: list[str],
        opened_at: datetime,
        bot_active: bool = False,
    ) -> None:
        self.tenant_id = tenant_id
        self.channel_id = channel_id
        self.channel_type = channel_type
        self.visitor_id = visitor_id
        self.language = language
        self.required_competences = list(required_competences)
        self.opened_at = opened_at
        self.status: ConversationStatus = (
            ConversationStatus.BOT if bot_active else ConversationStatus.WAITING
        )
        self.handover: str | None = "bot" if bot_active else None
        self.assignee_id: uuid.UUID | None = None
        self.dispatched = False
        self.channel_message_ids: set[str] = set()
        self.last_channel_message_id: str | None = None
        self.deliveries: dict[uuid.UUID, str] = {}
        self.bot_turns_answered: set[uuid.UUID] = set()
        self.out_of_office_periods: set[str] = set()
        self.topics: list[str] = []
        #: Routing decisions applied (by id), so a redelivered one changes nothing.
        self.decisions: set[uuid.UUID] = set()
        #: When it last came back to routing (a handover): older decisions are stale.
        self.routable_since: datetime | None = None
        #: When routing put it in the tenant's queue (no one eligible); None when not queued.
        self.queued_at: datetime | None = None
        #: Why it came to its assignee: routing's reasons, or the person who passed it on.
        self.assignment: dict[str, Any] | None = None

    # --- state ------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def has_seen(self, channel_message_id: str) -> bool:
        return channel_message_id in self.channel_message_ids

    def _require_open(self) -> None:
        if not self.is_open:
            raise ConversationError("closed", "The conversation is closed.")

    # --- visitor messages -----------------------------------------------------------------

    def receive(
        self,
        message_id: uuid.UUID,
        channel_message_id: str,
        content: dict[str, Any],
        received_at: datetime,
    ) -> None:
        self._require_open()
        self._message_received(self.tenant_id, message_id, channel_message_id, content, received_at)

    @event("MessageReceived")
    def _message_received(
        self,
        tenant_id: uuid.UUID,
        message_id: uuid.UUID,
        channel_message_id: str,
        content: dict[str, Any],
        received_at: datetime,
    ) -> None:
        self.channel_message_ids.add(channel_message_id)
        self.last_channel_message_id = channel_message_id

    # --- messages to the visitor ---------------------------------------------------------

    def reply(
        self,
        message_id: uuid.UUID,
        author_id: uuid.UUID,
        text: str,
        at: datetime,
        visitor_external_id: str,
        attachments: list[dict[str, Any]] | None = None,
    ) -> None:
        """An end user answers (with files, already stored and checked). Replying to a
        conversation assigned to you takes it."""
        self._require_open()
        if self.assignee_id != author_id or self.status not in HELD_STATUSES:
            raise ConversationError(
                "not_yours", "Take the conversation before replying: it is not in your hands."
            )
        if self.status == ConversationStatus.ASSIGNED:
            self.take(author_id, at, from_shared_queue=False)
        self._send(message_id, "agent", author_id, text, at, visitor_external_id, None, attachments)

    def send_automatic(
        self,
        message_id: uuid.UUID,
        author: str,
        text: str,
        at: datetime,
        visitor_external_id: str,
        out_of_office_period: str | None = None,
    ) -> None:
        self._send(message_id, author, None, text, at, visitor_external_id, out_of_office_period)

    def out_of_office_due(self, period: str) -> bool:
        """Once per conversation per closed period (SPEC §3.1.7)."""
        return period not in self.out_of_office_periods

    def _send(
        self,
        message_id: uuid.UUID,
        author: str,
        author_id: uuid.UUID | None,
        text: str,
        at: datetime,
        visitor_external_id: str,
        out_of_office_period: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> None:
        content: dict[str, Any] = {"kind": "text", "text": text}
        if attachments:
            content = {"kind": "attachment", "text": text, "attachments": attachments}
        self._message_sent(
            self.tenant_id,
            message_id,
            author,
            author_id,
            content,
            at,
            self.channel_id,
            self.channel_type,
            visitor_external_id,
            self.last_channel_message_id,
            out_of_office_period,
        )

    @event("MessageSent")
    def _message_sent(
        self,
        tenant_id: uuid.UUID,
        message_id: uuid.UUID,
        author: str,
        author_id: uuid.UUID | None,
        content: dict[str, Any],
        at: datetime,
        channel_id: uuid.UUID,
        channel_type: str,
        visitor_external_id: str,
        reply_to: str | None,
        out_of_office_period: str | None,
    ) -> None:
        self.deliveries[message_id] = "requested"
        if out_of_office_period is not None:
            self.out_of_office_periods.add(out_of_office_period)

    def delivery(self, message_id: uuid.UUID, status: str, error: str | None, at: datetime) -> bool:
        """Record what the channel says about one of our messages; repeats and late
        "delivered" after "read" record nothing. Failure is final."""
        current = self.deliveries.get(message_id)
        if current is None or current == "failed" or current == status:
            return False
        if status != "failed" and DELIVERY_ORDER.get(current, 0) >= DELIVERY_ORDER[status]:
            return False
        self._delivery_changed(self.tenant_id, message_id, status, error, at)
        return True

    @event("DeliveryChanged")
    def _delivery_changed(
        self,
        tenant_id: uuid.UUID,
        message_id: uuid.UUID,
        status: str,
        error: str | None,
        at: datetime,
    ) -> None:
        self.deliveries[message_id] = status

    # --- routing, taking, dispatch ---------------------------------------------------------

    def accept_routing(
        self,
        assignee_id: uuid.UUID | None,
        at: datetime,
        replaces_assignee_id: uuid.UUID | None = None,
        reroute_reason: str | None = None,
        decision_id: uuid.UUID | None = None,
        reasons: dict[str, Any] | None = None,
    ) -> bool:
        """Apply routing's decision unless a person has decided since; True if it changed us.

        ``reasons`` (the candidates' verdicts and the tie-break) are kept with the
        assignment, so the Portal can show why the conversation came to its assignee.

        A decision that takes the conversation from someone (``replaces_assignee_id``)
        applies only while that person still has it, and one for ``not_taken`` only while
        it is still not taken. A decision seen before (redelivered) or made before the
        conversation came back to routing (a handover) is stale and changes nothing.
        """
        if decision_id is not None and decision_id in self.decisions:
            return False
        if self.routable_since is not None and at < self.routable_since:
            return False
        if replaces_assignee_id is not None:
            if not self.is_open or self.assignee_id != replaces_assignee_id:
                return False
            if reroute_reason == "not_taken" and self.status != ConversationStatus.ASSIGNED:
                return False
            if assignee_id == replaces_assignee_id:
                return False
        elif self.status != ConversationStatus.WAITING or self.dispatched:
            return False
        if assignee_id is None:
            if (
                self.status == ConversationStatus.WAITING
                and replaces_assignee_id is None
                and self._was_queued()
            ):
                return False
            self._queued(self.tenant_id, at, decision_id)
        else:
            self._assigned(
                self.tenant_id,
                assignee_id,
                "routing",
                at,
                decision_id=decision_id,
                reasons=reasons,
            )
        return True

    def _was_queued(self) -> bool:
        return self.queued_at is not None

    def _remember(self, decision_id: uuid.UUID | None) -> None:
        if decision_id is not None:
            self.decisions.add(decision_id)

    class Queued(Aggregate.Event):
        """Put in the tenant's queue; ``decision_id`` came later (v2): older events get None."""

        tenant_id: uuid.UUID
        at: datetime
        decision_id: uuid.UUID | None
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("decision_id", None)

    @event(Queued)
    def _queued(
        self, tenant_id: uuid.UUID, at: datetime, decision_id: uuid.UUID | None = None
    ) -> None:
        self._remember(decision_id)
        self.queued_at = at
        self.status = ConversationStatus.WAITING
        self.assignee_id = None
        self.dispatched = False

    class Assigned(Aggregate.Event):
        """In someone's queue; ``by_user_id``, ``decision_id`` and ``reasons`` came later
        (v2): older events get None."""

        tenant_id: uuid.UUID
        assignee_id: uuid.UUID
        assigned_by: str
        at: datetime
        by_user_id: uuid.UUID | None
        decision_id: uuid.UUID | None
        reasons: dict[str, Any] | None
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            for name in ("by_user_id", "decision_id", "reasons"):
                state.setdefault(name, None)

    @event(Assigned)
    def _assigned(
        self,
        tenant_id: uuid.UUID,
        assignee_id: uuid.UUID,
        assigned_by: str,
        at: datetime,
        by_user_id: uuid.UUID | None = None,
        decision_id: uuid.UUID | None = None,
        reasons: dict[str, Any] | None = None,
    ) -> None:
        self._remember(decision_id)
        self.assignee_id = assignee_id
        self.status = ConversationStatus.ASSIGNED
        self.dispatched = assigned_by == "dispatch"
        self.assignment = {
            "assigned_by": assigned_by,
            "by_user_id": str(by_user_id) if by_user_id else None,
            "at": at.isoformat(),
            "reasons": reasons,
        }

    def take(self, user_id: uuid.UUID, at: datetime, *, from_shared_queue: bool) -> bool:
        """The caller takes it; False if it already was theirs. ``from_shared_queue``: the
        caller may take a waiting conversation (routing off, or a Manager/Administrator)."""
        self._require_open()
        if self.status == ConversationStatus.BOT:
            raise ConversationError("with_bot", "The chatbot has this visitor: pause it first.")
        if self.status == ConversationStatus.IN_PROGRESS:
            if self.assignee_id == user_id:
                return False
            raise ConversationError("already_taken", "Someone else has taken this conversation.")
        if self.status == ConversationStatus.ASSIGNED and self.assignee_id != user_id:
            raise ConversationError("assigned_to_other", "It is in a colleague's queue.")
        if self.status == ConversationStatus.WAITING and not from_shared_queue:
            raise ConversationError("not_in_your_queue", "It is not in your queue.")
        self._taken(self.tenant_id, user_id, at)
        if self.handover == "waiting_for_human":
            self._handover_changed(self.tenant_id, "human", "taken", user_id, at)
        return True

    @event("Taken")
    def _taken(self, tenant_id: uuid.UUID, user_id: uuid.UUID, at: datetime) -> None:
        self.assignee_id = user_id
        self.status = ConversationStatus.IN_PROGRESS

    def assign(self, to: uuid.UUID, by: uuid.UUID, at: datetime, *, dispatch: bool) -> bool:
        """Pass it to a colleague (its holder) or dispatch it (Manager/Administrator)."""
        self._require_open()
        if self.status == ConversationStatus.BOT:
            raise ConversationError("with_bot", "The chatbot has this visitor: pause it first.")
        if not dispatch and self.assignee_id != by:
            raise ConversationError("not_yours", "Only its holder can pass it on.")
        if self.assignee_id == to and self.status == ConversationStatus.ASSIGNED:
            return False
        self._assigned(self.tenant_id, to, "dispatch" if dispatch else "agent", at, by)
        return True

    def change_requirements(
        self,
        language: str,
        competences: list[str],
        by: uuid.UUID,
        at: datetime,
        *,
        dispatched: bool,
    ) -> bool:
        """Correct the language or add/remove competences (ids); routing re-checks the holder."""
        self._require_open()
        competences = sorted(set(competences))
        if language == self.language and competences == sorted(self.required_competences):
            return False
        self._requirements_changed(self.tenant_id, language, competences, by, dispatched, at)
        return True

    @event("RequirementsChanged")
    def _requirements_changed(
        self,
        tenant_id: uuid.UUID,
        language: str,
        required_competences: list[str],
        by_user_id: uuid.UUID,
        dispatched: bool,
        at: datetime,
    ) -> None:
        self.language = language
        self.required_competences = list(required_competences)

    # --- notes, closing, archiving ----------------------------------------------------------

    @event("NoteAdded")
    def add_note(
        self,
        tenant_id: uuid.UUID,
        note_id: uuid.UUID,
        author_id: uuid.UUID,
        text: str,
        at: datetime,
    ) -> None:
        pass

    def close(self, at: datetime, by: uuid.UUID | None = None) -> None:
        self._require_open()
        self._closed(self.tenant_id, at, by)

    class Closed(Aggregate.Event):
        """Closed; ``closed_by`` came later (v2): older events get None."""

        tenant_id: uuid.UUID
        at: datetime
        closed_by: uuid.UUID | None
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("closed_by", None)

    @event(Closed)
    def _closed(
        self, tenant_id: uuid.UUID, at: datetime, closed_by: uuid.UUID | None = None
    ) -> None:
        self.status = ConversationStatus.CLOSED

    def archive(self, topics: list[str], at: datetime) -> None:
        """File a closed conversation under one or more topics (close it first)."""
        if self.status != ConversationStatus.CLOSED:
            raise ConversationError(
                "not_closed" if self.is_open else "archived",
                "Close the conversation first." if self.is_open else "It is already archived.",
            )
        if not topics:
            raise ConversationError("topics_required", "Archive with at least one topic.")
        self._archived(self.tenant_id, sorted(set(topics)), at)

    @event("Archived")
    def _archived(self, tenant_id: uuid.UUID, topics: list[str], at: datetime) -> None:
        self.status = ConversationStatus.ARCHIVED
        self.topics = list(topics)

    # --- chatbot handover (SPEC §3.2.2) ---------------------------------------------------

    def hand_to_humans(self, reason: str, at: datetime, by: uuid.UUID | None = None) -> bool:
        """Bot -> waiting for a human (paused, the bot asked, the bot failed)."""
        if self.status != ConversationStatus.BOT:
            return False
        self._handover_changed(self.tenant_id, "waiting_for_human", reason, by, at)
        return True

    def hand_to_bot(self, at: datetime, by: uuid.UUID, visitor_paused: bool) -> bool:
        """Resume: the bot answers again; the conversation leaves the humans' queues.
        Only a conversation the bot had, or a paused visitor's, can go (back) to it."""
        self._require_open()
        if self.handover is None and not visitor_paused:
            raise ConversationError("no_bot", "No chatbot had this conversation.")
        if self.status == ConversationStatus.BOT:
            return False
        self._handover_changed(self.tenant_id, "bot", "resumed", by, at)
        return True

    @event("HandoverChanged")
    def _handover_changed(
        self,
        tenant_id: uuid.UUID,
        state: str,
        reason: str,
        by_user_id: uuid.UUID | None,
        at: datetime,
    ) -> None:
        self.handover = state
        if state == "bot":
            self.status = ConversationStatus.BOT
            self.assignee_id = None
            self.dispatched = False
        elif state == "waiting_for_human":
            self.status = ConversationStatus.WAITING
            self.queued_at = None
            self.routable_since = at

    def ask_bot(
        self, message_id: uuid.UUID, text: str, visitor_external_id: str, at: datetime
    ) -> None:
        self._bot_turn_requested(
            self.tenant_id, message_id, self.channel_id, visitor_external_id, text, at
        )

    @event("BotTurnRequested")
    def _bot_turn_requested(
        self,
        tenant_id: uuid.UUID,
        message_id: uuid.UUID,
        channel_id: uuid.UUID,
        visitor_external_id: str,
        text: str,
        at: datetime,
    ) -> None:
        pass

    def bot_answered(self, reply_to: uuid.UUID) -> bool:
        return reply_to in self.bot_turns_answered

    @event("BotAnswered")
    def mark_bot_answered(self, tenant_id: uuid.UUID, reply_to: uuid.UUID) -> None:
        self.bot_turns_answered.add(reply_to)
