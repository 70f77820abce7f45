"""Files in the website chat (docs/attachments.md, docs/webchat-sdk.md).

- ``POST /v1/webchat/{key}/files?visitor_id=&client_id=&file_name=[&text=]``: the body is
  the file. Checked like every file (``shared.attachments``: type from the bytes, size,
  images that decode, clamd when set), kept in the blob store, published as the visitor's
  message with the attachment: 202 once Kafka has it. ``client_id`` makes a retry the same
  message and the same file. A browser's ``Origin`` must be one of the channel's.
- Files in replies are kept beside the visitor's mailbox (``webchat_mailbox_files``) and
  pushed in the ``message`` frame as ``attachments`` with links signed for that visitor
  only (scope ``{channel}:{visitor}``): ``GET /v1/webchat/{key}/files/{id}?visitor_id=&...``
  serves a file only if it is in that visitor's own mailbox.
- ``GET /v1/webchat/{key}/files/{id}/links?visitor_id=``: fresh links to such a file, for
  the widget's transcript read back after its links expired (the visitor id is what
  proves the visitor, as on the socket).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from services.ingest.api.webchat import own_origin, public_host
from services.ingest.application import webchat as application
from services.ingest.domain.webchat import ClientId
from services.ingest.store import webchat_files as file_store
from services.ingest.store.channels import tenant_attachment_max
from shared import attachment_links as links
from shared.attachments import BINARY_UPLOAD, UPLOAD_REFUSALS, AttachmentRefused, Limits, keep
from shared.blobs import BlobNotFound
from shared.http import ApiError, client_address, rate_limited

router = APIRouter(prefix="/v1/webchat", tags=["website chat"])
UPLOAD_PATH = re.compile(r"/v1/webchat/[^/]+/files")
ATTACHMENT_NAMESPACE = uuid.UUID("b5a0c7f2-61d4-4e8b-9a3c-2f7e9d1b0c55")


class FileLinks(BaseModel):
    url: str
    thumbnail_url: str | None = None


class FileAccepted(BaseModel):
    message_id: str
    accepted_at: datetime
    attachment_id: uuid.UUID
    kind: str
    file_name: str
    content_type: str
    size: int


@router.post(
    "/{public_key}/files",
    status_code=202,
    response_model=FileAccepted,
    summary="A visitor sends a file",
    openapi_extra=BINARY_UPLOAD,
    responses={
        413: {"description": "Larger than the chat allows"},
        **UPLOAD_REFUSALS,
        429: {"description": "Too many messages from this visitor, address or site"},
    },
)
async def upload(
    public_key: str,
    request: Request,
    visitor_id: ClientId = Query(),
    client_id: ClientId = Query(),
    file_name: str = Query(min_length=1, max_length=255),
    text: str = Query("", max_length=4000),
) -> FileAccepted:
    chat = request.app.state.webchat
    config: file_store.WidgetFiles = request.app.state.widget_files
    here = own_origin(request.url.scheme, public_host(request.headers))
    channel = await application.channel_for_page(
        chat.channels, public_key, request.headers.get("origin"), here
    )
    verdict = await chat.limits.message(public_key, visitor_id, client_address(request))
    if not verdict.allowed:
        raise rate_limited(verdict.retry_after, "Too many messages; send again later.")
    try:
        attachment = await keep(
            config.blobs,
            uuid.UUID(channel.tenant_id),
            await request.body(),
            file_name=file_name,
            claimed_type=request.headers.get("content-type"),
            limits=Limits.of(
                "webchat",
                config.max_bytes,
                await asyncio.to_thread(tenant_attachment_max, chat.engine, channel.tenant_id),
            ),
            attachment_id=uuid.uuid5(
                ATTACHMENT_NAMESPACE, f"{channel.channel_id}:{visitor_id}:{client_id}"
            ),
            scan=config.scanner,
        )
    except AttachmentRefused as refused:
        raise ApiError(refused.status, refused.code, refused.message) from None
    try:
        accepted_at = await application.receive_visitor_message(
            chat.broker,
            channel,
            visitor_id=visitor_id,
            client_id=client_id,
            text=text,
            attachments=[attachment],
        )
    except application.BrokerUnavailable:
        raise ApiError(
            503, "broker_unavailable", "The file could not be stored; please retry."
        ) from None
    return FileAccepted(
        message_id=client_id,
        accepted_at=accepted_at,
        attachment_id=attachment.attachment_id,
        kind=attachment.kind,
        file_name=attachment.file_name,
        content_type=attachment.content_type,
        size=attachment.size,
    )


@router.get(
    "/{public_key}/files/{attachment_id}",
    summary="A file of the visitor's own conversation, through a signed link",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        403: {"description": "Link altered or expired"},
    },
)
async def download(
    public_key: str,
    attachment_id: uuid.UUID,
    request: Request,
    visitor_id: ClientId = Query(),
    tenant: uuid.UUID = Query(),
    expires: int = Query(ge=0, le=2**40),
    signature: str = Query(min_length=64, max_length=64),
    part: str = Query("original", pattern="^(original|thumbnail)$"),
) -> StreamingResponse:
    chat = request.app.state.webchat
    config: file_store.WidgetFiles = request.app.state.widget_files
    channel = await chat.channels.lookup(public_key) if len(public_key) <= 64 else None
    scope = f"{channel.channel_id}:{visitor_id}" if channel else ""
    if (
        channel is None
        or str(tenant) != channel.tenant_id
        or not links.valid(
            config.link_key, str(tenant), str(attachment_id), part, scope, expires, signature
        )
    ):
        raise ApiError(403, "link_invalid", "This link is not valid or has expired.")
    found = await asyncio.to_thread(
        file_store.in_mailbox, chat.engine, channel, visitor_id, str(attachment_id)
    )
    key = (
        None
        if found is None
        else found.get("thumbnail_key")
        if part == "thumbnail"
        else found["key"]
    )
    if found is None or not key:
        raise ApiError(404, "not_found", "No such file.")
    chunks = config.blobs.stream(key)
    try:
        first = await anext(chunks)
    except (BlobNotFound, StopAsyncIteration):
        raise ApiError(404, "not_found", "No such file (it may have been erased).") from None

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    content_type = "image/jpeg" if part == "thumbnail" else found["content_type"]
    inline = found["kind"] in links.INLINE_KINDS or part == "thumbnail"
    headers = links.file_headers(found["file_name"], content_type, inline, cross_origin=True)
    return StreamingResponse(body(), headers=headers)


@router.get(
    "/{public_key}/files/{attachment_id}/links",
    response_model=FileLinks,
    summary="Fresh links to a file of the visitor's own conversation",
    responses={404: {"description": "Not a file of this visitor's conversation (or erased)"}},
)
async def fresh_links(
    public_key: str,
    attachment_id: uuid.UUID,
    request: Request,
    visitor_id: ClientId = Query(),
) -> FileLinks:
    """The links of a reply's file expire after minutes; the widget asks for new ones
    when it shows its transcript again later."""
    chat = request.app.state.webchat
    config: file_store.WidgetFiles = request.app.state.widget_files
    here = own_origin(request.url.scheme, public_host(request.headers))
    channel = await application.channel_for_page(
        chat.channels, public_key, request.headers.get("origin"), here
    )
    found = await asyncio.to_thread(
        file_store.in_mailbox, chat.engine, channel, visitor_id, str(attachment_id)
    )
    if found is None:
        raise ApiError(404, "not_found", "No such file.")
    (fresh,) = file_store.frame_attachments(config, public_key, channel, visitor_id, [found])
    return FileLinks(url=fresh["url"], thumbnail_url=fresh["thumbnail_url"])
