"""The conversation aggregate and the visitor it belongs to (SPEC §3.1.8).

A conversation keeps only what its rules need (status, assignee, competences, the
channel message ids it has seen); message bodies live in its events and in the views.
Every event carries ``tenant_id`` so the outbox can key it without a lookup.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

NAMESPACE = uuid.UUID("6f1c7d1e-3c0b-4a57-9a8e-3f4a1b2c9d00")

OPEN_STATUSES = frozenset({"waiting", "assigned", "in_progress"})


class ConversationError(Exception):
    """A command the conversation's state does not allow."""


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


class Conversation(Aggregate):
    """One exchange with a visitor on a channel, from first message to archive.

    Its id is derived from the visitor and the visitor's conversation number, so a
    replayed first message opens the same conversation, never a second one.
    """

    @staticmethod
    def create_id(visitor_id: uuid.UUID, sequence: int, **_: Any) -> uuid.UUID:
        return uuid.uuid5(visitor_id, f"conversation/{sequence}")

    @event("Opened")
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
    ) -> None:
        self.tenant_id = tenant_id
        self.channel_id = channel_id
        self.channel_type = channel_type
        self.visitor_id = visitor_id
        self.language = language
        self.required_competences = list(required_competences)
        self.opened_at = opened_at
        self.status = "waiting"
        self.assignee_id: uuid.UUID | None = None
        self.dispatched = False
        self.channel_message_ids: set[str] = set()

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def has_seen(self, channel_message_id: str) -> bool:
        return channel_message_id in self.channel_message_ids

    def receive(
        self,
        message_id: uuid.UUID,
        channel_message_id: str,
        content: dict[str, Any],
        received_at: datetime,
    ) -> None:
        if not self.is_open:
            raise ConversationError("conversation is closed")
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

    def accept_routing(
        self,
        assignee_id: uuid.UUID | None,
        at: datetime,
        replaces_assignee_id: uuid.UUID | None = None,
    ) -> bool:
        """Apply routing's decision unless a person has decided since; True if it changed us.

        A decision that takes the conversation from someone (``replaces_assignee_id``)
        applies only while that person still has it.
        """
        if replaces_assignee_id is not None:
            if not self.is_open or self.assignee_id != replaces_assignee_id:
                return False
        elif self.status != "waiting" or self.dispatched:
            return False
        if assignee_id is None:
            self._queued(self.tenant_id, at)
        else:
            self._assigned(self.tenant_id, assignee_id, "routing", at)
        return True

    @event("Queued")
    def _queued(self, tenant_id: uuid.UUID, at: datetime) -> None:
        self.queued_at = at
        self.status = "waiting"
        self.assignee_id = None
        self.dispatched = False

    @event("Assigned")
    def _assigned(
        self, tenant_id: uuid.UUID, assignee_id: uuid.UUID, assigned_by: str, at: datetime
    ) -> None:
        self.assignee_id = assignee_id
        self.status = "assigned"
        if assigned_by == "dispatch":
            self.dispatched = True

    def close(self, at: datetime) -> None:
        if not self.is_open:
            raise ConversationError("conversation is already closed")
        self._closed(self.tenant_id, at)

    @event("Closed")
    def _closed(self, tenant_id: uuid.UUID, at: datetime) -> None:
        self.status = "closed"
