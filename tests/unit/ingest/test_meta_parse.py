"""Meta's webhook payloads (shapes from Meta's reference pages) read into visitor messages and statuses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.ingest.domain.meta import (
    ChannelRef,
    MalformedWebhook,
    MediaRef,
    StatusUpdate,
    VisitorMessage,
    channels_named,
    parse_webhook,
)
from services.ingest.domain.meta_signature import sign, signature_valid
from shared.events import MessageContent

PAGE = "102938475610"
PHONE = "106540352242922"
MESSENGER = ChannelRef("messenger", PAGE)
COMMENTS = ChannelRef("page_comments", PAGE)
WHATSAPP = ChannelRef("whatsapp", PHONE)


def page(*messaging: dict, changes: list[dict] | None = None) -> dict:
    entry: dict = {"id": PAGE, "time": 1458692752478, "messaging": list(messaging)}
    if changes is not None:
        entry = {"id": PAGE, "time": 1458692752478, "changes": changes}
    return {"object": "page", "entry": [entry]}


def from_visitor(**event: object) -> dict:
    return {
        "sender": {"id": "PSID-1"},
        "recipient": {"id": PAGE},
        "timestamp": 1_700_000_000_000,
        **event,
    }


def whatsapp(value: dict) -> dict:
    base = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE},
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA-1", "changes": [{"value": base | value, "field": "messages"}]}],
    }


AT = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)  # 1_700_000_000 s


def message(ref: ChannelRef, cmid: str, content: MessageContent, **kw: object) -> VisitorMessage:
    return VisitorMessage(
        ref,
        cmid,
        str(kw.get("visitor", "PSID-1")),
        kw.get("name"),  # type: ignore[arg-type]
        content,
        kw.get("at", AT),  # type: ignore[arg-type]
        tuple(kw.get("media", ())),  # type: ignore[arg-type]
    )


CASES = [
    (
        "messenger text",
        page(from_visitor(message={"mid": "m_1", "text": "Hallo"})),
        [message(MESSENGER, "m_1", MessageContent(kind="text", text="Hallo"))],
    ),
    (
        "messenger image attachment",
        page(
            from_visitor(
                message={
                    "mid": "m_2",
                    "attachments": [{"type": "image", "payload": {"url": "https://cdn/x.jpg"}}],
                }
            )
        ),
        [
            message(
                MESSENGER,
                "m_2",
                MessageContent(kind="attachment", text="[image]", url="https://cdn/x.jpg"),
                media=[MediaRef("image", url="https://cdn/x.jpg")],
            )
        ],
    ),
    (
        "messenger echo of our own message is skipped",
        page(from_visitor(message={"mid": "m_3", "text": "ours", "is_echo": True})),
        [],
    ),
    (
        "messenger postback keeps its title",
        page(from_visitor(postback={"mid": "m_4", "title": "Order status", "payload": "ORDER"})),
        [message(MESSENGER, "m_4", MessageContent(kind="postback", text="Order status"))],
    ),
    (
        "messenger message without text or attachment is unsupported, not dropped",
        page(from_visitor(message={"mid": "m_5", "sticker_id": 369239263222822})),
        [message(MESSENGER, "m_5", MessageContent(kind="unsupported"))],
    ),
    (
        "messenger delivery receipt: our mids delivered",
        page(from_visitor(delivery={"mids": ["m_ours_1", "m_ours_2"], "watermark": 1})),
        [
            StatusUpdate(MESSENGER, "m_ours_1", "delivered", None, AT),
            StatusUpdate(MESSENGER, "m_ours_2", "delivered", None, AT),
        ],
    ),
    (
        "messenger read and unknown events are not messages",
        page(from_visitor(read={"watermark": 1}), from_visitor(reaction={"mid": "m_x"})),
        [],
    ),
    (
        "page comment added",
        page(
            changes=[
                {
                    "field": "feed",
                    "value": {
                        "from": {"id": "USER-7", "name": "Jan Peeters"},
                        "post_id": f"{PAGE}_555",
                        "comment_id": "555_777",
                        "parent_id": f"{PAGE}_555",
                        "message": "Are you open on Sunday?",
                        "item": "comment",
                        "verb": "add",
                        "created_time": 1_700_000_000,
                    },
                }
            ]
        ),
        [
            message(
                COMMENTS,
                "555_777",
                MessageContent(kind="text", text="Are you open on Sunday?"),
                visitor="USER-7",
                name="Jan Peeters",
            )
        ],
    ),
    (
        "the page's own comment, edits and posts are not visitor messages",
        page(
            changes=[
                {
                    "field": "feed",
                    "value": {
                        "from": {"id": PAGE},
                        "comment_id": "1_2",
                        "item": "comment",
                        "verb": "add",
                    },
                },
                {
                    "field": "feed",
                    "value": {
                        "from": {"id": "U"},
                        "comment_id": "1_3",
                        "item": "comment",
                        "verb": "edited",
                    },
                },
                {"field": "feed", "value": {"from": {"id": "U"}, "item": "status", "verb": "add"}},
            ]
        ),
        [],
    ),
    (
        "whatsapp text with the contact's profile name",
        whatsapp(
            {
                "contacts": [{"profile": {"name": "Marie"}, "wa_id": "32470000000"}],
                "messages": [
                    {
                        "from": "32470000000",
                        "id": "wamid.A",
                        "timestamp": "1700000000",
                        "type": "text",
                        "text": {"body": "Bonjour"},
                    }
                ],
            }
        ),
        [
            message(
                WHATSAPP,
                "wamid.A",
                MessageContent(kind="text", text="Bonjour"),
                visitor="32470000000",
                name="Marie",
            )
        ],
    ),
    (
        "whatsapp image keeps its caption; an unknown type is unsupported",
        whatsapp(
            {
                "messages": [
                    {
                        "from": "3247",
                        "id": "wamid.B",
                        "timestamp": "1700000000",
                        "type": "image",
                        "image": {
                            "id": "MEDIA",
                            "caption": "my receipt",
                            "mime_type": "image/jpeg",
                        },
                    },
                    {"from": "3247", "id": "wamid.C", "timestamp": "1700000000", "type": "order"},
                ]
            }
        ),
        [
            message(
                WHATSAPP,
                "wamid.B",
                MessageContent(kind="attachment", text="my receipt"),
                visitor="3247",
                media=[MediaRef("image", media_id="MEDIA", claimed_type="image/jpeg")],
            ),
            message(
                WHATSAPP,
                "wamid.C",
                MessageContent(kind="unsupported", text="[order]"),
                visitor="3247",
            ),
        ],
    ),
    (
        "whatsapp statuses, a failed one with Meta's error",
        whatsapp(
            {
                "statuses": [
                    {"id": "wamid.OUT1", "status": "delivered", "timestamp": "1700000000"},
                    {
                        "id": "wamid.OUT2",
                        "status": "failed",
                        "timestamp": "1700000000",
                        "errors": [
                            {
                                "code": 131047,
                                "title": "Re-engagement message",
                                "message": "Re-engagement message",
                                "error_data": {"details": "More than 24 hours have passed"},
                            }
                        ],
                    },
                    {"id": "wamid.OUT3", "status": "deleted", "timestamp": "1700000000"},
                ]
            }
        ),
        [
            StatusUpdate(WHATSAPP, "wamid.OUT1", "delivered", None, AT),
            StatusUpdate(
                WHATSAPP,
                "wamid.OUT2",
                "failed",
                "Re-engagement message: More than 24 hours have passed (code 131047)",
                AT,
            ),
        ],
    ),
    (
        "unknown top-level object and junk inside entries are ignored",
        {"object": "instagram", "entry": [{"id": "1", "messaging": [{"message": {"mid": "x"}}]}]},
        [],
    ),
]


@pytest.mark.parametrize(("body", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_parse_webhook(body, expected):
    assert parse_webhook(body) == expected


def test_every_entry_and_event_of_one_post_is_read():
    body = page(
        from_visitor(message={"mid": "m_a", "text": "one"}),
        from_visitor(message={"mid": "m_b", "text": "two"}),
    )
    body["entry"].append(
        {"id": "OTHER-PAGE", "messaging": [from_visitor(message={"mid": "m_c", "text": "3"})]}
    )
    events = parse_webhook(body)
    assert [(e.channel.external_id, e.channel_message_id) for e in events] == [
        (PAGE, "m_a"),
        (PAGE, "m_b"),
        ("OTHER-PAGE", "m_c"),
    ]
    assert channels_named(body) == {
        MESSENGER,
        COMMENTS,
        ChannelRef("messenger", "OTHER-PAGE"),
        ChannelRef("page_comments", "OTHER-PAGE"),
    }


@pytest.mark.parametrize("body", [[], "x", {"entry": []}, {"object": "page", "entry": {}}, None])
def test_not_a_webhook(body):
    with pytest.raises(MalformedWebhook):
        parse_webhook(body)


SECRET = "app-secret"
RAW = b'{"object":"page","entry":[]}'


@pytest.mark.parametrize(
    ("header", "valid"),
    [
        (sign(RAW, SECRET), True),
        (sign(RAW, SECRET).upper().replace("SHA256=", "sha256="), True),  # hex case is free
        (None, False),
        ("", False),
        ("sha1=" + "0" * 40, False),  # the old SHA-1 header value
        (sign(RAW, "another-secret"), False),
        (sign(RAW + b" ", SECRET), False),  # signed another body
        ("sha256=zz", False),
    ],
)
def test_signature(header, valid):
    assert signature_valid(RAW, header, SECRET) is valid


def test_every_file_of_a_message_becomes_a_media_reference() -> None:
    """Messenger: image, video, audio, file (not templates or locations); WhatsApp: each media
    type with its id, claimed type and document name; comments: the photo."""
    messenger = page(
        from_visitor(
            message={
                "mid": "m_files",
                "text": "look",
                "attachments": [
                    {"type": "image", "payload": {"url": "https://cdn/a.jpg"}},
                    {"type": "video", "payload": {"url": "https://cdn/b.mp4"}},
                    {"type": "audio", "payload": {"url": "https://cdn/c.mp4"}},
                    {"type": "file", "payload": {"url": "https://cdn/d.pdf"}, "name": "d.pdf"},
                    {"type": "location", "payload": {"coordinates": {"lat": 1, "long": 2}}},
                    {"type": "template", "payload": {"template_type": "generic"}},
                ],
            }
        )
    )
    (m,) = parse_webhook(messenger)
    assert [(r.kind, r.url, r.file_name) for r in m.media] == [
        ("image", "https://cdn/a.jpg", None),
        ("video", "https://cdn/b.mp4", None),
        ("audio", "https://cdn/c.mp4", None),
        ("file", "https://cdn/d.pdf", "d.pdf"),
    ]
    wa = whatsapp(
        {
            "messages": [
                {
                    "from": "1",
                    "id": "w1",
                    "type": "audio",
                    "audio": {"id": "A1", "mime_type": "audio/ogg; codecs=opus", "voice": True},
                },
                {
                    "from": "1",
                    "id": "w2",
                    "type": "document",
                    "document": {"id": "D1", "filename": "bon.pdf", "mime_type": "application/pdf"},
                },
                {
                    "from": "1",
                    "id": "w3",
                    "type": "sticker",
                    "sticker": {"id": "S1", "mime_type": "image/webp"},
                },
                {"from": "1", "id": "w4", "type": "image", "image": {"caption": "no id"}},
                {"from": "1", "id": "w5", "type": "text", "text": {"body": "hi"}},
            ]
        }
    )
    assert [m.media for m in parse_webhook(wa)] == [
        (MediaRef("audio", media_id="A1", claimed_type="audio/ogg; codecs=opus"),),
        (MediaRef("document", media_id="D1", file_name="bon.pdf", claimed_type="application/pdf"),),
        (MediaRef("sticker", media_id="S1", claimed_type="image/webp"),),
        (),
        (),
    ]
