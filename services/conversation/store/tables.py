"""The conversation service's SQL tables: the Portal's read model and its security store.

Read-model tables are projections of the two event logs and can be dropped and rebuilt.
``credentials`` and ``sessions`` are not events: they are secrets and short-lived state.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from shared.ratelimit import rate_limit_table
from shared.readmodel import UtcDateTime

#: Migrated by Alembic (``services/conversation/migrations``, ``shared.migrations``).
metadata = MetaData(info={"migrations": "services.conversation.migrations"})

#: Bump when a view table changes shape: the views are then dropped and rebuilt from the
#: event logs at start-up (they are projections; nothing in them is original).
VIEWS_VERSION = 4

log_positions = Table(
    "log_positions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

tenants = Table(
    "tenants",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("plan", String(10), nullable=False),
    Column("sdk_option", Boolean, nullable=False),
    Column("time_zone", String(64), nullable=False),
    Column("default_language", String(16), nullable=False),
    Column("routing_enabled", Boolean, nullable=False),
    Column("default_capacity", Integer, nullable=False, default=5),
    Column("minimum_end_users", Integer, nullable=False, default=0),
    Column("languages", JSON, nullable=False, default=list),
    Column("office_hours", JSON),
    Column("contract_end", UtcDateTime),
    #: The tenant's file size limit (bytes); NULL: the operator's applies.
    Column("attachment_max_bytes", Integer),
)

end_users = Table(
    "end_users",
    metadata,
    Column("user_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("email", String(320), nullable=False),
    Column("first_name", String(100), nullable=False),
    Column("last_name", String(100), nullable=False),
    Column("role", String(20), nullable=False),
    Column("mother_tongue", String(16), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("presence", String(10), nullable=False),
    Column("languages", JSON, nullable=False, default=list),
    Column("channel_ids", JSON, nullable=False, default=list),
    Column("competences", JSON, nullable=False, default=list),
    Column("capacity", Integer),
    Index("ix_end_users_tenant_email", "tenant_id", "email"),
)

labels = Table(
    "labels",
    metadata,
    Column("label_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("kind", String(12), nullable=False),
    Column("name", String(100), nullable=False),
    Column("description", String(1000), nullable=False),
    Index("ix_labels_tenant_kind_name", "tenant_id", "kind", "name"),
)

faq = Table(
    "faq",
    metadata,
    Column("entry_id", String(36), primary_key=True),
    Column("question", String(500), nullable=False),
    Column("answer", Text, nullable=False),
)

reset_tokens = Table(
    "reset_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(36), nullable=False, index=True),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used", Boolean, nullable=False, default=False),
)

channels = Table(
    "channels",
    metadata,
    Column("channel_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False, index=True),
    Column("channel_type", String(20), nullable=False),
    Column("name", String(200), nullable=False),
    Column("public_key", String(64), nullable=False, unique=True),
    Column("external_id", String(100)),
    Column("out_of_office_message", String(1000)),
    Column("chatbot_platform", String(20)),
    Column("chatbot_url", String(2000)),
    Column("connected", Boolean, nullable=False),
    Column("allowed_origins", JSON, nullable=False, default=list),
    #: The channel API's last delivery failure, shown on the channel (SPEC §7.7.4).
    Column("last_error", String(1000)),
    Column("last_error_at", UtcDateTime),
)

conversations = Table(
    "conversations",
    metadata,
    Column("conversation_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("channel_id", String(36), nullable=False),
    Column("channel_type", String(20), nullable=False),
    Column("visitor_id", String(36), nullable=False),
    Column("language", String(16), nullable=False),
    Column("status", String(20), nullable=False),
    Column("assignee_id", String(36)),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("last_message_at", UtcDateTime),
    Column("message_count", Integer, nullable=False, default=0),
    Column("preview", String(200)),
    #: Competence ids (names in conversations recorded before competences were ids).
    Column("required_competences", JSON, nullable=False, default=list),
    Column("topics", JSON, nullable=False, default=list),
    Column("handover", String(20)),
    Column("dispatched", Boolean, nullable=False, default=False),
    Column("queued_at", UtcDateTime),
    Column("taken_at", UtcDateTime),
    Column("closed_at", UtcDateTime),
    Column("archived_at", UtcDateTime),
    Column("last_error", String(1000)),
    Index("ix_conversations_queue", "tenant_id", "assignee_id", "status"),
    Index("ix_conversations_tenant_status_opened", "tenant_id", "status", "opened_at"),
    Index("ix_conversations_tenant_opened", "tenant_id", "opened_at"),
    Index("ix_conversations_history", "tenant_id", "closed_at"),
    Index("ix_conversations_visitor", "visitor_id"),
)

#: A conversation's topics and competences, one row each, so History filters use an index.
#: ``name`` holds a topic's name, or a competence's id (older conversations: its name).
conversation_labels = Table(
    "conversation_labels",
    metadata,
    Column("conversation_id", String(36), primary_key=True),
    Column("kind", String(12), primary_key=True),
    Column("name", String(100), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Index("ix_conversation_labels_lookup", "tenant_id", "kind", "name"),
)

visitors = Table(
    "visitors",
    metadata,
    Column("visitor_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("channel_id", String(36), nullable=False),
    Column("external_id", String(512), nullable=False),
    Column("name", String(200)),
    Column("first_name", String(100)),
    Column("last_name", String(100)),
    Column("email", String(320)),
    Column("birth_date", String(10)),
    Column("phone", String(40)),
    Column("mobile", String(40)),
    Column("bot_paused", Boolean, nullable=False, default=False),
    #: Erased by an Administrator: the personal columns hold ``[erased]`` or nothing.
    Column("erased_at", UtcDateTime),
    Index("ix_visitors_tenant", "tenant_id"),
)

notes = Table(
    "notes",
    metadata,
    Column("note_id", String(36), primary_key=True),
    Column("conversation_id", String(36), nullable=False),
    Column("tenant_id", String(36), nullable=False),
    Column("author_id", String(36), nullable=False),
    Column("text", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_notes_conversation", "conversation_id", "at"),
)

messages = Table(
    "messages",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("conversation_id", String(36), nullable=False),
    Column("tenant_id", String(36), nullable=False),
    Column("direction", String(10), nullable=False),
    #: visitor, agent, bot or system (the out-of-office message).
    Column("author", String(10), nullable=False, default="visitor"),
    Column("author_id", String(36)),
    Column("kind", String(20), nullable=False),
    Column("text", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    #: Outbound only: requested, sent, delivered, read or failed (with the channel's error).
    Column("delivery_status", String(12)),
    Column("delivery_error", String(1000)),
    Index("ix_messages_conversation", "conversation_id", "at"),
)

#: Files of messages (``MessageContent.attachments``), and those refused (``refused_code``,
#: no blob): what the Portal shows and what a signed link may serve (docs/attachments.md).
attachments = Table(
    "attachments",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("conversation_id", String(36), nullable=False),
    Column("tenant_id", String(36), nullable=False),
    Column("attachment_id", String(36)),
    Column("kind", String(20), nullable=False),
    Column("file_name", String(255)),
    Column("content_type", String(200)),
    Column("size", BigInteger),
    Column("sha256", String(64)),
    Column("blob_key", String(600)),
    Column("thumbnail_key", String(600)),
    Column("width", Integer),
    Column("height", Integer),
    Column("refused_code", String(50)),
    Column("refused_reason", String(500)),
    Index("ix_attachments_tenant_id", "tenant_id", "attachment_id"),
    Index("ix_attachments_conversation", "conversation_id"),
)

#: Tables that are projections of the logs (everything but the security store).
VIEWS = (
    tenants,
    end_users,
    labels,
    faq,
    channels,
    conversations,
    conversation_labels,
    visitors,
    notes,
    messages,
    attachments,
)

credentials = Table(
    "credentials",
    metadata,
    Column("user_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("password_hash", String(200)),
    Column("failed_attempts", Integer, nullable=False, default=0),
    Column("locked", Boolean, nullable=False, default=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(36), nullable=False, index=True),
    Column("tenant_id", String(36), nullable=False),
    Column("role", String(20), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
)

#: Login and password-link counters shared by the replicas (shared.ratelimit).
rate_limits = rate_limit_table(metadata)
