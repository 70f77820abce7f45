"""Request and response bodies of the Portal API: strict, so a typo is a 422, not a silent default."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, model_validator

from shared.events import ChannelType, Plan, Presence, Role

Name = Field(min_length=1, max_length=100)
LANGUAGE = r"^[a-z]{2,3}([_-][A-Za-z]{2,4})?$"
LanguageCode = Field(min_length=2, max_length=16, pattern=LANGUAGE)
LanguageCodeOptional = Field(default=None, min_length=2, max_length=16, pattern=LANGUAGE)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def example(**data: object) -> ConfigDict:
    """A strict model's config with one example for the OpenAPI page."""
    return ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": [data]}
    )


class LoginRequest(Strict):
    model_config = example(email="ada@bakery.example", password="correct horse battery")

    email: EmailStr
    password: str = Field(min_length=1, max_length=256)
    #: ``cookie``: the Portal in a browser. The token goes into an HttpOnly cookie (with a
    #: CSRF cookie beside it) instead of the body; ``token`` (default) is for API clients.
    session: Literal["token", "cookie"] = "token"


class LoginResponse(BaseModel):
    #: The Bearer token; absent for a cookie session, whose token page scripts never see.
    token: str | None = None
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    role: Role
    expires_at: datetime


class SessionInfo(BaseModel):
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    role: Role
    expires_at: datetime


class Me(BaseModel):
    """What the Portal needs about the signed-in person and their tenant (``GET /v1/me``)."""

    user_id: uuid.UUID
    first_name: str
    last_name: str
    email: str
    role: Role
    #: The person's mother tongue: the Portal's language unless they choose another.
    language: str
    presence: Presence
    tenant_id: uuid.UUID
    tenant_name: str
    plan: Plan
    sdk_option: bool
    default_language: str
    time_zone: str
    #: Names from ``shared/access.py`` this person may use (their role and their plan).
    functions: list[str]
    expires_at: datetime


class FirstEndUser(Strict):
    first_name: str = Name
    last_name: str = Name
    email: EmailStr
    language: str = LanguageCode
    password: str | None = Field(default=None, min_length=8, max_length=256)


class TenantOrder(Strict):
    """An order (SPEC §5): plan, options, minimum end users, contract start, the first end user."""

    model_config = example(
        name="Bakery Peeters",
        plan="pro",
        sdk_option=True,
        minimum_end_users=5,
        contract_start="2026-12-01T00:00:00+01:00",
        time_zone="Europe/Brussels",
        default_language="nl",
        first_end_user={
            "first_name": "Ada",
            "last_name": "Peeters",
            "email": "ada@bakery.example",
            "language": "nl",
        },
    )

    name: str = Field(min_length=1, max_length=200)
    plan: Plan
    sdk_option: bool = False
    minimum_end_users: int = Field(default=1, ge=0, le=100_000)
    contract_start: datetime | None = None
    time_zone: str = Field(default="Europe/Brussels", max_length=64)
    default_language: str = LanguageCode
    routing_enabled: bool = True
    default_capacity: int = Field(default=5, ge=1, le=1000)
    first_end_user: FirstEndUser


class TenantCreatedResponse(BaseModel):
    tenant_id: uuid.UUID
    administrator_id: uuid.UUID


class NewEndUser(Strict):
    model_config = example(
        first_name="Nora",
        last_name="Peeters",
        email="nora@bakery.example",
        role="agent",
        mother_tongue="nl",
        languages=["nl", "fr"],
        channel_ids=["3fa85f64-5717-4562-b3fc-2c963f66afa6"],
        competences=[],
        capacity=5,
    )

    first_name: str = Name
    last_name: str = Name
    email: EmailStr
    role: Role
    mother_tongue: str = LanguageCode
    languages: list[str] = Field(default_factory=list, max_length=50)
    channel_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    competences: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    capacity: int | None = Field(default=None, ge=1, le=1000)
    password: str | None = Field(default=None, min_length=8, max_length=256)


class EndUserUpdate(Strict):
    """Only the fields given change."""

    first_name: str | None = Field(default=None, min_length=1, max_length=100)
    last_name: str | None = Field(default=None, min_length=1, max_length=100)
    email: EmailStr | None = None
    role: Role | None = None
    mother_tongue: str | None = LanguageCodeOptional
    languages: list[str] | None = Field(default=None, max_length=50)
    channel_ids: list[uuid.UUID] | None = Field(default=None, max_length=50)
    competences: list[uuid.UUID] | None = Field(default=None, max_length=100)
    capacity: int | None = Field(default=None, ge=1, le=1000)


class EndUserOut(BaseModel):
    user_id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    role: Role
    mother_tongue: str
    active: bool
    presence: Presence
    languages: list[str]
    channel_ids: list[uuid.UUID]
    competences: list[uuid.UUID]
    capacity: int | None


class ForgotPassword(Strict):
    email: EmailStr


class ResetPassword(Strict):
    token: str = Field(min_length=10, max_length=200)
    password: str = Field(min_length=8, max_length=256)


class LabelIn(Strict):
    model_config = example(name="Orders", description="Questions about orders and delivery")

    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=1000)


class LabelOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str


class AssignedUsers(Strict):
    user_ids: list[uuid.UUID] = Field(max_length=10_000)


class GeneralSettings(Strict):
    model_config = example(routing_enabled=True, languages=["nl", "fr", "en"], default_capacity=5)

    routing_enabled: bool
    languages: list[str] = Field(min_length=1, max_length=100)
    default_capacity: int = Field(default=5, ge=1, le=1000)
    #: The tenant's own file size limit in bytes, at most the operator's
    #: ``ATTACHMENT_MAX_BYTES``; absent or null: the operator's limit.
    attachment_max_bytes: int | None = Field(default=None, gt=0)


class Termination(Strict):
    contract_end: datetime


class FaqIn(Strict):
    question: str = Field(min_length=1, max_length=500)
    answer: str = Field(min_length=1, max_length=10_000)


class FaqOut(BaseModel):
    id: uuid.UUID
    question: str
    answer: str


class ChannelCredentials(Strict):
    """Meta credentials; stored sealed and never returned."""

    app_secret: str = Field(min_length=8, max_length=200)
    access_token: str = Field(min_length=8, max_length=1000)
    verify_token: str = Field(min_length=8, max_length=200)


Origin = Annotated[
    str,
    Field(
        max_length=300,
        pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$",
        description="scheme://host[:port], no path",
    ),
]


class NewChannel(Strict):
    model_config = example(
        channel_type="messenger",
        name="Bakery page",
        external_id="102938475610",
        credentials={
            "app_secret": "app-secret-from-meta",
            "access_token": "EAAG-page-token",
            "verify_token": "a-long-random-verify-token",
        },
        out_of_office_message="We are closed; we answer tomorrow from 9:00.",
    )

    channel_type: ChannelType
    name: str = Field(min_length=1, max_length=200)
    external_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        pattern=r"^[0-9]+$",
        description="Facebook page id or WhatsApp phone number id (Meta channels)",
    )
    credentials: ChannelCredentials | None = None
    out_of_office_message: str | None = Field(default=None, max_length=1000)
    allowed_origins: list[Origin] = Field(
        default=[], max_length=50, description="Website chat: sites that may open the widget"
    )


class ChannelOut(BaseModel):
    channel_id: uuid.UUID
    channel_type: ChannelType
    name: str
    public_key: str
    external_id: str | None
    out_of_office_message: str | None
    connected: bool
    allowed_origins: list[str] = []
    last_error: str | None = None
    last_error_at: datetime | None = None


class AllowedOrigins(Strict):
    model_config = example(allowed_origins=["https://www.bakery.example"])

    allowed_origins: list[Origin] = Field(max_length=50)


class ChannelTypeOut(BaseModel):
    channel_type: ChannelType
    name: str
    needs_credentials: bool
    needs_option: str | None


class OutOfOffice(Strict):
    message: str | None = Field(max_length=1000)


class PresenceUpdate(Strict):
    presence: Presence


ConversationStatus = Literal["bot", "waiting", "assigned", "in_progress", "closed", "archived"]


class CompetenceRef(BaseModel):
    """A competence as shown: its id (what requirements take) and its current name."""

    id: uuid.UUID
    name: str


class ConversationOut(BaseModel):
    conversation_id: uuid.UUID
    channel_id: uuid.UUID
    channel_type: ChannelType
    visitor_id: uuid.UUID
    language: str
    status: ConversationStatus
    assignee_id: uuid.UUID | None
    opened_at: datetime
    last_message_at: datetime | None
    message_count: int
    preview: str | None
    required_competences: list[uuid.UUID] = Field(
        default=[], description="Competence ids (deleted competences are left out)"
    )
    competences: list[CompetenceRef] = Field(
        default=[], description="The required competences with their current names"
    )
    topics: list[str] = []
    handover: Literal["bot", "waiting_for_human", "human"] | None = None
    dispatched: bool = False
    closed_at: datetime | None = None
    last_error: str | None = Field(None, description="The channel's last delivery failure")


class AttachmentOut(BaseModel):
    """A file of a message; ``url``/``thumbnail_url`` are signed links that expire
    (``ATTACHMENT_LINK_SECONDS``): read the conversation again for fresh ones."""

    attachment_id: uuid.UUID
    kind: Literal["image", "audio", "video", "file"]
    file_name: str
    content_type: str
    size: int
    sha256: str
    width: int | None = None
    height: int | None = None
    url: str
    thumbnail_url: str | None = None


class RefusedAttachmentOut(BaseModel):
    """A file the visitor sent that was not kept, and why."""

    kind: str
    file_name: str | None = None
    code: str
    reason: str


class MessageOut(BaseModel):
    message_id: uuid.UUID
    direction: Literal["in", "out"]
    author: Literal["visitor", "agent", "bot", "system"] = "visitor"
    author_id: uuid.UUID | None = None
    kind: str
    text: str
    at: datetime
    delivery_status: Literal["requested", "sent", "delivered", "read", "failed"] | None = None
    delivery_error: str | None = None
    attachments: list[AttachmentOut] = []
    refused_attachments: list[RefusedAttachmentOut] = []


class NoteOut(BaseModel):
    note_id: uuid.UUID
    author_id: uuid.UUID
    text: str
    at: datetime


class ColleagueOut(BaseModel):
    """Someone a conversation can be passed on to (active, a handling role)."""

    user_id: uuid.UUID
    first_name: str
    last_name: str
    role: Role
    presence: Presence
    languages: list[str] = []


class CandidateOut(BaseModel):
    """One person routing looked at: what kept them out (empty: eligible) and their load."""

    user_id: uuid.UUID
    name: str | None
    #: role, presence, channel, language, competence, capacity, not_taken
    excluded_by: list[str]
    load: int
    chosen: bool


class AssignmentOut(BaseModel):
    """Why the conversation is with its assignee (SPEC §3.1.6): routing's decision with its
    reasons, or the person who dispatched or passed it on."""

    assigned_by: Literal["routing", "dispatch", "agent"]
    by_user_id: uuid.UUID | None = None
    by_name: str | None = None
    at: datetime
    #: least_loaded, idle_longest or stable_order (routing only)
    tie_break: str | None = None
    #: not_taken, offline, deactivated, requirements: why it was routed again
    reroute_reason: str | None = None
    candidates: list[CandidateOut] = []


class ConversationDetail(ConversationOut):
    messages: list[MessageOut]
    notes: list[NoteOut] = []
    #: Only while assigned or taken, on ``GET /v1/conversations/{id}``.
    assignment: AssignmentOut | None = None


Text = Annotated[str, Field(min_length=1, max_length=4000)]
LabelName = Annotated[str, Field(min_length=1, max_length=100)]


class NewReply(Strict):
    model_config = example(text="Your order leaves today.", client_message_id="c-1")

    #: May be empty when files are attached.
    text: str = Field(default="", max_length=4000)
    client_message_id: str | None = Field(
        default=None, min_length=1, max_length=100, description="Same id -> sent once (retries)"
    )
    attachment_ids: list[uuid.UUID] = Field(
        default=[], max_length=10, description="Files uploaded for this conversation"
    )

    @model_validator(mode="after")
    def _something_to_send(self) -> NewReply:
        if not self.text.strip() and not self.attachment_ids:
            raise ValueError("a reply needs text or at least one attachment")
        return self


class Sent(BaseModel):
    message_id: uuid.UUID


class NewNote(Strict):
    text: Text


class Assignment(Strict):
    user_id: uuid.UUID


class Requirements(Strict):
    """Omit a field to keep it; competences (ids) replace the whole list."""

    model_config = example(language="fr", competences=["3fa85f64-5717-4562-b3fc-2c963f66afa6"])

    language: str | None = Field(default=None, min_length=2, max_length=16)
    competences: list[uuid.UUID] | None = Field(
        default=None, max_length=50, description="Competence ids (GET /v1/competences)"
    )


class Closing(Strict):
    """Topics given: closed and archived in one step."""

    topics: list[LabelName] = Field(default=[], max_length=20)


class Archiving(Strict):
    topics: list[LabelName] = Field(min_length=1, max_length=20)


class VisitorProfile(Strict):
    """Only the fields sent change; null clears one."""

    model_config = example(first_name="An", last_name="Peeters", email="an@example.be")

    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    email: EmailStr | None = None
    birth_date: date | None = None
    phone: str | None = Field(default=None, max_length=40, pattern=r"^\+?[0-9 ()./-]{3,40}$")
    mobile: str | None = Field(default=None, max_length=40, pattern=r"^\+?[0-9 ()./-]{3,40}$")


class VisitorOut(BaseModel):
    visitor_id: uuid.UUID
    channel_id: uuid.UUID
    external_id: str
    name: str | None
    first_name: str | None
    last_name: str | None
    email: str | None
    birth_date: str | None
    phone: str | None
    mobile: str | None
    bot_paused: bool
    #: When an Administrator erased this visitor (their fields then read "[erased]").
    erased_at: AwareDatetime | None = None
    earlier_conversations: list[ConversationOut] = []


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int


class FeedItem(BaseModel):
    position: int
    event: dict


class FeedPage(BaseModel):
    log: str
    items: list[FeedItem]
    next_after: int
