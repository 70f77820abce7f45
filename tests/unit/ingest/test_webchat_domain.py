"""The website chat's pure rules: allowed origins and the frames a widget may send."""

from __future__ import annotations

import uuid

import pytest

from services.ingest.consumers.webchat import wanted
from services.ingest.domain.webchat import (
    CLOSE_BAD_FRAME,
    CLOSE_TOO_BIG,
    MAX_FRAME_CHARS,
    BadFrame,
    Hello,
    Ping,
    Seen,
    Send,
    normalise_origin,
    origin_allowed,
    parse_frame,
)
from shared.events import Envelope


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://shop.example", "https://shop.example"),
        ("HTTPS://Shop.Example/", "https://shop.example"),
        ("https://shop.example:443", "https://shop.example"),
        ("http://shop.example:80", "http://shop.example"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("https://shop.example:8443", "https://shop.example:8443"),
        ("http://[::1]:3000", "http://[::1]:3000"),
        ("null", None),
        ("", None),
        (None, None),
        ("ftp://shop.example", None),
        ("https://shop.example/page", None),
        ("https://user@shop.example", None),
        ("https://shop.example?x=1", None),
        ("https://shop.example:99999", None),
        ("shop.example", None),
    ],
)
def test_origins_are_normalised(value, expected):
    assert normalise_origin(value) == expected


SHOP = ["https://shop.example", "http://localhost:3000"]
INGEST = "http://ingest.interact.test:8001"


@pytest.mark.parametrize(
    ("origin", "allowed", "own", "expected"),
    [
        ("https://shop.example", SHOP, INGEST, True),
        ("https://SHOP.example:443", SHOP, INGEST, True),
        ("http://localhost:3000", SHOP, INGEST, True),
        ("http://localhost:3001", SHOP, INGEST, False),  # another port is another origin
        ("http://shop.example", SHOP, INGEST, False),  # another scheme too
        ("https://evil.shop.example", SHOP, INGEST, False),  # no wildcards
        ("https://shop.example.evil", SHOP, INGEST, False),
        (None, SHOP, INGEST, False),  # browsers always send one
        ("null", SHOP, INGEST, False),  # sandboxed iframes, file:// pages
        ("https://shop.example", [], INGEST, False),  # empty list: nobody else
        (INGEST, [], INGEST, True),  # ...but ingest's own demo page
        (INGEST, SHOP, None, False),
        ("https://shop.example", ["not an origin", "https://shop.example/"], INGEST, True),
    ],
)
def test_only_listed_origins_and_same_origin_may_open_the_chat(origin, allowed, own, expected):
    assert origin_allowed(origin, allowed, own) is expected


VISITOR = "3b0c1f7e-2d4a-4c55-9a51-7d1c0e2f9a10"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            f'{{"type":"hello","visitor_id":"{VISITOR}","last_seq":3,"locale":"nl-BE"}}',
            Hello(type="hello", visitor_id=VISITOR, last_seq=3, locale="nl-BE"),
        ),
        (
            f'{{"type":"hello","visitor_id":"{VISITOR}"}}',
            Hello(type="hello", visitor_id=VISITOR, last_seq=0),
        ),
        (
            '{"type":"message","seq":1,"client_id":"abcdefgh-1","text":"  Hallo  "}',
            Send(type="message", seq=1, client_id="abcdefgh-1", text="Hallo"),
        ),
        ('{"type":"seen","seq":7}', Seen(type="seen", seq=7)),
        ('{"type":"ping"}', Ping(type="ping")),
    ],
)
def test_frames_are_read(raw, expected):
    assert parse_frame(raw) == expected


@pytest.mark.parametrize(
    ("raw", "close_code", "code"),
    [
        ("{not json", CLOSE_BAD_FRAME, "bad_json"),
        (b'{"type":"ping"}', CLOSE_BAD_FRAME, "text_frames_only"),
        (None, CLOSE_BAD_FRAME, "text_frames_only"),
        ("[1, 2]", CLOSE_BAD_FRAME, "bad_frame"),
        ('{"type":"shout"}', CLOSE_BAD_FRAME, "bad_frame"),
        ('{"type":"message","seq":1,"client_id":"abcdefgh-1","text":"   "}', 4400, "bad_frame"),
        ('{"type":"message","seq":0,"client_id":"abcdefgh-1","text":"hi"}', 4400, "bad_frame"),
        ('{"type":"message","seq":1,"client_id":"short","text":"hi"}', 4400, "bad_frame"),
        ('{"type":"message","seq":1,"client_id":"a b c d e f","text":"hi"}', 4400, "bad_frame"),
        ('{"type":"ping","extra":1}', CLOSE_BAD_FRAME, "bad_frame"),
        ('{"type":"hello","visitor_id":"x"}', CLOSE_BAD_FRAME, "bad_frame"),
        (f'{{"type":"hello","visitor_id":"{VISITOR}","locale":"<b>"}}', 4400, "bad_frame"),
        (f'{{"type":"hello","visitor_id":"{VISITOR}","last_seq":-1}}', 4400, "bad_frame"),
        (
            '{"type":"message","seq":1,"client_id":"abcdefgh-1","text":"' + "x" * 4001 + '"}',
            4400,
            "bad_frame",
        ),
        ('{"type":"ping","pad":"' + "x" * MAX_FRAME_CHARS + '"}', CLOSE_TOO_BIG, "frame_too_big"),
    ],
)
def test_bad_frames_say_why(raw, close_code, code):
    with pytest.raises(BadFrame) as refused:
        parse_frame(raw)
    assert (refused.value.close_code, refused.value.code) == (close_code, code)
    assert refused.value.message


def _envelope(kind: str, **payload: object) -> Envelope:
    return Envelope(type=kind, tenant_id=uuid.uuid4(), payload=payload)


@pytest.mark.parametrize(
    ("envelope", "expected"),
    [
        (_envelope("ChannelConnected"), True),
        (_envelope("ChannelOriginsSet"), True),
        (_envelope("ChannelDisconnected"), True),
        (_envelope("OutboundMessageRequested", channel_type="webchat"), True),
        (_envelope("OutboundMessageRequested", channel_type="messenger"), False),
        (_envelope("OutboundMessageRequested"), False),
        (_envelope("TenantCreated"), False),
        (_envelope("BotTurnRequested", channel_type="webchat"), False),
    ],
)
def test_the_webchat_consumer_takes_channels_and_webchat_replies_only(envelope, expected):
    assert wanted(envelope) is expected
