"""The statistics read model's tables (PostgreSQL for production, SQLite embedded).

Two layers, both documented for analysts in ``docs/stats.md``:

* facts: one row per conversation (``conversation_facts``) with its topics
  (``conversation_topics``) and the end users who handled it (``conversation_handlers``);
* rollups: per tenant, ``grain`` (day, week or month), local day and channel (``daily_*``,
  ``hourly_conversations``; a week's or month's row is dated by its first day), kept up to
  date in the same transaction as the facts, so a dashboard sums a few hundred rows
  instead of scanning a million conversations.

The bucket rule: a conversation, and every figure about it, counts in the day (in the
tenant's time zone) of its ``opened_at``; weeks (Monday to Sunday) and months are made of
those days.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)

from shared.readmodel import UtcDateTime

#: Migrated by Alembic (``services/stats/migrations``, ``shared.migrations``).
metadata = MetaData(info={"migrations": "services.stats.migrations"})

tenants = Table(
    "tenants",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("time_zone", String(64), nullable=False),
    Column("plan", String(10), nullable=False),
)

end_users = Table(
    "end_users",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("user_id", String(36), primary_key=True),
    Column("first_name", String(200), nullable=False),
    Column("last_name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
)

conversation_facts = Table(
    "conversation_facts",
    metadata,
    Column("conversation_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("channel_type", String(20), nullable=False),
    Column("language", String(16), nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("bot_active", Boolean, nullable=False, default=False),
    Column("messages_in", Integer, nullable=False, default=0),
    Column("messages_out", Integer, nullable=False, default=0),
    Column("messages_with_attachments", Integer, nullable=False, default=0),
    Column("queued_at", UtcDateTime),
    Column("first_assigned_at", UtcDateTime),
    Column("assignee_id", String(36)),
    Column("first_taken_at", UtcDateTime),
    Column("first_response_at", UtcDateTime),
    Column("handover_requested_at", UtcDateTime),
    Column("human_at", UtcDateTime),
    Column("closed_at", UtcDateTime),
    Index("ix_facts_tenant_opened", "tenant_id", "opened_at"),
)

conversation_topics = Table(
    "conversation_topics",
    metadata,
    Column("conversation_id", String(36), primary_key=True),
    Column("topic", String(200), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
)

conversation_handlers = Table(
    "conversation_handlers",
    metadata,
    Column("conversation_id", String(36), primary_key=True),
    Column("user_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("messages_sent", Integer, nullable=False, default=0),
)


daily_conversations = Table(
    "daily_conversations",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("grain", String(5), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("channel_type", String(20), primary_key=True),
    Column("conversations", Integer, nullable=False, default=0),
    Column("assigned", Integer, nullable=False, default=0),
    Column("closed", Integer, nullable=False, default=0),
    Column("messages", Integer, nullable=False, default=0),
    Column("messages_in", Integer, nullable=False, default=0),
    Column("messages_out", Integer, nullable=False, default=0),
    Column("messages_with_attachments", Integer, nullable=False, default=0),
    Column("first_responses", Integer, nullable=False, default=0),
    Column("first_response_ms", BigInteger, nullable=False, default=0),
    Column("queue_waits", Integer, nullable=False, default=0),
    Column("queue_wait_ms", BigInteger, nullable=False, default=0),
    Column("handled", Integer, nullable=False, default=0),
    Column("handling_ms", BigInteger, nullable=False, default=0),
    Column("bot_conversations", Integer, nullable=False, default=0),
    Column("bot_closed", Integer, nullable=False, default=0),
    Column("bot_contained", Integer, nullable=False, default=0),
    Column("handover_waits", Integer, nullable=False, default=0),
    Column("handover_wait_ms", BigInteger, nullable=False, default=0),
)

hourly_conversations = Table(
    "hourly_conversations",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("grain", String(5), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("hour", Integer, primary_key=True),
    Column("channel_type", String(20), primary_key=True),
    Column("conversations", Integer, nullable=False, default=0),
)

daily_message_counts = Table(
    "daily_message_counts",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("grain", String(5), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("channel_type", String(20), primary_key=True),
    Column("messages", Integer, primary_key=True),
    Column("conversations", Integer, nullable=False, default=0),
)

daily_topics = Table(
    "daily_topics",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("grain", String(5), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("channel_type", String(20), primary_key=True),
    Column("topic", String(200), primary_key=True),
    Column("conversations", Integer, nullable=False, default=0),
)

daily_end_users = Table(
    "daily_end_users",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("grain", String(5), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("channel_type", String(20), primary_key=True),
    Column("user_id", String(36), primary_key=True),
    Column("conversations", Integer, nullable=False, default=0),
    Column("messages_sent", Integer, nullable=False, default=0),
)

#: Rollup tables by name: the keys of ``domain.contributions`` name them.
ROLLUPS: dict[str, Table] = {
    t.name: t
    for t in (
        daily_conversations,
        hourly_conversations,
        daily_message_counts,
        daily_topics,
        daily_end_users,
    )
}
