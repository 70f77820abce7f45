"""Files of replies beside the visitors' mailboxes (ingest's own state, like the mailbox)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    String,
    Table,
    delete,
    insert,
    select,
)

from services.ingest.store import webchat as store
from shared import attachment_links as links
from shared import events as ev
from shared.blobs import BlobStore

#: The files of replies in visitors' mailboxes (ingest's own state, like the mailbox).
webchat_mailbox_files = Table(
    "webchat_mailbox_files",
    store.metadata,
    Column("message_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("channel_id", String(36), nullable=False),
    Column("visitor_id", String(512), nullable=False),
    #: ``shared.events.Attachment`` as JSON, in the reply's order.
    Column("attachments", JSON, nullable=False),
    Column("count", Integer, nullable=False),
    Index("ix_webchat_mailbox_files_visitor", "tenant_id", "channel_id", "visitor_id"),
)


def forget_conversations(conn: Connection, tenant_id: uuid.UUID, ids: list[uuid.UUID]) -> int:
    """A visitor's erasure: the file lists of their conversations' mailbox messages go (run
    before the mailbox rows, which name the conversation). The files themselves are the
    conversation service's blobs, deleted by its erasure."""
    if not ids:
        return 0
    m, f = store.webchat_mailbox, webchat_mailbox_files
    messages = select(m.c.message_id).where(
        m.c.tenant_id == str(tenant_id), m.c.conversation_id.in_([str(i) for i in ids])
    )
    return conn.execute(
        delete(f).where(f.c.tenant_id == str(tenant_id), f.c.message_id.in_(messages))
    ).rowcount


def keep_reply_files(
    conn: Connection, tenant_id: uuid.UUID, message: ev.OutboundMessageRequested
) -> None:
    """Beside the mailbox row of a reply with files (a redelivery changes nothing)."""
    if not message.content.attachments:
        return
    known = conn.scalar(
        select(webchat_mailbox_files.c.message_id).where(
            webchat_mailbox_files.c.message_id == str(message.message_id)
        )
    )
    if known is None:
        conn.execute(
            insert(webchat_mailbox_files).values(
                message_id=str(message.message_id),
                tenant_id=str(tenant_id),
                channel_id=str(message.channel_id),
                visitor_id=message.visitor_external_id,
                attachments=[a.model_dump(mode="json") for a in message.content.attachments],
                count=len(message.content.attachments),
            )
        )


def files_of(
    engine: Engine, tenant_id: str, message_ids: Iterable[str]
) -> dict[str, list[dict[str, Any]]]:
    ids = list(message_ids)
    if not ids:
        return {}
    f = webchat_mailbox_files
    with engine.connect() as conn:
        rows = conn.execute(
            select(f.c.message_id, f.c.attachments).where(
                f.c.tenant_id == tenant_id, f.c.message_id.in_(ids)
            )
        ).all()
    return {r.message_id: list(r.attachments) for r in rows}


def in_mailbox(
    engine: Engine, channel: store.WebchatChannel, visitor_id: str, attachment_id: str
) -> dict[str, Any] | None:
    f = webchat_mailbox_files
    with engine.connect() as conn:
        rows = conn.execute(
            select(f.c.attachments).where(
                f.c.tenant_id == channel.tenant_id,
                f.c.channel_id == channel.channel_id,
                f.c.visitor_id == visitor_id,
            )
        ).all()
    for row in rows:
        for a in row.attachments:
            if a["attachment_id"] == attachment_id:
                return dict(a)
    return None


@dataclass(frozen=True)
class WidgetFiles:
    """What the endpoints need: on ``app.state.widget_files``."""

    blobs: BlobStore
    max_bytes: int
    scanner: Any
    link_key: bytes
    link_ttl_s: int = links.DEFAULT_TTL_S


def frame_attachments(
    config: WidgetFiles,
    public_key: str,
    channel: store.WebchatChannel,
    visitor_id: str,
    files: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """The files of one pushed message, with links signed for this visitor only."""
    scope = f"{channel.channel_id}:{visitor_id}"

    def link(attachment_id: str, part: str) -> str:
        query = links.signed_query(
            config.link_key, channel.tenant_id, attachment_id, part, scope, config.link_ttl_s
        )
        return f"/v1/webchat/{public_key}/files/{attachment_id}?visitor_id={visitor_id}&{query}"

    return [
        {
            "attachment_id": a["attachment_id"],
            "kind": a["kind"],
            "file_name": a["file_name"],
            "content_type": a["content_type"],
            "size": a["size"],
            "url": link(a["attachment_id"], "original"),
            "thumbnail_url": link(a["attachment_id"], "thumbnail")
            if a.get("thumbnail_key")
            else None,
        }
        for a in files
    ]
