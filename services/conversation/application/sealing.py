"""Which fields of the conversation log are personal or content, sealed with their subject's key.

The event store never holds these fields in clear: :class:`SealingMapper` seals them on
the way in and opens them on the way out (a destroyed key opens as ``[erased]``). The
subject of an event is its aggregate: a visitor's events use the visitor's key, a
conversation's events the conversation's; erasing a visitor destroys both (the visitor
lists its conversations). What is published on the event topic is sealed again by
:func:`seal_envelope`. See docs/data-lifecycle.md.
"""

from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.persistence import Mapper, StoredEvent

from services.conversation.domain.conversation import Conversation, Visitor
from shared.datakeys import Sealer
from shared.events import Envelope

#: Event class -> its fields that are personal data or content. ``content`` is a message's
#: content (its ``text`` and ``url``); ``changes`` a profile change (each value).
SEALED_FIELDS: dict[type, tuple[str, ...]] = {
    Visitor.Registered: ("name", "external_id"),
    Visitor.Reidentified: ("name", "external_id"),
    Visitor.ProfileUpdated: ("changes",),
    Conversation.MessageReceived: ("content",),
    Conversation.MessageSent: ("content", "visitor_external_id"),
    Conversation.NoteAdded: ("text",),
    Conversation.BotTurnRequested: ("text", "visitor_external_id"),
}
CONTENT_PARTS = ("text", "url")

#: Integration events on the conversation topic whose content is sealed for publishing.
#: (The outbound topic is a transit queue whose consumers need the text: see the doc.)
PUBLISHED_CONTENT = frozenset({"MessageReceived", "MessageSent"})


def _apply(state: dict[str, Any], fields: tuple[str, ...], each: Any) -> None:
    for name in fields:
        value = state.get(name)
        if name in ("content", "changes") and isinstance(value, dict):
            parts = CONTENT_PARTS if name == "content" else tuple(value)
            state[name] = {
                k: (each(f"{name}.{k}", v) if k in parts else v) for k, v in value.items()
            }
        elif value is not None:
            state[name] = each(name, value)


class SealingMapper(Mapper):
    """The library's mapper with the personal and content fields sealed in storage."""

    def __init__(self, *args: Any, sealer: Sealer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sealer = sealer

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        fields = SEALED_FIELDS.get(type(domain_event))
        if fields is None:
            return super().to_stored_event(domain_event)
        state = dict(vars(domain_event))
        subject, tenant = state["originator_id"], state["tenant_id"]
        _apply(state, fields, lambda f, v: self.sealer.seal(tenant, subject, f, v))
        sealed = object.__new__(type(domain_event))
        object.__setattr__(sealed, "__dict__", state)
        return super().to_stored_event(sealed)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        domain_event = super().to_domain_event(stored_event)
        fields = SEALED_FIELDS.get(type(domain_event))
        if fields is not None:
            _apply(vars(domain_event), fields, self.sealer.open)
        return domain_event


def seal_envelope(envelope: Envelope, sealer: Sealer | None) -> Envelope:
    """The envelope as it may be published: message content sealed with the
    conversation's key (subject: ``conversation_id``)."""
    if sealer is None or envelope.type not in PUBLISHED_CONTENT:
        return envelope
    payload = dict(envelope.payload)
    subject = uuid.UUID(str(payload["conversation_id"]))
    content = dict(payload.get("content") or {})
    for part in CONTENT_PARTS:
        content[part] = sealer.seal(
            envelope.tenant_id, subject, f"content.{part}", content.get(part)
        )
    payload["content"] = content
    return envelope.model_copy(update={"payload": payload})
