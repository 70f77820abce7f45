"""Ingest's own state: the connected Meta channels and chatbots (from the directory events,
``consumers/directory.py``), the outcomes of outbound deliveries and bot turns, and which
channel message ids are ours.

Credentials stay sealed in the database; they are opened in memory when a channel is
looked up (``shared.secrets``), with a short cache so the hot path needs no round trip.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
)

from shared import events as ev
from shared.readmodel import UtcDateTime
from shared.secrets import SealError, unseal

log = logging.getLogger(__name__)

#: Migrated by Alembic (``services/ingest/migrations``, ``shared.migrations``).
metadata = MetaData(info={"migrations": "services.ingest.migrations"})

#: Meta channels: page id (Messenger, Page comments) or phone-number id (WhatsApp).
meta_channels = Table(
    "meta_channels",
    metadata,
    Column("channel_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("channel_type", String(20), nullable=False),
    Column("external_id", String(100), nullable=False),
    Column("sealed_credentials", Text),
    #: sha256 of the verify token: the webhook verification GET finds its channel by it.
    Column("verify_digest", String(64)),
    Column("connected", Boolean, nullable=False),
    Index("ix_meta_channels_external", "channel_type", "external_id"),
    Index("ix_meta_channels_verify", "verify_digest"),
)

chatbots = Table(
    "chatbots",
    metadata,
    Column("channel_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("platform", String(20), nullable=False),
    Column("url", String(2000), nullable=False),
    Column("sealed_token", Text),
)

#: The published outcome of a request (delivery or bot turn), by request: a redelivered
#: request re-publishes the same event (same event_id) instead of calling out again.
outcomes = Table(
    "outcomes",
    metadata,
    Column("request_id", String(80), primary_key=True),
    Column("envelope", Text, nullable=False),
    Column("recorded_at", UtcDateTime, server_default=func.now(), nullable=False),
)

#: Our outbound messages by the channel's id for them, to map status webhooks back.
sent_messages = Table(
    "sent_messages",
    metadata,
    Column("channel_id", String(36), primary_key=True),
    Column("channel_message_id", String(512), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("conversation_id", String(36), nullable=False),
    Column("message_id", String(36), nullable=False),
)

#: A tenant's own file size limit (``TenantSettingsChanged.attachment_max_bytes``);
#: no row or NULL: the operator's ``ATTACHMENT_MAX_BYTES`` (docs/attachments.md).
tenant_limits = Table(
    "tenant_limits",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("attachment_max_bytes", Integer),
)

META_TYPES = {"messenger", "page_comments", "whatsapp"}


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def verify_digest(sealed: str | None, secrets_key: str) -> str | None:
    """The digest of the verify token in sealed credentials (the webhook GET finds its
    channel by it); None when there is none or it cannot be opened."""
    if not sealed:
        return None
    try:
        token = unseal(sealed, secrets_key).get("verify_token")
    except SealError:
        log.error("channel credentials cannot be opened: is CHANNEL_SECRETS_KEY the same?")
        return None
    return digest(token) if token else None


# --- Meta channels -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MetaChannel:
    channel_id: uuid.UUID
    tenant_id: uuid.UUID
    channel_type: str
    external_id: str
    app_secret: str
    access_token: str
    verify_token: str


class MetaChannels:
    """Connected Meta channels with their credentials opened, cached for ``ttl`` seconds.

    A page can be connected twice (Messenger and Page comments), so the key is the
    channel type with the page or phone-number id. The directory lets only one tenant's
    channel use a page or number at a time (``ChannelAccount``), so one row answers.
    """

    def __init__(self, engine: Engine, secrets_key: str, ttl: float = 2.0) -> None:
        self.engine, self.secrets_key, self.ttl = engine, secrets_key, ttl
        self._cache: dict[tuple[str, str], tuple[float, MetaChannel | None]] = {}

    def by_external_id(self, channel_type: str, external_id: str) -> MetaChannel | None:
        key = (channel_type, external_id)
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        m = meta_channels.c
        with self.engine.connect() as conn:
            row = conn.execute(
                select(meta_channels)
                .where(
                    m.channel_type == channel_type,
                    m.external_id == external_id,
                    m.connected.is_(True),
                )
                .order_by(m.channel_id)
                .limit(1)
            ).first()
        channel = self._open(row)
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[key] = (now, channel)
        return channel

    def by_id(self, tenant_id: uuid.UUID, channel_id: uuid.UUID) -> MetaChannel | None:
        """A connected channel of this tenant (never another tenant's)."""
        m = meta_channels.c
        with self.engine.connect() as conn:
            row = conn.execute(
                select(meta_channels).where(
                    m.channel_id == str(channel_id),
                    m.tenant_id == str(tenant_id),
                    m.connected.is_(True),
                )
            ).first()
        return self._open(row)

    def verify_token_known(self, token: str) -> bool:
        with self.engine.connect() as conn:
            return (
                conn.scalar(
                    select(func.count())
                    .select_from(meta_channels)
                    .where(
                        meta_channels.c.verify_digest == digest(token),
                        meta_channels.c.connected.is_(True),
                    )
                )
                or 0
            ) > 0

    def _open(self, row: Any) -> MetaChannel | None:
        if row is None or not row.sealed_credentials:
            return None
        try:
            creds = unseal(row.sealed_credentials, self.secrets_key)
        except SealError:
            log.error("credentials of a Meta channel cannot be opened", extra={"channel": row[0]})
            return None
        return MetaChannel(
            channel_id=uuid.UUID(row.channel_id),
            tenant_id=uuid.UUID(row.tenant_id),
            channel_type=row.channel_type,
            external_id=row.external_id,
            app_secret=creds.get("app_secret", ""),
            access_token=creds.get("access_token", ""),
            verify_token=creds.get("verify_token", ""),
        )


# --- chatbots ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Chatbot:
    platform: str
    url: str
    token: str | None


def chatbot_for(
    engine: Engine, secrets_key: str, tenant_id: uuid.UUID, channel_id: uuid.UUID
) -> Chatbot | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(chatbots).where(
                chatbots.c.channel_id == str(channel_id), chatbots.c.tenant_id == str(tenant_id)
            )
        ).first()
    if row is None:
        return None
    token = None
    if row.sealed_token:
        try:
            token = unseal(row.sealed_token, secrets_key).get("token")
        except SealError:
            log.error("a chatbot token cannot be opened", extra={"channel": row.channel_id})
    return Chatbot(platform=row.platform, url=row.url, token=token)


# --- outcomes and our channel message ids ----------------------------------------------


def forget_conversations(conn: Connection, tenant_id: uuid.UUID, ids: list[uuid.UUID]) -> int:
    """A visitor's erasure: the stored outcomes of their conversations (bot answers hold
    texts) and our message ids for them go. An outcome names its conversation only inside
    its envelope; erasures are rare enough for a ``LIKE`` per conversation."""
    forgotten = 0
    for conversation_id in ids:
        cid = str(conversation_id)
        forgotten += conn.execute(
            delete(outcomes).where(outcomes.c.envelope.contains(cid))
        ).rowcount
        conn.execute(
            delete(sent_messages).where(
                sent_messages.c.tenant_id == str(tenant_id),
                sent_messages.c.conversation_id == cid,
            )
        )
    return forgotten


def recorded_outcomes(engine: Engine, request_ids: list[str]) -> dict[str, ev.Envelope]:
    if not request_ids:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(outcomes.c.request_id, outcomes.c.envelope).where(
                outcomes.c.request_id.in_(request_ids)
            )
        ).all()
    return {r.request_id: ev.Envelope.model_validate_json(r.envelope) for r in rows}


@dataclass(frozen=True, slots=True)
class SentMessage:
    channel_id: str
    channel_message_id: str
    tenant_id: str
    conversation_id: str
    message_id: str


def record_outcomes(
    engine: Engine, recorded: dict[str, ev.Envelope], sent: list[SentMessage]
) -> None:
    """Keep the outcomes (and our new channel message ids) in one transaction."""
    with engine.begin() as conn:
        known = set(
            conn.scalars(
                select(outcomes.c.request_id).where(outcomes.c.request_id.in_(list(recorded)))
            )
        )
        fresh = [
            {"request_id": k, "envelope": e.model_dump_json()}
            for k, e in recorded.items()
            if k not in known
        ]
        if fresh:
            conn.execute(insert(outcomes), fresh)
        for s in sent:
            exists = conn.scalar(
                select(func.count())
                .select_from(sent_messages)
                .where(
                    sent_messages.c.channel_id == s.channel_id,
                    sent_messages.c.channel_message_id == s.channel_message_id,
                )
            )
            if not exists:
                conn.execute(
                    insert(sent_messages).values(
                        channel_id=s.channel_id,
                        channel_message_id=s.channel_message_id,
                        tenant_id=s.tenant_id,
                        conversation_id=s.conversation_id,
                        message_id=s.message_id,
                    )
                )


def sent_by_channel_ids(
    engine: Engine, channel_id: uuid.UUID, channel_message_ids: list[str]
) -> dict[str, SentMessage]:
    if not channel_message_ids:
        return {}
    s = sent_messages.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(sent_messages).where(
                s.channel_id == str(channel_id), s.channel_message_id.in_(channel_message_ids)
            )
        ).all()
    return {
        r.channel_message_id: SentMessage(
            r.channel_id, r.channel_message_id, r.tenant_id, r.conversation_id, r.message_id
        )
        for r in rows
    }


def tenant_attachment_max(engine: Engine, tenant_id: uuid.UUID | str) -> int | None:
    """The tenant's own file size limit, if it set one (``shared.attachments.Limits.of``)."""
    with engine.connect() as conn:
        return conn.scalar(
            select(tenant_limits.c.attachment_max_bytes).where(
                tenant_limits.c.tenant_id == str(tenant_id)
            )
        )
