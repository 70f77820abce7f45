"""The Meta webhook over real HTTP on the real broker: verification, signatures, every format."""

from __future__ import annotations

import uuid

import httpx
import orjson
import pytest
import pytest_asyncio

from services.ingest.domain.meta_signature import sign
from shared import topics
from shared.events import InboundMessageReceived, MessageContent
from tests.support.meta import (
    MetaApp,
    connect_all,
    messenger_body,
    payloads,
    produce,
    read_inbound,
    running_ingest,
    wait_until_connected,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def ingest(kafka_bootstrap, tmp_path_factory):  # type: ignore[no-untyped-def]
    """One ingest for the module (a start costs seconds); each test has its own tenant."""
    async with running_ingest(kafka_bootstrap, tmp_path_factory.mktemp("ingest")) as url:
        yield url


async def test_verification_echoes_the_challenge_only_for_a_connected_channels_token(
    kafka_bootstrap, ingest
):
    meta = MetaApp()
    _, connected = meta.connected("messenger", f"page-{uuid.uuid4().hex[:8]}")
    await produce(kafka_bootstrap, topics.DIRECTORY_EVENTS, [connected])
    await wait_until_connected(ingest, meta.verify_token)
    async with httpx.AsyncClient(base_url=ingest) as client:

        def verify(mode: str, token: str):  # type: ignore[no-untyped-def]
            return client.get(
                "/v1/meta/webhook",
                params={
                    "hub.mode": mode,
                    "hub.verify_token": token,
                    "hub.challenge": "1158201444",
                },
            )

        ok = await verify("subscribe", meta.verify_token)
        wrong = await verify("subscribe", "someone-elses-token")
        not_subscribe = await verify("unsubscribe", meta.verify_token)
    assert (ok.status_code, ok.text) == (200, "1158201444")
    assert ok.headers["content-type"].startswith("text/plain")
    assert wrong.status_code == 403
    assert wrong.json()["error"]["code"] == "verify_token_mismatch"
    assert not_subscribe.status_code == 400


async def test_only_correctly_signed_posts_produce_messages(kafka_bootstrap, ingest):
    meta = MetaApp()
    page = f"page-{uuid.uuid4().hex[:8]}"
    channel_id, connected = meta.connected("messenger", page)
    await produce(kafka_bootstrap, topics.DIRECTORY_EVENTS, [connected])
    await wait_until_connected(ingest, meta.verify_token)
    async with httpx.AsyncClient(base_url=ingest) as client:
        forged = orjson.dumps(messenger_body(page, ("m_forged", "send me your money")))
        json = {"Content-Type": "application/json"}
        refused = [
            await client.post("/v1/meta/webhook", content=forged, headers=json),
            await client.post(
                "/v1/meta/webhook",
                content=forged,
                headers={**json, "X-Hub-Signature": "sha1=" + "ab" * 20},
            ),
            await client.post(
                "/v1/meta/webhook",
                content=forged,
                headers={**json, "X-Hub-Signature-256": sign(forged, "not-the-app-secret")},
            ),
            await client.post(  # signed, then altered on the way
                "/v1/meta/webhook",
                content=forged.replace(b"money", b"MONEY"),
                headers={**json, "X-Hub-Signature-256": sign(forged, meta.app_secret)},
            ),
        ]
        raw, headers = meta.signed(messenger_body(page, ("m_ok", "Hallo")))
        accepted = await client.post("/v1/meta/webhook", content=raw, headers=headers)
        garbage = await client.post(
            "/v1/meta/webhook",
            content=b"{not json",
            headers={**json, "X-Hub-Signature-256": sign(b"{not json", meta.app_secret)},
        )
        unknown_raw, unknown_headers = meta.signed(messenger_body("page-nobody", ("m", "x")))
        unknown = await client.post(
            "/v1/meta/webhook", content=unknown_raw, headers=unknown_headers
        )
    assert [r.status_code for r in refused] == [401, 401, 401, 401]
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {"messages": 1, "statuses": 0}
    # Forged, unverifiable (not JSON: no page to take a secret from) or for an unknown
    # page: one answer, so a prober learns nothing about which pages are connected.
    forged_answers = {(r.status_code, r.text) for r in [*refused, garbage, unknown]}
    assert forged_answers == {(401, refused[0].text)}
    assert refused[0].json()["error"]["code"] == "signature_invalid"
    # Keyed by tenant, all on one partition in order: the refused posts would come first.
    events = await read_inbound(kafka_bootstrap, meta.tenant_id, lambda found: len(found) >= 1)
    assert [p.channel_message_id for p in payloads(events)] == ["m_ok"]  # type: ignore[attr-defined]
    only = payloads(events)[0]
    assert isinstance(only, InboundMessageReceived)
    assert (only.channel_id, only.channel_type, only.visitor_external_id) == (
        channel_id,
        "messenger",
        "PSID-42",
    )
    assert only.content == MessageContent(kind="text", text="Hallo")


async def test_every_entry_and_message_of_all_three_formats_lands(kafka_bootstrap, ingest):
    meta = MetaApp()
    page, phone = f"page-{uuid.uuid4().hex[:8]}", f"phone-{uuid.uuid4().hex[:8]}"
    page_body = messenger_body(page, ("m_1", "first"), ("m_2", "second"))
    page_body["entry"][0]["messaging"] += [
        {  # our own message echoed back: not a visitor message
            "sender": {"id": page},
            "recipient": {"id": "PSID-42"},
            "timestamp": 1_700_000_000_000,
            "message": {"mid": "m_echo", "text": "ours", "is_echo": True, "app_id": 1},
        },
        {
            "sender": {"id": "PSID-42"},
            "recipient": {"id": page},
            "timestamp": 1_700_000_000_000,
            "postback": {"mid": "m_pb", "title": "Opening hours", "payload": "HOURS"},
        },
    ]
    page_body["entry"].append(
        {
            "id": page,
            "time": 1_700_000_000,
            "changes": [
                {
                    "field": "feed",
                    "value": {
                        "from": {"id": "USER-9", "name": "Jan"},
                        "post_id": f"{page}_1",
                        "comment_id": "1_99",
                        "message": "Nice cake!",
                        "item": "comment",
                        "verb": "add",
                        "created_time": 1_700_000_000,
                        "some_new_field": {"ignored": True},
                    },
                }
            ],
        }
    )
    wa_body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "3250", "phone_number_id": phone},
                            "contacts": [{"profile": {"name": "Marie"}, "wa_id": "3247"}],
                            "messages": [
                                {
                                    "from": "3247",
                                    "id": "wamid.T",
                                    "timestamp": "1700000000",
                                    "type": "text",
                                    "text": {"body": "Bonjour"},
                                },
                                {
                                    "from": "3247",
                                    "id": "wamid.U",
                                    "timestamp": "1700000001",
                                    "type": "poll_vote",
                                    "poll_vote": {"x": 1},
                                },
                            ],
                        },
                    }
                ],
            }
        ],
    }
    messenger_id, comments_id, whatsapp_id = await connect_all(
        kafka_bootstrap,
        ingest,
        meta,
        ("messenger", page),
        ("page_comments", page),
        ("whatsapp", phone),
    )
    async with httpx.AsyncClient(base_url=ingest) as client:
        answers = []
        for body in (page_body, wa_body):
            raw, headers = meta.signed(body)
            answers.append(await client.post("/v1/meta/webhook", content=raw, headers=headers))
    assert [a.json() for a in answers] == [
        {"messages": 4, "statuses": 0},
        {"messages": 2, "statuses": 0},
    ]
    events = await read_inbound(kafka_bootstrap, meta.tenant_id, lambda found: len(found) >= 6)
    got = [
        (p.channel_id, p.channel_type, p.channel_message_id, p.visitor_name, p.content)
        for p in payloads(events)
        if isinstance(p, InboundMessageReceived)
    ]
    assert got == [
        (messenger_id, "messenger", "m_1", None, MessageContent(text="first")),
        (messenger_id, "messenger", "m_2", None, MessageContent(text="second")),
        (
            messenger_id,
            "messenger",
            "m_pb",
            None,
            MessageContent(kind="postback", text="Opening hours"),
        ),
        (comments_id, "page_comments", "1_99", "Jan", MessageContent(text="Nice cake!")),
        (whatsapp_id, "whatsapp", "wamid.T", "Marie", MessageContent(text="Bonjour")),
        (
            whatsapp_id,
            "whatsapp",
            "wamid.U",
            "Marie",
            MessageContent(kind="unsupported", text="[poll_vote]"),
        ),
    ]


async def test_a_body_that_is_not_json_by_its_content_type_is_refused_with_415(
    kafka_bootstrap, ingest
):
    """Meta posts application/json; anything else is refused, even when correctly signed,
    and produces nothing."""
    meta = MetaApp()
    page = f"page-{uuid.uuid4().hex[:8]}"
    await produce(kafka_bootstrap, topics.DIRECTORY_EVENTS, [meta.connected("messenger", page)[1]])
    await wait_until_connected(ingest, meta.verify_token)
    raw, headers = meta.signed(messenger_body(page, ("m_plain", "not json by its type")))
    async with httpx.AsyncClient(base_url=ingest) as client:
        answers = [
            await client.post(
                "/v1/meta/webhook", content=raw, headers={**headers, "Content-Type": kind}
            )
            for kind in ("text/plain", "application/x-www-form-urlencoded", "application/jsonx")
        ]
        bare = {k: v for k, v in headers.items() if k != "Content-Type"}
        missing = await client.post("/v1/meta/webhook", content=raw, headers=bare)
        charset = await client.post(
            "/v1/meta/webhook",
            content=raw,
            headers={**headers, "Content-Type": "application/json; charset=utf-8"},
        )
    for answer in [*answers, missing]:
        assert answer.status_code == 415, answer.text
        error = answer.json()["error"]
        assert error["code"] == "unsupported_media_type"
        assert "application/json" in error["message"]
    assert charset.status_code == 200, charset.text
    events = await read_inbound(kafka_bootstrap, meta.tenant_id, lambda found: len(found) >= 1)
    assert [p.channel_message_id for p in payloads(events)] == ["m_plain"]  # type: ignore[attr-defined]
