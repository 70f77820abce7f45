"""Use cases of conversations: inbound messages join or open conversations, routing's choices land.

Consumers hand over whole batches; each batch is one ``save`` (one transaction) however
many aggregates it touched.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from eventsourcing.application import AggregateNotFoundError, Application

from services.conversation.domain.conversation import Conversation, Visitor
from shared.events import ConversationRouted, InboundMessageReceived

MESSAGE_NAMESPACE = uuid.UUID("0b5f3f0e-8f0e-4c55-8a35-1d6f0b7b6c11")


@dataclass(frozen=True, slots=True)
class Inbound:
    tenant_id: uuid.UUID
    message: InboundMessageReceived


@dataclass(frozen=True, slots=True)
class Routed:
    tenant_id: uuid.UUID
    decision: ConversationRouted


def language_of(locale: str | None, tenant_default: str) -> str:
    """``nl_BE`` / ``fr-BE`` -> ``nl`` / ``fr``; no locale -> the tenant's default language."""
    if not locale:
        return tenant_default
    return locale.replace("-", "_").split("_", 1)[0].lower() or tenant_default


class _Batch:
    """The aggregates one batch touched, so each is loaded once and saved once."""

    def __init__(self, app: Application) -> None:
        self.app = app
        self.touched: dict[uuid.UUID, object] = {}

    def get(self, aggregate_id: uuid.UUID) -> object | None:
        if aggregate_id in self.touched:
            return self.touched[aggregate_id]
        try:
            return self.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def touch(self, aggregate: object) -> None:
        self.touched[aggregate.id] = aggregate  # type: ignore[attr-defined]

    def save(self) -> None:
        if self.touched:
            self.app.save(*self.touched.values())  # type: ignore[arg-type]


class Conversations(Application):
    """The conversation log. Its notification log is the outbox of ``conversation-events``."""

    name = "conversations"

    def receive_inbound(
        self, batch: Iterable[Inbound], default_language: Callable[[uuid.UUID], str]
    ) -> int:
        """Record each new message on its visitor's open conversation; returns how many were new."""
        work = _Batch(self)
        recorded = 0
        for item in batch:
            message = item.message
            visitor_id = Visitor.create_id(
                item.tenant_id, message.channel_id, message.visitor_external_id
            )
            visitor = work.get(visitor_id)
            if visitor is None:
                visitor = Visitor(
                    tenant_id=item.tenant_id,
                    channel_id=message.channel_id,
                    external_id=message.visitor_external_id,
                    name=message.visitor_name,
                )
            assert isinstance(visitor, Visitor)
            if message.channel_message_id in visitor.earlier_message_ids:
                continue
            conversation = (
                work.get(visitor.open_conversation_id) if visitor.open_conversation_id else None
            )
            if conversation is None:
                conversation = Conversation(
                    tenant_id=item.tenant_id,
                    channel_id=message.channel_id,
                    channel_type=message.channel_type,
                    visitor_id=visitor.id,
                    sequence=visitor.next_sequence,
                    language=language_of(message.locale, default_language(item.tenant_id)),
                    required_competences=[],
                    opened_at=message.received_at,
                )
                visitor.conversation_started(item.tenant_id, conversation.id)
                work.touch(visitor)
            assert isinstance(conversation, Conversation)
            if conversation.has_seen(message.channel_message_id):
                continue
            conversation.receive(
                message_id=uuid.uuid5(
                    MESSAGE_NAMESPACE,
                    f"{item.tenant_id}/{message.channel_id}/{message.channel_message_id}",
                ),
                channel_message_id=message.channel_message_id,
                content=message.content.model_dump(mode="json"),
                received_at=message.received_at,
            )
            work.touch(conversation)
            recorded += 1
        work.save()
        return recorded

    def apply_routing(self, batch: Iterable[Routed]) -> int:
        """Record routing's decisions that still apply; returns how many changed a conversation."""
        work = _Batch(self)
        changed = 0
        for item in batch:
            conversation = work.get(item.decision.conversation_id)
            if (
                not isinstance(conversation, Conversation)
                or conversation.tenant_id != item.tenant_id
            ):
                continue
            if conversation.accept_routing(
                item.decision.assignee_id,
                item.decision.decided_at,
                item.decision.replaces_assignee_id,
            ):
                work.touch(conversation)
                changed += 1
        work.save()
        return changed

    def close_conversation(
        self, tenant_id: uuid.UUID, conversation_id: uuid.UUID, at: datetime
    ) -> None:
        conversation = self.conversation(tenant_id, conversation_id)
        conversation.close(at)
        visitor = self.repository.get(conversation.visitor_id)
        visitor.conversation_ended(
            tenant_id, conversation.id, sorted(conversation.channel_message_ids)
        )
        self.save(conversation, visitor)

    def conversation(self, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> Conversation:
        """The tenant's conversation; another tenant's is as unknown as a missing one."""
        try:
            conversation = self.repository.get(conversation_id)
        except AggregateNotFoundError:
            raise LookupError("conversation") from None
        if not isinstance(conversation, Conversation) or conversation.tenant_id != tenant_id:
            raise LookupError("conversation")
        return conversation
