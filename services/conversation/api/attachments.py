"""Files in the Portal (docs/attachments.md): an agent uploads a file for a reply, and every
file of a conversation is served through a short-lived signed link.

- ``POST /v1/conversations/{id}/attachments?file_name=...``: the body is the file itself
  (any ``Content-Type``; the type is read from the bytes). 201 with the attachment, whose
  ``attachment_id`` a reply then names (``attachment_ids``). Refusals: 413 ``too_large``,
  415 ``type_not_allowed``/``disguised_executable``, 422 ``broken_image``/``empty_file``/
  ``malware_found``.
- ``GET /v1/attachments/{id}?tenant=&part=&expires=&signature=``: the file, for a link that
  the conversation view handed out (``shared.attachment_links``); no session needed, so it
  works in ``<img src>``; expired or altered: 403; served with ``Content-Disposition``,
  ``nosniff`` and a sandboxing CSP.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from services.conversation.api.deps import Caller, allowed, run, service
from services.conversation.api.schemas import AttachmentOut, RefusedAttachmentOut
from services.conversation.bootstrap import ConversationService
from shared import attachment_links as links
from shared.attachments import BINARY_UPLOAD, UPLOAD_REFUSALS, AttachmentRefused, Limits, keep
from shared.blobs import BlobNotFound, attachment_key
from shared.events import Attachment
from shared.http import ApiError

router = APIRouter(prefix="/v1", tags=["attachments"])
handler = allowed("conversations")
#: Uploads carry any byte and have the attachment limit (``shared.http.GuardBody``).
UPLOAD_PATH = re.compile(r"/v1/conversations/[^/]+/attachments")


def link_key(svc: ConversationService) -> bytes:
    return links.link_key(svc.settings.channel_secrets_key.get_secret_value())


def _limits(svc: ConversationService, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> Limits:
    """The conversation's channel and the tenant's own limit, within the operator's."""
    channel_type = svc.queries.channel_type(tenant_id, conversation_id)
    tenant_max = svc.queries.attachment_max_bytes(tenant_id)
    return Limits.of(channel_type, svc.settings.attachment_max_bytes, tenant_max)


@router.post(
    "/conversations/{conversation_id}/attachments",
    status_code=201,
    response_model=AttachmentOut,
    summary="Upload a file for a reply",
    openapi_extra=BINARY_UPLOAD,
    responses={
        413: {"description": "Larger than the channel or the operator allows"},
        **UPLOAD_REFUSALS,
    },
)
async def upload(
    conversation_id: uuid.UUID,
    request: Request,
    file_name: str = Query(min_length=1, max_length=255),
    who: Caller = Depends(handler),
    svc: ConversationService = Depends(service),
) -> AttachmentOut:
    """Stored under the tenant's prefix; not sent until a reply names its ``attachment_id``."""
    limits = await run(_limits, svc, who.tenant_id, conversation_id)
    data = await request.body()
    try:
        attachment = await keep(
            svc.blobs,
            who.tenant_id,
            data,
            file_name=file_name,
            claimed_type=request.headers.get("content-type"),
            limits=limits,
            scan=svc.scanner,
        )
    except AttachmentRefused as refused:
        raise ApiError(refused.status, refused.code, refused.message) from None
    upload_record = {
        "conversation_id": str(conversation_id),
        "uploaded_by": str(who.user_id),
        "attachment": attachment.model_dump(mode="json"),
    }
    await svc.blobs.put(
        attachment_key(who.tenant_id, attachment.attachment_id, "upload.json"),
        orjson.dumps(upload_record),
        "application/json",
    )
    return attachment_out(svc, who.tenant_id, attachment.model_dump(mode="json"))


async def uploaded_for_reply(
    svc: ConversationService, who: Caller, conversation_id: uuid.UUID, ids: list[uuid.UUID]
) -> list[dict[str, Any]]:
    """The uploads a reply names, each uploaded for this conversation in this tenant."""
    found = []
    for attachment_id in dict.fromkeys(ids):
        try:
            record = orjson.loads(
                await svc.blobs.get(attachment_key(who.tenant_id, attachment_id, "upload.json"))
            )
        except BlobNotFound:
            record = None
        if record is None or record["conversation_id"] != str(conversation_id):
            raise ApiError(
                422,
                "unknown_attachment",
                "No such upload for this conversation.",
                {"attachment_id": str(attachment_id)},
            )
        found.append(Attachment.model_validate(record["attachment"]).model_dump(mode="json"))
    return found


def attachment_out(
    svc: ConversationService, tenant_id: uuid.UUID | str, a: dict[str, Any]
) -> AttachmentOut:
    """An attachment with fresh signed links (``ATTACHMENT_LINK_SECONDS``)."""
    key, ttl = link_key(svc), svc.settings.attachment_link_seconds
    attachment_id = str(a["attachment_id"])
    url = f"/v1/attachments/{attachment_id}?{links.signed_query(key, tenant_id, attachment_id, 'original', ttl_s=ttl)}"
    thumbnail = None
    if a.get("thumbnail_key"):
        thumbnail = f"/v1/attachments/{attachment_id}?{links.signed_query(key, tenant_id, attachment_id, 'thumbnail', ttl_s=ttl)}"
    return AttachmentOut(
        attachment_id=uuid.UUID(attachment_id),
        kind=a["kind"],
        file_name=a["file_name"],
        content_type=a["content_type"],
        size=a["size"],
        sha256=a["sha256"],
        width=a.get("width"),
        height=a.get("height"),
        url=url,
        thumbnail_url=thumbnail,
    )


def of_messages(
    svc: ConversationService, tenant_id: uuid.UUID, rows: list[Any]
) -> dict[str, tuple[list[AttachmentOut], list[RefusedAttachmentOut]]]:
    """message id -> its files (with links) and its refused files (rows of a conversation's
    attachments, ``Queries.conversation``)."""
    out: dict[str, tuple[list[AttachmentOut], list[RefusedAttachmentOut]]] = {}
    for r in rows:
        kept, refused = out.setdefault(r.message_id, ([], []))
        if r.refused_code:
            refused.append(
                RefusedAttachmentOut(
                    kind=r.kind,
                    file_name=r.file_name,
                    code=r.refused_code,
                    reason=r.refused_reason or "",
                )
            )
        else:
            kept.append(
                attachment_out(
                    svc,
                    tenant_id,
                    {**r._asdict(), "thumbnail_key": r.thumbnail_key},
                )
            )
    return out


@router.get(
    "/attachments/{attachment_id}",
    summary="A file, through a signed link",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The file"},
        403: {"description": "The link is altered or expired"},
        404: {"description": "No such file (or it was erased)"},
    },
)
async def download(
    attachment_id: uuid.UUID,
    tenant: uuid.UUID,
    expires: int = Query(ge=0, le=2**40),
    signature: str = Query(min_length=64, max_length=64),
    part: str = Query("original", pattern="^(original|thumbnail)$"),
    svc: ConversationService = Depends(service),
) -> StreamingResponse:
    if not links.valid(
        link_key(svc), str(tenant), str(attachment_id), part, "", expires, signature
    ):
        raise ApiError(
            403, "link_invalid", "This link is not valid or has expired; reload the conversation."
        )
    row = await run(svc.queries.attachment, tenant, attachment_id)
    if row is None:
        # Uploaded for a reply that was not sent yet: its upload record names it.
        try:
            record = orjson.loads(
                await svc.blobs.get(attachment_key(tenant, attachment_id, "upload.json"))
            )
        except BlobNotFound:
            raise ApiError(404, "not_found", "No such file.") from None
        a = record["attachment"]
        blob_key, thumbnail_key, file_name, content_type, kind = (
            a["key"],
            a.get("thumbnail_key"),
            a["file_name"],
            a["content_type"],
            a["kind"],
        )
    else:
        blob_key, thumbnail_key, file_name, content_type, kind = row
    key = thumbnail_key if part == "thumbnail" else blob_key
    if not key:
        raise ApiError(404, "not_found", "No such file.")
    if part == "thumbnail":
        content_type, file_name = "image/jpeg", f"thumbnail-{file_name}.jpg"
    chunks = svc.blobs.stream(key)
    try:
        first = await anext(chunks)
    except (BlobNotFound, StopAsyncIteration):
        raise ApiError(404, "not_found", "No such file (it may have been erased).") from None

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    inline = kind in links.INLINE_KINDS or part == "thumbnail"
    return StreamingResponse(body(), headers=links.file_headers(file_name, content_type, inline))
