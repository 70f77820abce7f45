"""Meta's webhook payloads -> what a visitor wrote and what became of our messages. Pure.

One POST can carry many entries, each with many events; every one is read. Formats
(Graph API v21):

- Messenger: ``object: page``, ``entry[].messaging[]`` with ``sender.id`` (the visitor's
  page-scoped id), ``message`` (``mid``, ``text``, ``attachments[].payload.url``,
  ``quick_reply``; ``is_echo: true`` is our own page talking and is skipped), ``postback``
  (``mid``, ``title``, ``payload``) and ``delivery.mids`` (our messages delivered).
- Page comments: ``object: page``, ``entry[].changes[]`` with ``field: feed`` and
  ``value.item: comment``, ``verb: add``; ``value.comment_id``, ``value.from``,
  ``value.message``, ``value.photo``/``video``. The page's own comments are skipped.
- WhatsApp: ``object: whatsapp_business_account``, ``entry[].changes[].value`` with
  ``metadata.phone_number_id``, ``contacts[]`` (``wa_id``, ``profile.name``),
  ``messages[]`` (``id`` = wamid, ``from``, ``type`` and a field of that name) and
  ``statuses[]`` (``id`` = the wamid of OUR message, ``status``, ``errors[]``).

Unknown fields are ignored; a message of a type we do not read is kept as
``MessageContent(kind="unsupported")``, never dropped. Events that are not messages
(reads, reactions on Messenger, edits and removals of comments) are not visitor messages
and are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.events import DeliveryStatus, MessageContent


class MalformedWebhook(ValueError):
    """Not a Meta webhook body at all (the caller answers 400)."""


@dataclass(frozen=True, slots=True)
class ChannelRef:
    """Which connected channel an event is for: type and page or phone-number id."""

    channel_type: str
    external_id: str


@dataclass(frozen=True, slots=True)
class MediaRef:
    """A file the visitor sent, still at Meta: a URL (Messenger, comments) or a WhatsApp
    media id (``GET /{media-id}`` gives the URL). ``kind`` is Meta's word for it."""

    kind: str
    url: str | None = None
    media_id: str | None = None
    file_name: str | None = None
    claimed_type: str | None = None


@dataclass(frozen=True, slots=True)
class VisitorMessage:
    channel: ChannelRef
    channel_message_id: str
    visitor_external_id: str
    visitor_name: str | None
    content: MessageContent
    sent_at: datetime | None
    media: tuple[MediaRef, ...] = ()


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """What became of one of our outbound messages (``channel_message_id`` is its mid/wamid)."""

    channel: ChannelRef
    channel_message_id: str
    status: DeliveryStatus
    error: str | None
    at: datetime | None


Event = VisitorMessage | StatusUpdate

WHATSAPP_STATUSES = {"sent", "delivered", "read", "failed"}
WHATSAPP_MEDIA = {"image", "video", "audio", "document", "sticker"}
#: Messenger attachment types that are files (``template``, ``fallback``, ``location`` are not).
MESSENGER_MEDIA = {"image", "video", "audio", "file"}


def channels_named(body: dict[str, Any]) -> set[ChannelRef]:
    """Every channel the body speaks for, events or not (its signature is checked with theirs)."""
    refs: set[ChannelRef] = set()
    obj = body.get("object")
    for entry in _entries(body):
        page = _s(entry.get("id"))
        if obj == "page" and page:
            # Both: a page connected only for comments still authenticates its Messenger posts.
            refs |= {ChannelRef("messenger", page), ChannelRef("page_comments", page)}
        elif obj == "whatsapp_business_account":
            for change in _list(entry.get("changes")):
                phone = _s(_dict(_dict(change.get("value")).get("metadata")).get("phone_number_id"))
                if phone:
                    refs.add(ChannelRef("whatsapp", phone))
    return refs


def parse_webhook(body: Any) -> list[Event]:
    """All events of one POST, in order. Raises :class:`MalformedWebhook` on a non-webhook."""
    if not isinstance(body, dict) or not isinstance(body.get("object"), str):
        raise MalformedWebhook("a webhook body is a JSON object with 'object' and 'entry'")
    if not isinstance(body.get("entry"), list):
        raise MalformedWebhook("'entry' must be a list")
    events: list[Event] = []
    for entry in _entries(body):
        if body["object"] == "page":
            page = _s(entry.get("id"))
            if not page:
                continue
            for event in _list(entry.get("messaging")):
                events += _messenger(page, event)
            for change in _list(entry.get("changes")):
                events += _feed(page, change)
        elif body["object"] == "whatsapp_business_account":
            for change in _list(entry.get("changes")):
                events += _whatsapp(change)
    return events


# --- Messenger ---------------------------------------------------------------------------


def _messenger(page: str, event: dict[str, Any]) -> list[Event]:
    channel = ChannelRef("messenger", page)
    visitor = _s(_dict(event.get("sender")).get("id"))
    at = _from_millis(event.get("timestamp"))
    message, postback, delivery = (
        event.get("message"),
        event.get("postback"),
        event.get("delivery"),
    )
    if isinstance(message, dict):
        mid = _s(message.get("mid"))
        if message.get("is_echo") or not mid or not visitor or visitor == page:
            return []
        return [
            VisitorMessage(
                channel,
                mid,
                visitor,
                None,
                _messenger_content(message),
                at,
                _messenger_media(message),
            )
        ]
    if isinstance(postback, dict) and visitor and visitor != page:
        title, payload = _s(postback.get("title")), _s(postback.get("payload"))
        # Older postbacks have no mid: the sender and time name the click just as well.
        mid = _s(postback.get("mid")) or f"postback:{visitor}:{event.get('timestamp')}"
        content = MessageContent(kind="postback", text=title or payload or "")
        return [VisitorMessage(channel, mid, visitor, None, content, at)]
    if isinstance(delivery, dict):
        return [
            StatusUpdate(channel, mid, "delivered", None, at)
            for mid in _list_of_str(delivery.get("mids"))
        ]
    return []


def _messenger_content(message: dict[str, Any]) -> MessageContent:
    text = _s(message.get("text")) or ""
    attachments = _list(message.get("attachments"))
    if attachments:
        first = attachments[0]
        url = _s(_dict(first.get("payload")).get("url"))
        return MessageContent(
            kind="attachment", text=text or f"[{_s(first.get('type')) or 'file'}]", url=url
        )
    if text:
        return MessageContent(kind="text", text=text)
    return MessageContent(kind="unsupported", text="")


def _messenger_media(message: dict[str, Any]) -> tuple[MediaRef, ...]:
    refs = []
    for a in _list(message.get("attachments")):
        kind, url = _s(a.get("type")), _s(_dict(a.get("payload")).get("url"))
        if kind in MESSENGER_MEDIA and url:
            refs.append(MediaRef(kind=kind, url=url, file_name=_s(a.get("name"))))
    return tuple(refs)


# --- Page comments -----------------------------------------------------------------------


def _feed(page: str, change: dict[str, Any]) -> list[Event]:
    value = _dict(change.get("value"))
    if (
        change.get("field") != "feed"
        or value.get("item") != "comment"
        or value.get("verb") != "add"
    ):
        return []
    comment_id = _s(value.get("comment_id"))
    author = _dict(value.get("from"))
    visitor = _s(author.get("id"))
    if not comment_id or not visitor or visitor == page:  # the page's own replies come back too
        return []
    text = _s(value.get("message")) or ""
    media = _s(value.get("photo")) or _s(value.get("video"))
    content = (
        MessageContent(kind="attachment", text=text, url=media)
        if media
        else MessageContent(kind="text", text=text)
        if text
        else MessageContent(kind="unsupported")
    )
    at = _from_seconds(value.get("created_time"))
    photo, video = _s(value.get("photo")), _s(value.get("video"))
    media = (
        (MediaRef("image", url=photo),)
        if photo
        else (MediaRef("video", url=video),)
        if video
        else ()
    )
    return [
        VisitorMessage(
            ChannelRef("page_comments", page),
            comment_id,
            visitor,
            _s(author.get("name")),
            content,
            at,
            media,
        )
    ]


# --- WhatsApp ----------------------------------------------------------------------------


def _whatsapp(change: dict[str, Any]) -> list[Event]:
    value = _dict(change.get("value"))
    phone = _s(_dict(value.get("metadata")).get("phone_number_id"))
    if not phone:
        return []
    channel = ChannelRef("whatsapp", phone)
    names = {
        _s(c.get("wa_id")): _s(_dict(c.get("profile")).get("name"))
        for c in _list(value.get("contacts"))
    }
    events: list[Event] = []
    for m in _list(value.get("messages")):
        wamid, sender = _s(m.get("id")), _s(m.get("from"))
        if wamid and sender:
            at = _from_seconds(m.get("timestamp"))
            events.append(
                VisitorMessage(
                    channel, wamid, sender, names.get(sender), _wa_content(m), at, _wa_media(m)
                )
            )
    for s in _list(value.get("statuses")):
        wamid, status = _s(s.get("id")), s.get("status")
        if wamid and status in WHATSAPP_STATUSES:
            events.append(
                StatusUpdate(
                    channel, wamid, status, _wa_error(s), _from_seconds(s.get("timestamp"))
                )
            )
    return events


def _wa_content(m: dict[str, Any]) -> MessageContent:
    kind = _s(m.get("type")) or "unknown"
    body = _dict(m.get(kind))
    if kind == "text" and _s(body.get("body")):
        return MessageContent(kind="text", text=_s(body.get("body")) or "")
    if kind in WHATSAPP_MEDIA:
        # The media id needs a Graph call to become a URL; the caption is what we have.
        return MessageContent(kind="attachment", text=_s(body.get("caption")) or f"[{kind}]")
    if kind == "button":
        return MessageContent(kind="postback", text=_s(body.get("text")) or "")
    if kind == "interactive":
        reply = _dict(body.get("button_reply")) or _dict(body.get("list_reply"))
        return MessageContent(kind="postback", text=_s(reply.get("title")) or "")
    if kind == "location" and "latitude" in body:
        where = f"{body.get('latitude')},{body.get('longitude')}"
        return MessageContent(
            kind="text", text=" ".join(filter(None, [_s(body.get("name")), where]))
        )
    return MessageContent(kind="unsupported", text=f"[{kind}]")


def _wa_media(m: dict[str, Any]) -> tuple[MediaRef, ...]:
    kind = _s(m.get("type")) or ""
    body = _dict(m.get(kind))
    media_id = _s(body.get("id"))
    if kind not in WHATSAPP_MEDIA or not media_id:
        return ()
    return (
        MediaRef(
            kind=kind,
            media_id=media_id,
            file_name=_s(body.get("filename")),
            claimed_type=_s(body.get("mime_type")),
        ),
    )


def _wa_error(status: dict[str, Any]) -> str | None:
    errors = _list(status.get("errors"))
    if not errors:
        return None
    e = errors[0]
    text = _s(e.get("message")) or _s(e.get("title")) or "failed"
    details = _s(_dict(e.get("error_data")).get("details"))
    if details and details != text:
        text = f"{text}: {details}"
    code = _s(e.get("code"))
    return f"{text} (code {code})" if code else text


# --- tolerant readers: a wrong type where an object was expected reads as absent ---------


def _entries(body: dict[str, Any]) -> list[dict[str, Any]]:
    return _list(body.get("entry"))


def _list(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _list_of_str(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str) and v] if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _s(value: Any) -> str | None:
    """A non-empty string id or text; ids sometimes arrive as numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) and value else None


def _from_millis(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _from_seconds(value / 1000)
    return None


def _from_seconds(value: Any) -> datetime | None:
    """Unix seconds (WhatsApp sends them as a string); nonsense reads as absent."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None
