"""The event envelope and the integration events: the versioned contract between services.

Every message on Kafka is one :class:`Envelope`. Its ``type`` and ``schema_version``
name the payload model in :data:`PAYLOADS`; a consumer looks the pair up, validates
the payload, and sends anything it cannot read to the dead-letter topic instead of
crashing. Adding an optional field is a compatible change (same version); anything
else is a new ``schema_version`` registered beside the old one.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

Role = Literal["administrator", "manager", "agent", "analyst"]
Presence = Literal["online", "away", "offline"]
ChannelType = Literal["messenger", "page_comments", "whatsapp", "webchat"]
Plan = Literal["hub", "pro", "bot"]

#: Roles that may take conversations and be given competences, channels and languages.
HANDLING_ROLES: frozenset[str] = frozenset({"administrator", "manager", "agent"})


class ConversationStatus(StrEnum):
    """Where a conversation is (SPEC §3.1.8), as the conversation service keeps it and
    routing follows it from the events: ``bot`` (a chatbot answers) -> ``waiting`` (in the
    tenant's queue) -> ``assigned`` (in someone's queue) -> ``in_progress`` (taken) ->
    ``closed`` -> ``archived``. The values are what the views, the API and routing's
    table hold; a member compares equal to its value."""

    BOT = "bot"
    WAITING = "waiting"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    CLOSED = "closed"
    ARCHIVED = "archived"


#: The statuses of a conversation that is not closed yet.
OPEN_STATUSES: frozenset[ConversationStatus] = frozenset(
    {
        ConversationStatus.BOT,
        ConversationStatus.WAITING,
        ConversationStatus.ASSIGNED,
        ConversationStatus.IN_PROGRESS,
    }
)
#: The statuses of a conversation in someone's hands (in their queue or taken).
HELD_STATUSES: frozenset[ConversationStatus] = frozenset(
    {ConversationStatus.ASSIGNED, ConversationStatus.IN_PROGRESS}
)


@functools.lru_cache(maxsize=65_536)
def id_text(value: uuid.UUID) -> str:
    """``str(value)``, remembered: the same few ids (tenants, end users) are written out
    again and again, in every key and decision, and ``UUID.__str__`` is slow Python."""
    return str(value)


def _without_nul(value: Any) -> Any:
    """``value`` with NUL dropped from every text in it; ``value`` itself when it has none
    (the usual case: walking a payload then makes no copy of it)."""
    return _cleaned(value) if _has_nul(value) else value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        values: Any = value.values()
    elif isinstance(value, list):
        values = value
    else:
        return False
    for v in values:  # the leaves inline: most values are plain text, ids and times
        if type(v) is str:
            if "\x00" in v:
                return True
        elif isinstance(v, str | dict | list) and _has_nul(v):
            return True
    return False


def _cleaned(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {k: _cleaned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cleaned(v) for v in value]
    return value


class Payload(BaseModel):
    """Base of every payload: unknown fields from a newer producer are ignored.

    NUL characters are dropped from every text: PostgreSQL cannot store them, and one
    in an event would stop every consumer that projects it, batch after batch.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_nul(cls, data: Any, info: ValidationInfo) -> Any:
        if info.context and info.context.get("nul_free"):  # the raw JSON had no \u0000
            return data
        return _without_nul(data)


# --- inbound (ingest -> conversation) -------------------------------------------------


AttachmentKind = Literal["image", "audio", "video", "file"]


class Attachment(Payload):
    """A file kept in the blob store (``shared.blobs``); events carry this reference, never
    the bytes. ``content_type`` is what the bytes are (libmagic), not what the sender said."""

    attachment_id: uuid.UUID
    kind: AttachmentKind
    file_name: str = Field(max_length=255)
    content_type: str = Field(max_length=200)
    size: int = Field(ge=0)
    sha256: str = Field(min_length=64, max_length=64)
    #: Blob keys, under the tenant's prefix (``tenants/{tenant_id}/attachments/{id}/...``).
    key: str = Field(max_length=600)
    thumbnail_key: str | None = Field(default=None, max_length=600)
    width: int | None = None
    height: int | None = None


class RefusedAttachment(Payload):
    """A file the visitor sent that was not kept, and why (``code``: too_large,
    type_not_allowed, disguised_executable, broken_image, media_expired, ...)."""

    kind: str = Field(max_length=20)
    file_name: str | None = Field(default=None, max_length=255)
    code: str = Field(max_length=50)
    reason: str = Field(max_length=500)


class MessageContent(Payload):
    kind: Literal["text", "attachment", "postback", "unsupported"] = "text"
    text: str = ""
    url: str | None = None
    #: Files of the message (optional, added compatibly: older events have none).
    attachments: list[Attachment] = []
    #: Files sent with it that were refused (the message itself is kept).
    refused_attachments: list[RefusedAttachment] = []


class InboundMessageReceived(Payload):
    """A visitor wrote on a channel; ingest has checked and normalised it."""

    channel_id: uuid.UUID
    channel_type: ChannelType
    channel_message_id: str = Field(min_length=1, max_length=512)
    visitor_external_id: str = Field(min_length=1, max_length=512)
    visitor_name: str | None = None
    locale: str | None = None
    content: MessageContent
    received_at: AwareDatetime


# --- directory (conversation service's admin side -> everyone) ------------------------


class TenantCreated(Payload):
    name: str
    plan: Plan
    sdk_option: bool = False
    minimum_end_users: int = 0
    contract_start: datetime | None = None
    time_zone: str = "Europe/Brussels"
    default_language: str = "nl"
    routing_enabled: bool = True
    default_capacity: int = 5


class EndUserProfile(Payload):
    """An end user's whole profile: created and updated carry the same, so a consumer
    never has to merge partial changes."""

    user_id: uuid.UUID
    first_name: str
    last_name: str
    email: str
    role: Role
    mother_tongue: str
    languages: list[str] = []
    channel_ids: list[uuid.UUID] = []
    #: Competence ids (``LabelChanged.label_id`` as text), the identity routing compares.
    competences: list[str] = []
    capacity: int | None = None


class EndUserCreated(EndUserProfile):
    pass


class TenantSettingsChanged(Payload):
    routing_enabled: bool
    languages: list[str]
    default_capacity: int
    #: The tenant's own file size limit in bytes (docs/attachments.md); ``None``: only the
    #: operator's ``ATTACHMENT_MAX_BYTES`` and the channel's own limit apply (older events).
    attachment_max_bytes: int | None = None


class OfficeHoursSet(Payload):
    """The tenant's opening hours; ``office_hours`` is ``shared.office_hours.OfficeHours`` as JSON."""

    office_hours: dict[str, Any]


class ContractEnded(Payload):
    contract_end: AwareDatetime


class EndUserUpdated(EndUserProfile):
    pass


class EndUserDeleted(Payload):
    user_id: uuid.UUID
    at: AwareDatetime


class LabelChanged(Payload):
    """A competence or topic was created or changed (``kind`` says which).

    A competence is known by ``label_id`` everywhere (end users' competences, conversations'
    required competences); ``name`` is for display and may change without changing routing.
    """

    kind: Literal["competence", "topic"]
    label_id: uuid.UUID
    name: str
    description: str = ""


class LabelDeleted(Payload):
    """Gone: a conversation that required this competence no longer waits for it."""

    kind: Literal["competence", "topic"]
    label_id: uuid.UUID


class ChannelOutOfOfficeSet(Payload):
    channel_id: uuid.UUID
    message: str | None


class ChatbotConnected(Payload):
    """A bot answers first on this channel (SPEC §3.2.1, Bot plan)."""

    channel_id: uuid.UUID
    platform: Literal["webhook", "rasa"]
    url: str
    #: The bot's bearer token, sealed like channel credentials (None: no token).
    sealed_token: str | None = None


class ChatbotDisconnected(Payload):
    channel_id: uuid.UUID


class EndUserActivated(Payload):
    user_id: uuid.UUID
    at: AwareDatetime


class EndUserDeactivated(Payload):
    user_id: uuid.UUID
    at: AwareDatetime


class PresenceChanged(Payload):
    user_id: uuid.UUID
    presence: Presence
    at: AwareDatetime


class ChannelConnected(Payload):
    channel_id: uuid.UUID
    channel_type: ChannelType
    name: str
    public_key: str
    external_id: str | None = None
    #: The channel's credentials, encrypted with ``CHANNEL_SECRETS_KEY`` (see shared.secrets).
    sealed_credentials: str | None = None
    #: Website chat: the origins (scheme://host[:port]) whose pages may open the widget.
    allowed_origins: list[str] = []


class ChannelOriginsSet(Payload):
    """The website chat's allowed origins changed (replaces the whole list)."""

    channel_id: uuid.UUID
    allowed_origins: list[str]


class ChannelDisconnected(Payload):
    channel_id: uuid.UUID


class TenantPurged(Payload):
    """The tenant's retention ended (contract end + 30 days, SPEC §3.4): every service
    deletes that tenant's rows for good. Carries no personal data; applying it twice
    deletes nothing more (docs/data-lifecycle-purge.md)."""

    contract_end: AwareDatetime
    purged_at: AwareDatetime


# --- conversations (conversation service -> routing, stats, ...) ----------------------


class ConversationOpened(Payload):
    conversation_id: uuid.UUID
    channel_id: uuid.UUID
    channel_type: ChannelType
    visitor_id: uuid.UUID
    language: str
    #: Competence ids, compared with ``EndUserProfile.competences``. Events written before
    #: competences were ids carry competence *names* here; routing maps such an entry (one
    #: that is not a UUID) to the id of the competence that has that name.
    required_competences: list[str] = []
    opened_at: AwareDatetime
    #: A chatbot answers first (SPEC §3.2): routing leaves it alone until a handover.
    bot_active: bool = False


class MessageReceived(Payload):
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    channel_message_id: str
    content: MessageContent
    received_at: AwareDatetime


class ConversationAssigned(Payload):
    """Someone must take it. ``dispatch``: a Manager/Administrator chose (overrides routing
    for this conversation); ``agent``: a colleague passed it on."""

    conversation_id: uuid.UUID
    assignee_id: uuid.UUID
    assigned_by: Literal["routing", "dispatch", "agent"] = "routing"
    by_user_id: uuid.UUID | None = None
    at: AwareDatetime


class ConversationTaken(Payload):
    """An end user took it (from their queue or the shared queue): now in progress."""

    conversation_id: uuid.UUID
    user_id: uuid.UUID
    at: AwareDatetime


class ConversationRequirementsChanged(Payload):
    """Language or required competences changed by hand; routing re-checks the assignee.
    ``dispatched``: changed by a Manager/Administrator through dispatch.
    ``required_competences``: competence ids (older events: names, see ConversationOpened)."""

    conversation_id: uuid.UUID
    language: str
    required_competences: list[str]
    by_user_id: uuid.UUID | None = None
    dispatched: bool = False
    at: AwareDatetime


Author = Literal["agent", "bot", "system"]


class MessageSent(Payload):
    """A message to the visitor: an end user's reply, the bot's answer, or an automatic
    one (``system``: the out-of-office message)."""

    conversation_id: uuid.UUID
    message_id: uuid.UUID
    author: Author
    author_id: uuid.UUID | None = None
    content: MessageContent
    at: AwareDatetime


DeliveryStatus = Literal["sent", "delivered", "read", "failed"]


class MessageDeliveryChanged(Payload):
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    status: DeliveryStatus
    error: str | None = None
    at: AwareDatetime


HandoverState = Literal["bot", "waiting_for_human", "human"]


class HandoverChanged(Payload):
    """The chatbot handover state machine (SPEC §3.2): bot -> waiting_for_human -> human
    -> bot. ``reason``: paused, resumed, bot_requested, bot_failed."""

    conversation_id: uuid.UUID
    state: HandoverState
    reason: str
    by_user_id: uuid.UUID | None = None
    at: AwareDatetime


class ConversationQueued(Payload):
    """Nobody eligible (or routing off): the conversation waits in the tenant's queue."""

    conversation_id: uuid.UUID
    at: AwareDatetime


class ConversationClosed(Payload):
    conversation_id: uuid.UUID
    closed_by: uuid.UUID | None = None
    at: AwareDatetime


class ConversationArchived(Payload):
    """Filed under one or more topics (names, SPEC §3.1.8)."""

    conversation_id: uuid.UUID
    topics: list[str]
    at: AwareDatetime


# --- outbound (conversation -> ingest) ------------------------------------------------


class OutboundMessageRequested(Payload):
    """Deliver this to the visitor on the channel; ingest answers with a
    :class:`DeliveryStatusReported` on the inbound topic."""

    conversation_id: uuid.UUID
    message_id: uuid.UUID
    channel_id: uuid.UUID
    channel_type: ChannelType
    visitor_external_id: str
    #: The channel message answered (page comments reply to this comment id).
    reply_to: str | None = None
    author: Author
    content: MessageContent
    requested_at: AwareDatetime


class BotTurnRequested(Payload):
    """The channel's chatbot should answer this visitor message (ingest's bot connector)."""

    conversation_id: uuid.UUID
    message_id: uuid.UUID
    channel_id: uuid.UUID
    visitor_external_id: str
    text: str
    requested_at: AwareDatetime


class VisitorErased(Payload):
    """An Administrator erased a visitor (GDPR art. 17): the audit record, without personal
    data, and the channel adapters' signal to delete what they keep of these
    conversations (the webchat mailbox, stored bot answers). docs/data-lifecycle.md."""

    visitor_id: uuid.UUID
    conversation_ids: list[uuid.UUID] = []
    by_user_id: uuid.UUID
    at: AwareDatetime


# --- back from the channels (ingest -> conversation, on the inbound topic) ------------


class DeliveryStatusReported(Payload):
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    status: DeliveryStatus
    #: The channel's id for our message (Messenger mid, WhatsApp wamid, ...).
    channel_message_id: str | None = None
    error: str | None = None
    at: AwareDatetime


class BotReplied(Payload):
    """The bot's answers to one visitor message; ``handover``: the bot asks for a human."""

    conversation_id: uuid.UUID
    reply_to_message_id: uuid.UUID
    texts: list[str] = []
    handover: bool = False
    at: AwareDatetime


class BotFailed(Payload):
    """The bot timed out or erred: the conversation goes to humans, the reason is recorded."""

    conversation_id: uuid.UUID
    reply_to_message_id: uuid.UUID
    reason: str
    at: AwareDatetime


# --- routing (routing -> conversation) ------------------------------------------------


class CandidateVerdict(Payload):
    user_id: uuid.UUID
    excluded_by: list[str] = []
    load: int = 0


class ConversationRouted(Payload):
    """Routing's decision with its reasons; ``assignee_id`` None means: wait in the queue."""

    conversation_id: uuid.UUID
    assignee_id: uuid.UUID | None
    #: Set when the conversation is taken away from someone (deactivated, offline, ...):
    #: the decision applies only if that person still has it.
    replaces_assignee_id: uuid.UUID | None = None
    #: Why it is routed again: not_taken (applies only while still not taken), offline,
    #: deactivated, requirements.
    reroute_reason: str | None = None
    tie_break: str | None = None
    candidates: list[CandidateVerdict] = []
    decided_at: AwareDatetime


# --- billing and SLA ------------------------------------------------------------------


class InvoiceIssued(Payload):
    """An immutable invoice or credit note; amounts in euro cents."""

    invoice_id: uuid.UUID
    number: str
    kind: Literal["invoice", "credit_note"] = "invoice"
    period: str = Field(pattern=r"^\d{4}-\d{2}$")
    licence_cents: int
    total_cents: int
    issued_at: AwareDatetime


class InvoicePaymentRecorded(Payload):
    invoice_id: uuid.UUID
    paid: bool
    at: AwareDatetime


class ServiceCreditGranted(Payload):
    """A granted SLA service credit; billing deducts it on the next invoice."""

    credit_id: uuid.UUID
    incident_id: uuid.UUID
    breach_month: str = Field(pattern=r"^\d{4}-\d{2}$")
    amount_cents: int = Field(ge=0)
    granted_at: AwareDatetime


#: (type, schema_version) -> payload model: the registry of the contract.
PAYLOADS: dict[tuple[str, int], type[Payload]] = {
    (model.__name__, 1): model
    for model in (
        InboundMessageReceived,
        TenantCreated,
        TenantSettingsChanged,
        OfficeHoursSet,
        ContractEnded,
        EndUserCreated,
        EndUserUpdated,
        EndUserDeleted,
        LabelChanged,
        LabelDeleted,
        ChannelOutOfOfficeSet,
        ChatbotConnected,
        ChatbotDisconnected,
        EndUserActivated,
        EndUserDeactivated,
        PresenceChanged,
        ChannelConnected,
        ChannelDisconnected,
        ChannelOriginsSet,
        ConversationOpened,
        MessageReceived,
        ConversationAssigned,
        ConversationQueued,
        ConversationClosed,
        ConversationRouted,
        ConversationTaken,
        ConversationRequirementsChanged,
        MessageSent,
        MessageDeliveryChanged,
        HandoverChanged,
        ConversationArchived,
        OutboundMessageRequested,
        BotTurnRequested,
        DeliveryStatusReported,
        BotReplied,
        BotFailed,
        InvoiceIssued,
        InvoicePaymentRecorded,
        ServiceCreditGranted,
        TenantPurged,
        VisitorErased,
    )
}

#: type -> the newest schema_version this code reads (an event above it is not dead-lettered).
LATEST_VERSIONS: dict[str, int] = {
    name: max(version for other, version in PAYLOADS if other == name) for name, _ in PAYLOADS
}


class Envelope(BaseModel):
    """What travels on every topic. ``event_id`` is what consumers deduplicate on."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str = Field(min_length=1, max_length=200)
    schema_version: int = Field(default=1, ge=1, le=1000)
    tenant_id: uuid.UUID
    occurred_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    correlation_id: uuid.UUID | None = None
    causation_id: uuid.UUID | None = None
    payload: dict[str, Any]

    @classmethod
    def wrap(
        cls,
        payload: Payload,
        *,
        tenant_id: uuid.UUID,
        event_id: uuid.UUID | None = None,
        occurred_at: datetime | None = None,
        correlation_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
    ) -> Envelope:
        return cls(
            event_id=event_id or uuid.uuid4(),
            type=type(payload).__name__,
            tenant_id=tenant_id,
            occurred_at=occurred_at or datetime.now(UTC),
            correlation_id=correlation_id,
            causation_id=causation_id,
            payload=payload.model_dump(mode="json"),
        )

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @property
    def key(self) -> bytes:
        """The Kafka key: the tenant, so one tenant's events keep their order."""
        return id_text(self.tenant_id).encode()

    def parsed(self, nul_free: bool = False) -> Payload:
        """The typed payload; raises :class:`UnreadableEvent` if it is not ours to read.

        ``nul_free``: the caller saw the raw JSON and it has no escaped NUL, so the walk
        through every string that drops them can be skipped."""
        model = PAYLOADS.get((self.type, self.schema_version))
        if model is None:
            if self.schema_version > LATEST_VERSIONS.get(self.type, self.schema_version):
                raise NewerSchemaVersion(
                    f"{self.type} v{self.schema_version} is newer than the"
                    f" v{LATEST_VERSIONS[self.type]} this code reads"
                )
            raise UnreadableEvent(f"unknown event type {self.type} v{self.schema_version}")
        try:
            return model.model_validate(self.payload, context={"nul_free": nul_free})
        except ValidationError as exc:
            raise UnreadableEvent(f"malformed {self.type}: {exc.errors()[:3]}") from exc


@dataclass(frozen=True, slots=True)
class StoredEnvelope:
    """An envelope as an outbox stored it (``Envelope.to_bytes``), published as it was
    written: reading it back into a model only to write the same bytes again cost more
    than the rest of relaying it. Its key and type are the envelope's own."""

    type: str
    key: bytes
    raw: bytes

    @classmethod
    def of(cls, stored: str | bytes) -> StoredEnvelope:
        raw = stored.encode() if isinstance(stored, str) else stored
        data = orjson.loads(raw)
        return cls(type=data["type"], key=str(data["tenant_id"]).encode(), raw=raw)

    def to_bytes(self) -> bytes:
        return self.raw


class UnreadableEvent(ValueError):
    """A message that no retry will make readable: it goes to the dead-letter topic."""


class NewerSchemaVersion(UnreadableEvent):
    """A known type in a ``schema_version`` newer than this code reads (a rolling upgrade):
    not garbage, a newer replica reads it, so a consumer pauses there instead of
    dead-lettering it (``shared.kafka``)."""


def decode(raw: bytes) -> tuple[Envelope, Payload]:
    """Bytes from Kafka -> envelope and typed payload, or :class:`UnreadableEvent`."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UnreadableEvent(f"not an event envelope: {exc}") from exc
    # The producer's event_id is required, never made up: deduplication depends on it.
    if not isinstance(data, dict) or "event_id" not in data:
        raise UnreadableEvent("not an event envelope: no event_id")
    try:
        envelope = Envelope.model_validate(data)
    except ValidationError as exc:
        raise UnreadableEvent(f"not an event envelope: {exc.errors()[:3]}") from exc
    return envelope, envelope.parsed(nul_free=b"\\u0000" not in raw)
