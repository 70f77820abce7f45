"""The website chat's tables: its channels (with allowed origins) and the visitors' mailboxes.

Kept apart from ``store/channels.py`` (its own ``MetaData``, same database) and
fed by its own consumer group, so the website chat knows the origins of each channel.
Both appliers are idempotent by themselves (upserts, a mailbox unique on ``message_id``),
so a redelivered batch changes nothing and needs no event ledger.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    func,
    insert,
    select,
    tuple_,
    update,
)

from shared import events as ev
from shared.purge import delete_tenant_rows
from shared.ratelimit import rate_limit_table
from shared.readmodel import UtcDateTime

#: In the ingest database, migrated with it (``services/ingest/migrations``).
metadata = MetaData(info={"migrations": "services.ingest.migrations"})
#: The widget's flood limits, shared by the replicas (shared.ratelimit).
rate_limits = rate_limit_table(metadata)

webchat_channels = Table(
    "webchat_channels",
    metadata,
    Column("channel_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("public_key", String(64), nullable=False, unique=True),
    Column("connected", Boolean, nullable=False),
    Column("allowed_origins", Text, nullable=False, default="[]"),
)

#: Messages to visitors, numbered per visitor (``seq`` 1, 2, 3 ...) so the widget resumes
#: with "the last seq I saw".
webchat_mailbox = Table(
    "webchat_mailbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", String(36), nullable=False),
    Column("channel_id", String(36), nullable=False),
    Column("visitor_id", String(512), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("message_id", String(36), nullable=False, unique=True),
    Column("conversation_id", String(36), nullable=False),
    Column("author", String(10), nullable=False),
    Column("kind", String(12), nullable=False),
    Column("text", Text, nullable=False),
    Column("url", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("read_at", UtcDateTime, nullable=True),
    UniqueConstraint("channel_id", "visitor_id", "seq", name="uq_webchat_mailbox_seq"),
)

VisitorKey = tuple[str, str]  # (channel_id, visitor_id)


@dataclass(frozen=True, slots=True)
class WebchatChannel:
    channel_id: str
    tenant_id: str
    public_key: str
    allowed_origins: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MailboxMessage:
    tenant_id: str
    channel_id: str
    visitor_id: str
    seq: int
    message_id: str
    conversation_id: str
    author: str
    kind: str
    text: str
    url: str | None
    created_at: datetime

    @property
    def key(self) -> VisitorKey:
        return (self.channel_id, self.visitor_id)


# --- appliers ----------------------------------------------------------------------------


def purge_tenant(conn: Connection, tenant_id: uuid.UUID) -> None:
    """Retention ended: the tenant's channels and mailboxes go."""
    delete_tenant_rows(conn, metadata, tenant_id)


def connect_channel(conn: Connection, tenant_id: uuid.UUID, payload: ev.ChannelConnected) -> None:
    """Keep a connected website chat with its allowed origins (other channels are not ours)."""
    if payload.channel_type != "webchat":
        return
    if len(payload.public_key) > 64:
        raise ev.UnreadableEvent("website chat public key longer than 64 characters")
    values = {
        "tenant_id": str(tenant_id),
        "public_key": payload.public_key,
        "connected": True,
        "allowed_origins": json.dumps(payload.allowed_origins),
    }
    changed = conn.execute(
        update(webchat_channels)
        .where(webchat_channels.c.channel_id == str(payload.channel_id))
        .values(**values)
    ).rowcount
    if not changed:
        conn.execute(insert(webchat_channels).values(channel_id=str(payload.channel_id), **values))


def set_origins(conn: Connection, tenant_id: uuid.UUID, payload: ev.ChannelOriginsSet) -> None:
    conn.execute(
        update(webchat_channels)
        .where(
            webchat_channels.c.channel_id == str(payload.channel_id),
            webchat_channels.c.tenant_id == str(tenant_id),
        )
        .values(allowed_origins=json.dumps(payload.allowed_origins))
    )


def disconnect_channel(
    conn: Connection, tenant_id: uuid.UUID, payload: ev.ChannelDisconnected
) -> None:
    conn.execute(
        update(webchat_channels)
        .where(
            webchat_channels.c.channel_id == str(payload.channel_id),
            webchat_channels.c.tenant_id == str(tenant_id),
        )
        .values(connected=False)
    )


def forget_conversations(conn: Connection, tenant_id: uuid.UUID, ids: list[uuid.UUID]) -> int:
    """A visitor's erasure: their conversations' mailbox rows go (texts, their webchat id)."""
    if not ids:
        return 0
    m = webchat_mailbox
    return conn.execute(
        delete(m).where(
            m.c.tenant_id == str(tenant_id), m.c.conversation_id.in_([str(i) for i in ids])
        )
    ).rowcount


def put_in_mailbox(
    conn: Connection, tenant_id: uuid.UUID, message: ev.OutboundMessageRequested
) -> MailboxMessage:
    """Store a message for the visitor with the next per-visitor ``seq``; a message already
    there (redelivery) is returned as it was stored."""
    if len(message.visitor_external_id) > 512:  # no column holds it: set it aside
        raise ev.UnreadableEvent("visitor_external_id longer than 512 characters")
    existing = conn.execute(
        select(webchat_mailbox).where(webchat_mailbox.c.message_id == str(message.message_id))
    ).first()
    if existing is not None:
        return _message(existing)
    channel_id, visitor_id = str(message.channel_id), message.visitor_external_id
    last = conn.scalar(
        select(func.max(webchat_mailbox.c.seq)).where(
            webchat_mailbox.c.channel_id == channel_id, webchat_mailbox.c.visitor_id == visitor_id
        )
    )
    row = {
        "tenant_id": str(tenant_id),
        "channel_id": channel_id,
        "visitor_id": visitor_id,
        "seq": (last or 0) + 1,
        "message_id": str(message.message_id),
        "conversation_id": str(message.conversation_id),
        "author": message.author,
        "kind": message.content.kind,
        "text": message.content.text,
        "url": message.content.url,
        "created_at": datetime.now(UTC),
    }
    conn.execute(insert(webchat_mailbox).values(**row))
    return MailboxMessage(**row)


# --- queries -------------------------------------------------------------------------------


def channel_by_key(conn: Connection, public_key: str) -> WebchatChannel | None:
    row = conn.execute(
        select(webchat_channels).where(
            webchat_channels.c.public_key == public_key, webchat_channels.c.connected.is_(True)
        )
    ).first()
    if row is None:
        return None
    return WebchatChannel(
        channel_id=row.channel_id,
        tenant_id=row.tenant_id,
        public_key=row.public_key,
        allowed_origins=tuple(json.loads(row.allowed_origins or "[]")),
    )


def mailbox_after(
    engine: Engine, channel: WebchatChannel, visitor_id: str, after_seq: int, limit: int = 100
) -> list[MailboxMessage]:
    """The visitor's messages after ``after_seq``, oldest first (scoped by tenant)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(webchat_mailbox)
            .where(
                webchat_mailbox.c.tenant_id == channel.tenant_id,
                webchat_mailbox.c.channel_id == channel.channel_id,
                webchat_mailbox.c.visitor_id == visitor_id,
                webchat_mailbox.c.seq > after_seq,
            )
            .order_by(webchat_mailbox.c.seq)
            .limit(limit)
        ).all()
    return [_message(r) for r in rows]


def last_seq(engine: Engine, channel: WebchatChannel, visitor_id: str) -> int:
    with engine.connect() as conn:
        value = conn.scalar(
            select(func.max(webchat_mailbox.c.seq)).where(
                webchat_mailbox.c.tenant_id == channel.tenant_id,
                webchat_mailbox.c.channel_id == channel.channel_id,
                webchat_mailbox.c.visitor_id == visitor_id,
            )
        )
    return value or 0


def latest_seqs(engine: Engine, keys: Iterable[VisitorKey]) -> dict[VisitorKey, int]:
    """The newest ``seq`` of each visitor with a mailbox (one query per 500 visitors)."""
    wanted = list(keys)
    found: dict[VisitorKey, int] = {}
    with engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows = conn.execute(
                select(
                    webchat_mailbox.c.channel_id,
                    webchat_mailbox.c.visitor_id,
                    func.max(webchat_mailbox.c.seq),
                )
                .where(
                    tuple_(webchat_mailbox.c.channel_id, webchat_mailbox.c.visitor_id).in_(chunk)
                )
                .group_by(webchat_mailbox.c.channel_id, webchat_mailbox.c.visitor_id)
            ).all()
            found.update({(r[0], r[1]): r[2] for r in rows})
    return found


def mark_read(
    engine: Engine, channel: WebchatChannel, visitor_id: str, up_to_seq: int
) -> list[MailboxMessage]:
    """Mark the visitor's messages up to ``up_to_seq`` read; return those not read before."""
    at = datetime.now(UTC)
    mine = (
        webchat_mailbox.c.tenant_id == channel.tenant_id,
        webchat_mailbox.c.channel_id == channel.channel_id,
        webchat_mailbox.c.visitor_id == visitor_id,
        webchat_mailbox.c.seq <= up_to_seq,
        webchat_mailbox.c.read_at.is_(None),
    )
    with engine.begin() as conn:
        rows = conn.execute(
            select(webchat_mailbox).where(*mine).order_by(webchat_mailbox.c.seq)
        ).all()
        if rows:
            conn.execute(update(webchat_mailbox).where(*mine).values(read_at=at))
    return [_message(r) for r in rows]


class ChannelDirectory:
    """Website chats by public key, cached for ``ttl`` seconds: no database round trip per
    frame, and a disconnection or a new origin list applies within ``ttl``."""

    def __init__(self, engine: Engine, ttl: float = 2.0) -> None:
        self.engine, self.ttl = engine, ttl
        self._cache: dict[str, tuple[float, WebchatChannel | None]] = {}

    async def lookup(self, public_key: str) -> WebchatChannel | None:
        """From the event loop: a fresh cache entry without a thread hop, else :meth:`get`
        in a thread (the hop cost more than the rest of a cached lookup)."""
        hit = self._cache.get(public_key)
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        return await asyncio.to_thread(self.get, public_key)

    def get(self, public_key: str) -> WebchatChannel | None:
        now = time.monotonic()
        hit = self._cache.get(public_key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        with self.engine.connect() as conn:
            channel = channel_by_key(conn, public_key)
        if len(self._cache) > 50_000:  # bounded under a spray of made-up keys
            self._cache.clear()
        self._cache[public_key] = (now, channel)
        return channel


def _message(row) -> MailboxMessage:  # type: ignore[no-untyped-def]
    return MailboxMessage(
        tenant_id=row.tenant_id,
        channel_id=row.channel_id,
        visitor_id=row.visitor_id,
        seq=row.seq,
        message_id=row.message_id,
        conversation_id=row.conversation_id,
        author=row.author,
        kind=row.kind,
        text=row.text,
        url=row.url,
        created_at=row.created_at,
    )
