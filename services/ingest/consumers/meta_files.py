"""Delivering an agent's files through Meta's Graph API (docs/attachments.md).

- Messenger: the text (if any) as a text message, then each file as its own message,
  uploaded with it: ``POST /{page-id}/messages`` multipart with ``recipient``,
  ``messaging_type``, ``message`` = ``{"attachment": {"type", "payload": {"is_reusable":
  false}}}`` and the file as ``filedata``.
- WhatsApp: each file is uploaded first, ``POST /{phone-number-id}/media`` multipart
  (``messaging_product=whatsapp``, ``type``, ``file``) -> ``{"id"}``, then sent by id,
  ``POST /{phone-number-id}/messages`` with ``type`` image/audio/video/document; the text
  rides as the first file's caption (audio has none: it goes first as text).
- Page comments: one photo per reply, ``POST /{comment-id}/comments`` multipart with
  ``message`` and the photo as ``source``; other files cannot go in a comment.

The outcome is that of the whole message: sent with the channel id of its last part, or
failed with Meta's error for the first part that failed (as for text).
"""

from __future__ import annotations

import httpx
import orjson

from services.ingest.consumers.meta_graph import (
    GraphCall,
    Outcome,
    RetryPolicy,
    Undeliverable,
    deliver,
)
from services.ingest.store.channels import MetaChannel
from shared.blobs import BlobNotFound, BlobStore
from shared.events import Attachment, OutboundMessageRequested

MESSENGER_TYPES = {"image": "image", "audio": "audio", "video": "video", "file": "file"}
#: What WhatsApp takes as which message type; anything else goes as a document.
WHATSAPP_IMAGE = {"image/jpeg", "image/png"}
WHATSAPP_AUDIO = {"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}
WHATSAPP_VIDEO = {"video/mp4", "video/3gpp"}


def whatsapp_type(a: Attachment) -> str:
    if a.content_type in WHATSAPP_IMAGE:
        return "image"
    if a.content_type in WHATSAPP_AUDIO:
        return "audio"
    if a.content_type in WHATSAPP_VIDEO:
        return "video"
    return "document"


async def deliver_files(
    client: httpx.AsyncClient,
    request: OutboundMessageRequested,
    channel: MetaChannel,
    blobs: BlobStore,
    retry: RetryPolicy,
) -> Outcome:
    files = request.content.attachments
    try:
        data = [await blobs.get(a.key) for a in files]
    except BlobNotFound:
        return Outcome(sent=False, error="A file of the message is no longer stored.")
    text = request.content.text.strip()
    if channel.channel_type == "messenger":
        calls = [_messenger_text(channel, request, text)] if text else []
        calls += [_messenger_file(channel, request, a, d) for a, d in zip(files, data, strict=True)]
        return await _in_order(client, calls, channel, retry)
    if channel.channel_type == "page_comments":
        if not request.reply_to:
            raise Undeliverable("a comment reply needs the comment it answers (reply_to)")
        if len(files) != 1 or files[0].kind != "image":
            raise Undeliverable("a comment reply can carry one photo, nothing else")
        a, d = files[0], data[0]
        call = GraphCall(
            f"/{request.reply_to}/comments",
            {},
            form={"message": text} if text else {},
            files={"source": (a.file_name, d, a.content_type)},
        )
        return await deliver(client, call, channel, retry)
    if channel.channel_type == "whatsapp":
        return await _whatsapp(client, request, channel, retry, text, files, data)
    raise Undeliverable(f"not a Meta channel: {channel.channel_type}")


async def _in_order(
    client: httpx.AsyncClient, calls: list[GraphCall], channel: MetaChannel, retry: RetryPolicy
) -> Outcome:
    outcome = Outcome(sent=False, error="nothing to send")
    for call in calls:
        outcome = await deliver(client, call, channel, retry)
        if not outcome.sent:
            return outcome
    return outcome


def _messenger_text(
    channel: MetaChannel, request: OutboundMessageRequested, text: str
) -> GraphCall:
    return GraphCall(
        f"/{channel.external_id}/messages",
        {
            "recipient": {"id": request.visitor_external_id},
            "messaging_type": "RESPONSE",
            "message": {"text": text},
        },
    )


def _messenger_file(
    channel: MetaChannel, request: OutboundMessageRequested, a: Attachment, data: bytes
) -> GraphCall:
    message = {"attachment": {"type": MESSENGER_TYPES[a.kind], "payload": {"is_reusable": False}}}
    return GraphCall(
        f"/{channel.external_id}/messages",
        {},
        form={
            "recipient": orjson.dumps({"id": request.visitor_external_id}).decode(),
            "messaging_type": "RESPONSE",
            "message": orjson.dumps(message).decode(),
        },
        files={"filedata": (a.file_name, data, a.content_type)},
    )


async def _whatsapp(
    client: httpx.AsyncClient,
    request: OutboundMessageRequested,
    channel: MetaChannel,
    retry: RetryPolicy,
    text: str,
    files: list[Attachment],
    data: list[bytes],
) -> Outcome:
    phone = channel.external_id
    outcome = Outcome(sent=False, error="nothing to send")
    caption_left = text
    if text and whatsapp_type(files[0]) == "audio":  # no caption on audio: the text first
        outcome = await deliver(
            client,
            GraphCall(f"/{phone}/messages", _wa_message(request, "text", {"body": text})),
            channel,
            retry,
        )
        if not outcome.sent:
            return outcome
        caption_left = ""
    for a, d in zip(files, data, strict=True):
        uploaded = await deliver(
            client,
            GraphCall(
                f"/{phone}/media",
                {},
                form={"messaging_product": "whatsapp", "type": a.content_type},
                files={"file": (a.file_name, d, a.content_type)},
            ),
            channel,
            retry,
        )
        media_id = uploaded.answer.get("id") if isinstance(uploaded.answer, dict) else None
        if not uploaded.sent:
            return uploaded
        if not isinstance(media_id, str) or not media_id:
            return Outcome(sent=False, error="The Graph API gave no id for the uploaded file.")
        kind = whatsapp_type(a)
        media: dict[str, str] = {"id": media_id}
        if caption_left and kind != "audio":
            media["caption"], caption_left = caption_left, ""
        if kind == "document":
            media["filename"] = a.file_name
        outcome = await deliver(
            client,
            GraphCall(f"/{phone}/messages", _wa_message(request, kind, media)),
            channel,
            retry,
        )
        if not outcome.sent:
            return outcome
    return outcome


def _wa_message(
    request: OutboundMessageRequested, kind: str, body: dict[str, str]
) -> dict[str, object]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": request.visitor_external_id,
        "type": kind,
        kind: body,
    }
