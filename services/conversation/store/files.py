"""The blob store's files of conversations, found through the ``attachments`` view.

One place for "delete the files of these conversations": the erasure deletes them once
the views have caught up (they know which files a conversation has), and the erasure
log's ``reapply`` deletes them again after a restore brought them back with a backup.
Every file of an attachment (original, thumbnail, upload record) is under the
attachment's own prefix, ``tenants/{tenant}/attachments/{id}/``.
"""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import Engine, select

from services.conversation.store.tables import attachments
from shared.blobs import BlobStore, tenant_prefix


def attachment_ids(
    engine: Engine, tenant_id: uuid.UUID, conversation_ids: list[uuid.UUID]
) -> list[str]:
    """The kept files of these conversations (refused ones have no id and no blob)."""
    a = attachments
    with engine.connect() as conn:
        return list(
            conn.scalars(
                select(a.c.attachment_id).where(
                    a.c.tenant_id == str(tenant_id),
                    a.c.conversation_id.in_([str(c) for c in conversation_ids]),
                    a.c.attachment_id.is_not(None),
                )
            ).all()
        )


async def forget_files(
    engine: Engine, blobs: BlobStore, tenant_id: uuid.UUID, conversation_ids: list[uuid.UUID]
) -> int:
    """Every file of these conversations leaves the blob store; how many attachments."""
    ids = await asyncio.to_thread(attachment_ids, engine, tenant_id, conversation_ids)
    for attachment_id in ids:
        await blobs.delete_prefix(f"{tenant_prefix(tenant_id)}attachments/{attachment_id}/")
    return len(ids)
