"""Files on every channel, end to end (issue 17): Meta posting webhooks with media, a local
server playing the Graph API (and Meta's CDN) in Meta's formats, ingest fetching and
keeping the files, the conversation service showing them through signed links; an agent's
file going back out as a proper Graph API upload.

The conversation service (with its consumers) and ingest run as real apps on loopback
ports on the real broker, sharing one blob folder as they share ``DATA_DIR`` in the stack.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import threading
import uuid
import zipfile
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio
import sqlalchemy as sa
from playwright.async_api import async_playwright, expect
from prometheus_client import CollectorRegistry
from websockets.asyncio.client import connect as open_socket
from werkzeug import Request, Response

from services.conversation.api import create_app
from services.conversation.bootstrap import ConversationService
from services.conversation.consumers import register
from services.conversation.settings import ConversationSettings
from services.ingest.consumers import meta_media as deferred
from services.ingest.domain.meta import MediaRef
from shared import attachment_links
from shared.events import Envelope, InboundMessageReceived, MessageContent
from tests.support import files
from tests.support.meta import (
    SECRETS_KEY,
    MetaApp,
    running_ingest,
    serving,
    wait_until_connected,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
OPERATOR_TOKEN = "attachments-operator-token"
PASSWORD = "correct horse battery"
GRAPH = "/graph/v21.0"
MAX_BYTES = 2 * 1024 * 1024
CHROMIUM = "/usr/bin/chromium"
MEDIA_ATTEMPTS = 3
VOICE, PHOTO, PDF = files.ogg_opus_voice(), files.jpeg(800, 600), files.pdf()


class Tenant:
    def __init__(self, tenant_id: str, headers: dict[str, str], meta: MetaApp) -> None:
        self.tenant_id, self.headers, self.meta = tenant_id, headers, meta
        self.page = str(uuid.uuid4().int)[:15]
        self.phone = str(uuid.uuid4().int)[:15]


async def new_tenant(portal: httpx.AsyncClient) -> Tenant:
    email = f"admin-{uuid.uuid4().hex[:8]}@files.example"
    created = await portal.post(
        "/v1/operator/tenants",
        headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
        json={
            "name": f"Files {uuid.uuid4().hex[:6]}",
            "plan": "pro",
            "sdk_option": True,
            "default_language": "nl",
            "first_end_user": {
                "first_name": "Ada",
                "last_name": "Admin",
                "email": email,
                "language": "nl",
                "password": PASSWORD,
            },
        },
    )
    assert created.status_code == 201, created.text
    login = await portal.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    return Tenant(
        created.json()["tenant_id"], {"Authorization": f"Bearer {login.json()['token']}"}, MetaApp()
    )


async def connect(
    portal: httpx.AsyncClient, tenant: Tenant, channel_type: str, external_id: str
) -> None:
    answer = await portal.post(
        "/v1/channels",
        headers=tenant.headers,
        json={
            "channel_type": channel_type,
            "name": f"{channel_type} {external_id}",
            "external_id": external_id,
            "credentials": {
                "app_secret": tenant.meta.app_secret,
                "access_token": tenant.meta.access_token,
                "verify_token": f"{tenant.meta.verify_token}-{channel_type}",
            },
        },
    )
    assert answer.status_code == 201, answer.text


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def stack(kafka_bootstrap, tmp_path_factory, make_httpserver):  # type: ignore[no-untyped-def]
    data_dir = tmp_path_factory.mktemp("files")
    settings = ConversationSettings(
        data_dir=data_dir,
        kafka_bootstrap_servers=kafka_bootstrap,
        operator_token=OPERATOR_TOKEN,
        channel_secrets_key=SECRETS_KEY,
        attachment_max_bytes=MAX_BYTES,
        erasure_wait_seconds=5,
    )
    conversation = ConversationService(settings, registry=CollectorRegistry())
    register(conversation)
    async with (
        serving(create_app(conversation)) as portal_url,
        running_ingest(
            kafka_bootstrap,
            data_dir,
            meta_graph_url=make_httpserver.url_for(GRAPH),
            meta_max_attempts=2,
            media_attempts=MEDIA_ATTEMPTS,
            media_retry_backoff_s=0.05,
        ) as ingest_url,
        httpx.AsyncClient(base_url=portal_url, timeout=30) as portal,
        httpx.AsyncClient(base_url=ingest_url, timeout=30) as ingest,
    ):
        tenant, other = await new_tenant(portal), await new_tenant(portal)
        for channel_type, external_id in (
            ("messenger", tenant.page),
            ("page_comments", tenant.page),
            ("whatsapp", tenant.phone),
        ):
            await connect(portal, tenant, channel_type, external_id)
        await wait_until_connected(ingest_url, f"{tenant.meta.verify_token}-whatsapp")
        yield {
            "portal": portal,
            "ingest": ingest,
            "tenant": tenant,
            "other": other,
            "graph": make_httpserver,
            "data_dir": data_dir,
        }


def serve_bytes(
    graph: Any, path: str, data: bytes, content_type: str, token: str | None = None
) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    graph.expect_request(path, method="GET", headers=headers).respond_with_data(
        data, content_type=content_type
    )
    return graph.url_for(path)


def whatsapp_media(
    graph: Any, tenant: Tenant, media_id: str, data: bytes, mime: str, size: int | None = None
) -> None:
    """Graph's ``GET /{media-id}`` and the short-lived URL it gives, both wanting the token."""
    url = serve_bytes(graph, f"/lookaside/{media_id}", data, mime, tenant.meta.access_token)
    graph.expect_request(
        f"{GRAPH}/{media_id}",
        method="GET",
        headers={"Authorization": f"Bearer {tenant.meta.access_token}"},
    ).respond_with_json(
        {
            "messaging_product": "whatsapp",
            "url": url,
            "mime_type": mime,
            "sha256": hashlib.sha256(data).hexdigest(),
            "file_size": size if size is not None else len(data),
            "id": media_id,
        }
    )


def whatsapp_body(tenant: Tenant, *messages: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA-1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "3250000000",
                                "phone_number_id": tenant.phone,
                            },
                            "contacts": [{"wa_id": "32470001", "profile": {"name": "Wendy"}}],
                            "messages": [
                                {"from": "32470001", "timestamp": "1700000000", **m}
                                for m in messages
                            ],
                        },
                    }
                ],
            }
        ],
    }


def messenger_body(
    tenant: Tenant, mid: str, text: str | None, attachments: list[dict[str, Any]]
) -> dict[str, Any]:
    message: dict[str, Any] = {"mid": mid, "attachments": attachments}
    if text:
        message["text"] = text
    return {
        "object": "page",
        "entry": [
            {
                "id": tenant.page,
                "time": 1_700_000_000_000,
                "messaging": [
                    {
                        "sender": {"id": "PSID-77"},
                        "recipient": {"id": tenant.page},
                        "timestamp": 1_700_000_000_000,
                        "message": message,
                    }
                ],
            }
        ],
    }


def comment_body(tenant: Tenant, comment_id: str, text: str, photo: str) -> dict[str, Any]:
    return {
        "object": "page",
        "entry": [
            {
                "id": tenant.page,
                "time": 1_700_000_000,
                "changes": [
                    {
                        "field": "feed",
                        "value": {
                            "item": "comment",
                            "verb": "add",
                            "comment_id": comment_id,
                            "post_id": f"{tenant.page}_1",
                            "from": {"id": "FB-USER-9", "name": "Carl"},
                            "message": text,
                            "photo": photo,
                            "created_time": 1_700_000_000,
                        },
                    }
                ],
            }
        ],
    }


async def post_webhook(stack: dict[str, Any], tenant: Tenant, body: dict[str, Any]) -> None:
    raw, headers = tenant.meta.signed(body)
    answer = await stack["ingest"].post("/v1/meta/webhook", content=raw, headers=headers)
    assert answer.status_code == 200, answer.text


async def messages_of(
    stack: dict[str, Any], tenant: Tenant, channel_message_texts: set[str]
) -> dict[str, dict[str, Any]]:
    """text -> message (with its conversation id) once every text has arrived."""
    portal = stack["portal"]
    async with asyncio.timeout(60):
        while True:
            found: dict[str, dict[str, Any]] = {}
            page = await portal.get(
                "/v1/dispatch/conversations", params={"status": "open"}, headers=tenant.headers
            )
            for item in page.json()["items"]:
                detail = (
                    await portal.get(
                        f"/v1/conversations/{item['conversation_id']}", headers=tenant.headers
                    )
                ).json()
                for m in detail["messages"]:
                    found[m["text"]] = {**m, "conversation_id": item["conversation_id"]}
            if channel_message_texts <= found.keys():
                return found
            await asyncio.sleep(0.2)


async def test_voice_note_image_and_photo_comment_reach_the_agent_and_nobody_else(stack):  # type: ignore[no-untyped-def]
    tenant, other, graph, portal = stack["tenant"], stack["other"], stack["graph"], stack["portal"]
    whatsapp_media(graph, tenant, "MEDIA-VOICE-1", VOICE, "audio/ogg")
    image_url = serve_bytes(graph, "/cdn/messenger/photo.jpg", PHOTO, "image/jpeg")
    comment_photo = serve_bytes(graph, "/cdn/comments/photo.png", files.png(), "image/png")
    await post_webhook(
        stack,
        tenant,
        whatsapp_body(
            tenant,
            {
                "id": "wamid.VOICE1",
                "type": "audio",
                "audio": {
                    "id": "MEDIA-VOICE-1",
                    "mime_type": "audio/ogg; codecs=opus",
                    "voice": True,
                },
            },
        ),
    )
    await post_webhook(
        stack,
        tenant,
        messenger_body(
            tenant, "m_photo_1", "my broken cup", [{"type": "image", "payload": {"url": image_url}}]
        ),
    )
    await post_webhook(
        stack, tenant, comment_body(tenant, f"{tenant.page}_1_5", "look at this", comment_photo)
    )

    found = await messages_of(stack, tenant, {"[audio]", "my broken cup", "look at this"})
    voice, photo, comment = found["[audio]"], found["my broken cup"], found["look at this"]
    assert [a["kind"] for a in voice["attachments"]] == ["audio"]
    assert voice["attachments"][0]["content_type"] == "audio/ogg"
    assert photo["attachments"][0]["content_type"] == "image/jpeg"
    assert (photo["attachments"][0]["width"], photo["attachments"][0]["height"]) == (800, 600)
    assert comment["attachments"][0]["content_type"] == "image/png"

    for message, original in ((voice, VOICE), (photo, PHOTO), (comment, files.png())):
        a = message["attachments"][0]
        assert a["sha256"] == hashlib.sha256(original).hexdigest()
        got = await portal.get(a["url"])
        assert got.status_code == 200, got.text
        assert got.content == original
        assert got.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in got.headers["content-security-policy"]
        assert got.headers["content-disposition"].startswith("inline;")
    thumb = await portal.get(photo["attachments"][0]["thumbnail_url"])
    assert thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content[:3] == b"\xff\xd8\xff"
    assert len(thumb.content) < len(PHOTO)

    # Nobody of another tenant: not the conversation, not the file by a link re-pointed at
    # their tenant, not an upload into it; and no link outlives its expiry.
    a = photo["attachments"][0]
    assert (
        await portal.get(f"/v1/conversations/{photo['conversation_id']}", headers=other.headers)
    ).status_code == 404
    repointed = a["url"].replace(f"tenant={tenant.tenant_id}", f"tenant={other.tenant_id}")
    assert (await portal.get(repointed)).status_code == 403
    altered = a["url"][:-1] + ("0" if a["url"][-1] != "0" else "1")
    assert (await portal.get(altered)).status_code == 403
    key = attachment_links.link_key(SECRETS_KEY)
    expired = attachment_links.signed_query(key, tenant.tenant_id, a["attachment_id"], ttl_s=-1)
    assert (await portal.get(f"/v1/attachments/{a['attachment_id']}?{expired}")).status_code == 403
    signed_for_other = attachment_links.signed_query(key, other.tenant_id, a["attachment_id"])
    assert (
        await portal.get(f"/v1/attachments/{a['attachment_id']}?{signed_for_other}")
    ).status_code == 404
    upload = await portal.post(
        f"/v1/conversations/{photo['conversation_id']}/attachments",
        params={"file_name": "x.png"},
        content=files.png(),
        headers=other.headers,
    )
    assert upload.status_code == 404


async def test_refused_files_say_why_and_the_rest_of_the_message_is_kept(stack):  # type: ignore[no-untyped-def]
    tenant, graph, portal = stack["tenant"], stack["graph"], stack["portal"]
    expired = graph.url_for("/cdn/messenger/expired.jpg")
    graph.expect_request("/cdn/messenger/expired.jpg").respond_with_response(
        Response('{"error": "URL signature expired"}', status=403, content_type="application/json")
    )
    broken = serve_bytes(graph, "/cdn/messenger/broken.jpg", files.broken_jpeg(), "image/jpeg")
    good = serve_bytes(graph, "/cdn/messenger/good.png", files.png(), "image/png")
    await post_webhook(
        stack,
        tenant,
        messenger_body(
            tenant,
            "m_mixed_1",
            "three pictures",
            [
                {"type": "image", "payload": {"url": expired}},
                {"type": "image", "payload": {"url": broken}},
                {"type": "image", "payload": {"url": good}},
            ],
        ),
    )
    whatsapp_media(graph, tenant, "MEDIA-EXE", files.windows_program(), "application/pdf")
    whatsapp_media(graph, tenant, "MEDIA-HUGE", b"", "image/jpeg", size=6 * 1024 * 1024)
    await post_webhook(
        stack,
        tenant,
        whatsapp_body(
            tenant,
            {
                "id": "wamid.EXE1",
                "type": "document",
                "document": {
                    "id": "MEDIA-EXE",
                    "filename": "invoice.pdf",
                    "mime_type": "application/pdf",
                    "caption": "my invoice",
                },
            },
            {
                "id": "wamid.HUGE1",
                "type": "image",
                "image": {"id": "MEDIA-HUGE", "mime_type": "image/jpeg", "caption": "a huge photo"},
            },
        ),
    )
    found = await messages_of(stack, tenant, {"three pictures", "my invoice", "a huge photo"})
    mixed = found["three pictures"]
    assert [r["code"] for r in mixed["refused_attachments"]] == ["media_expired", "broken_image"]
    assert [a["content_type"] for a in mixed["attachments"]] == ["image/png"]
    assert (await portal.get(mixed["attachments"][0]["url"])).content == files.png()
    assert [r["code"] for r in found["my invoice"]["refused_attachments"]] == [
        "disguised_executable"
    ]
    assert found["my invoice"]["attachments"] == []
    assert [r["code"] for r in found["a huge photo"]["refused_attachments"]] == ["too_large"]

    # The same refusals from the Portal are a clear 4xx each, and nothing is stored.
    conversation_id = mixed["conversation_id"]

    async def upload(data: bytes, name: str, content_type: str) -> httpx.Response:
        return await portal.post(
            f"/v1/conversations/{conversation_id}/attachments",
            params={"file_name": name},
            content=data,
            headers={**tenant.headers, "Content-Type": content_type},
        )

    too_large = await upload(files.pdf() + b"\0" * (MAX_BYTES + 1000), "big.pdf", "application/pdf")
    disguised = await upload(files.windows_program(), "cat.jpg", "image/jpeg")
    broken_image = await upload(files.broken_jpeg(), "cut.jpg", "image/jpeg")
    assert (too_large.status_code, disguised.status_code, broken_image.status_code) == (
        413,
        415,
        422,
    )
    assert disguised.json()["error"]["code"] == "disguised_executable"
    assert broken_image.json()["error"]["code"] == "broken_image"
    unknown = await portal.post(
        f"/v1/conversations/{conversation_id}/messages",
        json={"text": "see attached", "attachment_ids": [str(uuid.uuid4())]},
        headers=tenant.headers,
    )
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (422, "unknown_attachment")

    # The tenant's export lists every file of these messages, the refused ones with their
    # code and reason (and never bytes nor blob keys), as the Portal shows them.
    export = await portal.get("/v1/export", headers=tenant.headers)
    assert export.status_code == 200, export.text
    with zipfile.ZipFile(io.BytesIO(export.content)) as zf:
        exported = {
            m["text"]: m["attachments"]
            for m in map(orjson.loads, zf.read("messages.jsonl").splitlines())
        }
    for text in ("three pictures", "my invoice", "a huge photo"):
        shown = found[text]
        assert [
            (a["attachment_id"], a["kind"], a["file_name"], a["refused_code"], a["refused_reason"])
            for a in exported[text]
        ] == [
            *(
                (a["attachment_id"], a["kind"], a["file_name"], None, None)
                for a in shown["attachments"]
            ),
            *(
                (None, r["kind"], r["file_name"], r["code"], r["reason"])
                for r in shown["refused_attachments"]
            ),
        ], text
        assert all(a["sha256"] is None for a in exported[text] if a["refused_code"])
        assert "key" not in str(exported[text])
    assert [a["refused_code"] for a in exported["three pictures"]] == [
        None,
        "media_expired",
        "broken_image",
    ]
    assert exported["my invoice"][0]["file_name"] == "invoice.pdf"


async def test_a_slow_graph_api_does_not_hold_back_the_webhooks_answer(stack):  # type: ignore[no-untyped-def]
    """The webhook answers once the message is recorded, before its file is fetched; the
    file (Meta's CDN holding it back) then arrives with the message. A webhook Meta sends
    again meanwhile is the same message."""
    tenant, graph, portal = stack["tenant"], stack["graph"], stack["portal"]
    release, asked = threading.Event(), threading.Event()
    photo = files.jpeg(320, 240)

    def slow_cdn(_request: Request) -> Response:
        asked.set()
        release.wait(30)  # Meta's CDN takes its time
        return Response(photo, content_type="image/jpeg")

    graph.expect_request("/cdn/messenger/slow.jpg").respond_with_handler(slow_cdn)
    body = messenger_body(
        tenant,
        "m_slow_1",
        "a slow photo",
        [{"type": "image", "payload": {"url": graph.url_for("/cdn/messenger/slow.jpg")}}],
    )
    try:
        await post_webhook(stack, tenant, body)  # 200 while the file is still at Meta
        await post_webhook(stack, tenant, body)  # Meta's retry: recorded once
        assert not release.is_set()
        async with asyncio.timeout(30):  # the worker is fetching it, after the answer
            while not asked.is_set():
                await asyncio.sleep(0.05)
        pending = sa.create_engine(f"sqlite:///{stack['data_dir'] / 'ingest.sqlite'}")
        with pending.connect() as conn:
            rows = conn.execute(sa.text("SELECT attempts FROM meta_media_pending")).all()
        pending.dispose()
        assert [r.attempts for r in rows] == [0]  # accepted and kept until it is published
    finally:
        release.set()
    found = await messages_of(stack, tenant, {"a slow photo"})
    (kept,) = found["a slow photo"]["attachments"]
    assert (kept["content_type"], kept["width"]) == ("image/jpeg", 320)
    assert (await portal.get(kept["url"])).content == photo
    async with asyncio.timeout(30):
        while await asyncio.to_thread(pending_rows, stack["data_dir"]):
            await asyncio.sleep(0.1)
    detail = await portal.get(
        f"/v1/conversations/{found['a slow photo']['conversation_id']}", headers=tenant.headers
    )
    assert [m["text"] for m in detail.json()["messages"]].count("a slow photo") == 1


def pending_rows(data_dir: Any) -> int:
    engine = sa.create_engine(f"sqlite:///{data_dir / 'ingest.sqlite'}")
    try:
        with engine.connect() as conn:
            return conn.scalar(sa.text("SELECT count(*) FROM meta_media_pending")) or 0
    finally:
        engine.dispose()


async def test_a_file_meta_fails_to_give_is_tried_again_and_refused_only_in_the_end(stack):  # type: ignore[no-untyped-def]
    """A CDN failing once is tried again and the file kept; one failing every time makes a
    refused attachment (``media_unavailable``) after the attempts, the message kept."""
    tenant, graph = stack["tenant"], stack["graph"]
    calls = {"flaky": 0, "down": 0}
    picture = files.png(30, 30, "blue")

    def flaky(_request: Request) -> Response:
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            return Response("busy", status=503)
        return Response(picture, content_type="image/png")

    def down(_request: Request) -> Response:
        calls["down"] += 1
        return Response("down", status=500)

    graph.expect_request("/cdn/messenger/flaky.png").respond_with_handler(flaky)
    graph.expect_request("/cdn/messenger/down.png").respond_with_handler(down)
    await post_webhook(
        stack,
        tenant,
        messenger_body(
            tenant,
            "m_flaky_1",
            "two tries",
            [
                {"type": "image", "payload": {"url": graph.url_for("/cdn/messenger/flaky.png")}},
                {"type": "image", "payload": {"url": graph.url_for("/cdn/messenger/down.png")}},
            ],
        ),
    )
    message = (await messages_of(stack, tenant, {"two tries"}))["two tries"]
    assert [a["content_type"] for a in message["attachments"]] == ["image/png"]
    assert [r["code"] for r in message["refused_attachments"]] == ["media_unavailable"]
    assert calls == {"flaky": 3, "down": MEDIA_ATTEMPTS}  # (each try fetches both again)


async def test_a_message_recorded_by_a_process_that_died_is_published_by_another(stack):  # type: ignore[no-untyped-def]
    """Accepted means kept: a row another ingest process recorded (and then died, before
    fetching) is fetched and published by the one running, which never heard of it."""
    tenant, graph, portal = stack["tenant"], stack["graph"], stack["portal"]
    channels = (await portal.get("/v1/channels", headers=tenant.headers)).json()
    channels = channels["items"] if isinstance(channels, dict) else channels
    (messenger,) = [c for c in channels if c["channel_type"] == "messenger"]
    url = serve_bytes(graph, "/cdn/messenger/left.png", files.png(20, 20, "red"), "image/png")
    inbound = InboundMessageReceived(
        channel_id=messenger["channel_id"],
        channel_type="messenger",
        channel_message_id="m_left_behind_1",
        visitor_external_id="PSID-78",
        content=MessageContent(kind="attachment", text="left behind"),
        received_at=datetime.now(UTC),
    )
    envelope = Envelope.wrap(inbound, tenant_id=uuid.UUID(tenant.tenant_id))
    engine = sa.create_engine(f"sqlite:///{stack['data_dir'] / 'ingest.sqlite'}")
    try:  # what the dead process's webhook did before answering 200
        dead = deferred.DeferredMedia(engine, None, None, None)  # type: ignore[arg-type]
        await asyncio.to_thread(dead.record, [(envelope, (MediaRef(kind="image", url=url),))])
    finally:
        engine.dispose()
    message = (await messages_of(stack, tenant, {"left behind"}))["left behind"]
    assert [a["content_type"] for a in message["attachments"]] == ["image/png"]
    async with asyncio.timeout(30):
        while await asyncio.to_thread(pending_rows, stack["data_dir"]):
            await asyncio.sleep(0.1)


def _multipart(request: Request) -> dict[str, Any]:
    return {
        "form": request.form.to_dict(),
        "files": {name: (f.filename, f.mimetype, f.read()) for name, f in request.files.items()},
    }


async def take_and_reply(
    stack: dict[str, Any], tenant: Tenant, conversation_id: str, data: bytes, name: str, text: str
) -> str:
    portal = stack["portal"]
    taken = await portal.post(f"/v1/conversations/{conversation_id}/take", headers=tenant.headers)
    assert taken.status_code in (200, 201), taken.text
    uploaded = await portal.post(
        f"/v1/conversations/{conversation_id}/attachments",
        params={"file_name": name},
        content=data,
        headers={**tenant.headers, "Content-Type": "application/octet-stream"},
    )
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["content_type"] == "image/png"  # from the bytes, not the header
    sent = await portal.post(
        f"/v1/conversations/{conversation_id}/messages",
        json={"text": text, "attachment_ids": [uploaded.json()["attachment_id"]]},
        headers=tenant.headers,
    )
    assert sent.status_code == 201, sent.text
    return sent.json()["message_id"]


async def delivery_of(
    stack: dict[str, Any], tenant: Tenant, conversation_id: str, message_id: str
) -> dict[str, Any]:
    async with asyncio.timeout(60):
        while True:
            detail = (
                await stack["portal"].get(
                    f"/v1/conversations/{conversation_id}", headers=tenant.headers
                )
            ).json()
            (message,) = [m for m in detail["messages"] if m["message_id"] == message_id]
            if message["delivery_status"] not in ("requested", None):
                return message
            await asyncio.sleep(0.2)


async def test_an_agents_image_reaches_whatsapp_and_messenger_as_proper_uploads(stack):  # type: ignore[no-untyped-def]
    tenant, graph = stack["tenant"], stack["graph"]
    whatsapp_media(graph, tenant, "MEDIA-VOICE-2", VOICE, "audio/ogg")
    image_url = serve_bytes(graph, "/cdn/messenger/photo2.jpg", PHOTO, "image/jpeg")
    await post_webhook(
        stack,
        tenant,
        whatsapp_body(
            tenant,
            {
                "id": "wamid.VOICE2",
                "type": "audio",
                "audio": {"id": "MEDIA-VOICE-2", "voice": True},
                "from": "32470002",
            },
        ),
    )
    await post_webhook(
        stack,
        tenant,
        messenger_body(
            tenant, "m_photo_2", "which colour?", [{"type": "image", "payload": {"url": image_url}}]
        ),
    )
    uploads: list[dict[str, Any]] = []

    def media_upload(request: Request) -> Response:
        uploads.append(_multipart(request))
        return Response('{"id": "MEDIA-OUT-1"}', content_type="application/json")

    graph.expect_request(f"{GRAPH}/{tenant.phone}/media", method="POST").respond_with_handler(
        media_upload
    )
    graph.expect_request(f"{GRAPH}/{tenant.phone}/messages", method="POST").respond_with_json(
        {"messaging_product": "whatsapp", "messages": [{"id": "wamid.OUT-IMAGE"}]}
    )
    messenger_posts: list[dict[str, Any]] = []

    def messenger_send(request: Request) -> Response:
        messenger_posts.append(
            _multipart(request) if request.files else {"json": request.get_json()}
        )
        return Response(
            orjson.dumps(
                {"recipient_id": "PSID-77", "message_id": f"m_out_{len(messenger_posts)}"}
            ),
            content_type="application/json",
        )

    graph.expect_request(f"{GRAPH}/{tenant.page}/messages", method="POST").respond_with_handler(
        messenger_send
    )

    found = await messages_of(stack, tenant, {"which colour?"})
    voices = [
        m
        for m in (await messages_of(stack, tenant, {"[audio]"})).values()
        if m["text"] == "[audio]"
    ]
    image = files.png(120, 80, "blue")
    # A WhatsApp conversation (a visitor who sent a voice note).
    whatsapp_conversation = voices[-1]["conversation_id"]
    wa_message = await take_and_reply(
        stack, tenant, whatsapp_conversation, image, "colours.png", "Here are the colours"
    )
    fb_message = await take_and_reply(
        stack, tenant, found["which colour?"]["conversation_id"], image, "colours.png", "Blue it is"
    )

    wa = await delivery_of(stack, tenant, whatsapp_conversation, wa_message)
    fb = await delivery_of(stack, tenant, found["which colour?"]["conversation_id"], fb_message)
    assert (wa["delivery_status"], wa["delivery_error"]) == ("sent", None)
    assert (fb["delivery_status"], fb["delivery_error"]) == ("sent", None)
    assert [a["file_name"] for a in wa["attachments"]] == ["colours.png"]

    (upload,) = uploads
    assert upload["form"] == {"messaging_product": "whatsapp", "type": "image/png"}
    assert upload["files"]["file"] == ("colours.png", "image/png", image)
    sent_by_id = [
        r.get_json() for r, _ in graph.log if r.path == f"{GRAPH}/{tenant.phone}/messages"
    ]
    assert sent_by_id[-1]["type"] == "image"
    assert sent_by_id[-1]["image"] == {"id": "MEDIA-OUT-1", "caption": "Here are the colours"}
    text, photo = messenger_posts[-2:]
    assert text["json"]["message"] == {"text": "Blue it is"}
    assert photo["files"]["filedata"] == ("colours.png", "image/png", image)
    assert photo["form"]["messaging_type"] == "RESPONSE"
    assert photo["form"]["recipient"] == '{"id":"PSID-77"}'
    assert (
        photo["form"]["message"]
        == '{"attachment":{"type":"image","payload":{"is_reusable":false}}}'
    )


async def test_a_pdf_from_the_widget_reaches_the_agent_and_an_agents_image_reaches_only_that_visitor(
    stack,
):  # type: ignore[no-untyped-def]
    tenant, other, portal, ingest = (
        stack["tenant"],
        stack["other"],
        stack["portal"],
        stack["ingest"],
    )
    channel = await portal.post(
        "/v1/channels", headers=tenant.headers, json={"channel_type": "webchat", "name": "Shop"}
    )
    assert channel.status_code == 201, channel.text
    key = channel.json()["public_key"]
    visitor = f"visitor-{uuid.uuid4().hex[:12]}"

    async def send_pdf() -> httpx.Response:
        return await ingest.post(
            f"/v1/webchat/{key}/files",
            params={
                "visitor_id": visitor,
                "client_id": "upload-0001",
                "file_name": "order.pdf",
                "text": "my order",
            },
            content=PDF,
            headers={"Content-Type": "application/pdf"},
        )

    async with asyncio.timeout(30):
        while (sent := await send_pdf()).status_code == 404:  # until ingest has the channel
            await asyncio.sleep(0.1)
    assert sent.status_code == 202, sent.text
    assert (sent.json()["content_type"], sent.json()["size"]) == ("application/pdf", len(PDF))
    refused = await ingest.post(
        f"/v1/webchat/{key}/files",
        params={"visitor_id": visitor, "client_id": "upload-0002", "file_name": "order.pdf"},
        content=files.windows_program(),
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (415, "disguised_executable")

    found = await messages_of(stack, tenant, {"my order"})
    message = found["my order"]
    (pdf,) = message["attachments"]
    got = await portal.get(pdf["url"])
    assert got.content == PDF
    assert got.headers["content-disposition"].startswith('attachment; filename="order.pdf"')
    assert (
        await portal.get(f"/v1/conversations/{message['conversation_id']}", headers=other.headers)
    ).status_code == 404

    # The agent answers with a picture: it reaches the visitor's socket with a link for them.
    image = files.png(40, 40, "green")
    await take_and_reply(
        stack, tenant, message["conversation_id"], image, "map.png", "Find us here"
    )
    socket_url = ingest.base_url.copy_with(scheme="ws", path=f"/v1/webchat/{key}/ws")
    async with (
        open_socket(str(socket_url), origin=str(ingest.base_url).rstrip("/")) as ws,
        asyncio.timeout(30),
    ):  # type: ignore[arg-type]
        await ws.send(orjson.dumps({"type": "hello", "visitor_id": visitor}).decode())
        while True:
            frame = orjson.loads(await ws.recv())
            if frame["type"] == "message" and frame.get("attachments"):
                break
    assert frame["text"] == "Find us here"
    (picture,) = frame["attachments"]
    assert (picture["file_name"], picture["content_type"]) == ("map.png", "image/png")
    got = await ingest.get(picture["url"])
    assert got.status_code == 200, got.text
    assert got.content == image
    assert got.headers["x-content-type-options"] == "nosniff"
    assert (await ingest.get(picture["thumbnail_url"])).content[:3] == b"\xff\xd8\xff"
    someone_else = picture["url"].replace(
        f"visitor_id={visitor}", "visitor_id=visitor-somebody-else"
    )
    assert (await ingest.get(someone_else)).status_code == 403

    # The visitor is erased: their files leave the blob store and no link serves them.
    detail = await portal.get(
        f"/v1/conversations/{message['conversation_id']}", headers=tenant.headers
    )
    # (It may wait up to ERASURE_WAIT_SECONDS for the relay and the consumers; files go first.)
    erased = await portal.post(
        f"/v1/visitors/{detail.json()['visitor_id']}/erasure", headers=tenant.headers, timeout=120
    )
    assert erased.status_code in (200, 202), erased.text
    assert (await portal.get(pdf["url"])).status_code == 404
    assert (await ingest.get(picture["url"])).status_code in (403, 404)
    kept = [p.name for p in (stack["data_dir"] / "blobs").rglob("*") if p.is_file()]
    for attachment_id in (pdf["attachment_id"], picture["attachment_id"]):
        assert not [k for k in kept if attachment_id in str(k)], kept
        assert not list((stack["data_dir"] / "blobs").rglob(f"*{attachment_id}*"))


class VisitorSite:
    """A tenant's website on its own origin (a port of its own): one page with the widget's
    script tag pointing at ingest (``key``: the chat's public key, set once it is known)."""

    def __init__(self, script_src: str) -> None:
        self.key = ""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                page = (
                    "<!doctype html><html><head><title>Shop</title></head><body><h1>Shop</h1>"
                    f"<script src='{script_src}' data-channel='{site.key}' async></script>"
                    "</body></html>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def preflight(ingest: httpx.AsyncClient, key: str, origin: str) -> httpx.Response:
    return await ingest.options(
        f"/v1/webchat/{key}/files",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )


async def messages_on(
    stack: dict[str, Any], tenant: Tenant, channel_id: str, enough: Any
) -> tuple[str, list[dict[str, Any]]]:
    """(conversation id, messages) of the channel's conversation once ``enough(messages)``."""
    portal = stack["portal"]
    async with asyncio.timeout(60):
        while True:
            page = await portal.get(
                "/v1/dispatch/conversations", params={"status": "open"}, headers=tenant.headers
            )
            for item in page.json()["items"]:
                if item["channel_id"] != channel_id:
                    continue
                detail = await portal.get(
                    f"/v1/conversations/{item['conversation_id']}", headers=tenant.headers
                )
                if enough(detail.json()["messages"]):
                    return item["conversation_id"], detail.json()["messages"]
            await asyncio.sleep(0.2)


async def test_a_visitor_picks_a_pdf_in_the_widget_on_their_own_site_and_the_agent_gets_it(
    stack,
):  # type: ignore[no-untyped-def]
    """The widget in a real Chromium on the tenant's site (another origin than ingest): the
    visitor picks a PDF, the agent sees it in the conversation and downloads it, the agent's
    picture shows in the widget; a refused file says why in the widget; a site that is not
    one of the channel's origins is refused (preflight 403, the browser sends nothing)."""
    portal, ingest = stack["portal"], stack["ingest"]
    tenant = await new_tenant(portal)  # the limit test sets small limits on the others
    ingest_url = str(ingest.base_url).rstrip("/")
    site, other_site = (
        VisitorSite(f"{ingest_url}/sdk/widget.js"),
        VisitorSite(f"{ingest_url}/sdk/widget.js"),
    )
    channel = await portal.post(
        "/v1/channels",
        headers=tenant.headers,
        json={"channel_type": "webchat", "name": "Shop", "allowed_origins": [site.origin]},
    )
    assert channel.status_code == 201, channel.text
    key, channel_id = channel.json()["public_key"], channel.json()["channel_id"]
    site.key = other_site.key = key
    try:
        async with asyncio.timeout(30):  # until ingest has the channel and its origin
            while (answer := await preflight(ingest, key, site.origin)).status_code != 204:
                await asyncio.sleep(0.1)
        assert answer.headers["access-control-allow-origin"] == site.origin
        assert "POST" in answer.headers["access-control-allow-methods"]
        assert "content-type" in answer.headers["access-control-allow-headers"].lower()
        refused = await preflight(ingest, key, other_site.origin)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "origin_not_allowed"
        assert "access-control-allow-origin" not in refused.headers
        assert (await preflight(ingest, "no-such-key", site.origin)).status_code == 404
        put = await ingest.options(
            f"/v1/webchat/{key}/files",
            headers={"Origin": site.origin, "Access-Control-Request-Method": "PUT"},
        )
        assert (put.status_code, put.json()["error"]["code"]) == (405, "method_not_allowed")

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox"]
            )
            try:
                page = await browser.new_page()
                await page.goto(f"{site.origin}/")
                await page.get_by_test_id("interact-chat-launcher").click()
                await expect(page.get_by_test_id("interact-chat-status")).to_have_text(
                    "online", timeout=30_000
                )
                async with page.expect_file_chooser() as chosen:
                    await page.get_by_test_id("interact-chat-attach").click()
                await (await chosen.value).set_files(
                    {"name": "order.pdf", "mimeType": "application/pdf", "buffer": PDF}
                )
                sent = page.get_by_test_id("interact-chat-sent-file")
                await expect(sent).to_contain_text("order.pdf")
                await expect(page.locator(".msg.pending")).to_have_count(0, timeout=30_000)
                await expect(page.get_by_test_id("interact-chat-file-error")).to_have_count(0)

                # The agent sees the PDF in the conversation and downloads it.
                conversation_id, messages = await messages_on(
                    stack, tenant, channel_id, lambda ms: any(m["attachments"] for m in ms)
                )
                (pdf,) = [a for m in messages for a in m["attachments"]]
                assert (pdf["file_name"], pdf["content_type"]) == ("order.pdf", "application/pdf")
                assert (await portal.get(pdf["url"])).content == PDF

                # A program under a PDF's name: refused, and the widget says why.
                async with page.expect_file_chooser() as chosen:
                    await page.get_by_test_id("interact-chat-attach").click()
                await (await chosen.value).set_files(
                    {
                        "name": "invoice.pdf",
                        "mimeType": "application/pdf",
                        "buffer": files.windows_program(),
                    }
                )
                await expect(page.get_by_test_id("interact-chat-file-error")).to_contain_text(
                    "is a program", timeout=30_000
                )

                # The agent answers with a picture: it shows in the widget, its link works
                # from the site's page (CORS on the download too).
                image = files.png(40, 40, "green")
                await take_and_reply(stack, tenant, conversation_id, image, "map.png", "Here")
                picture = page.get_by_test_id("interact-chat-file")
                await expect(picture).to_contain_text("map.png", timeout=30_000)
                await expect(picture.locator("img")).to_have_count(1)
                fetched = await page.evaluate(
                    """async (link) => {
                        const answer = await fetch(link);
                        return [answer.status, answer.headers.get("content-type"),
                                (await answer.arrayBuffer()).byteLength];
                    }""",
                    await picture.get_attribute("href"),
                )
                assert fetched == [200, "image/png", len(image)]

                # Read back later, its stored links have expired: the widget gets fresh ones
                # for this visitor (and nobody else gets any).
                await page.evaluate(
                    """(name) => {
                        const aged = (link) => link && link.replace(/expires=\\d+/, "expires=1");
                        const t = JSON.parse(localStorage.getItem(name));
                        for (const entry of t) for (const f of entry.files || []) {
                            f.url = aged(f.url);
                            f.thumbnail_url = aged(f.thumbnail_url);
                        }
                        localStorage.setItem(name, JSON.stringify(t));
                    }""",
                    f"interact-chat:{key}:transcript",
                )
                stored = await page.evaluate(
                    "(name) => localStorage.getItem(name)", f"interact-chat:{key}:transcript"
                )
                assert "expires=1&" in stored or stored.count('expires=1"') == 2, stored
                await page.reload()
                await page.get_by_test_id("interact-chat-launcher").click()
                await expect(picture).to_have_count(1, timeout=30_000)
                href = await picture.get_attribute("href")
                assert href is not None and not re.search(r"[?&]expires=1(&|$)", href), href
                assert await page.evaluate("async (l) => (await fetch(l)).status", href) == 200
                (attachment_id,) = re.findall(r"/files/([0-9a-f-]{36})\?", href)
                links = f"/v1/webchat/{key}/files/{attachment_id}/links"
                visitor = await page.evaluate("window.InteractChat.visitorId")
                assert (await ingest.get(links, params={"visitor_id": visitor})).status_code == 200
                stranger_links = await ingest.get(links, params={"visitor_id": "visitor-other-1"})
                assert stranger_links.status_code == 404

                # Another site: the chat is unavailable there and the browser sends no file.
                stranger = await browser.new_page()
                await stranger.goto(f"{other_site.origin}/")
                await expect(stranger.get_by_test_id("interact-chat-status")).to_have_text(
                    "unavailable", timeout=30_000
                )
                outcome = await stranger.evaluate(
                    """async (url) => {
                        try {
                            await fetch(url, {method: "POST", body: new Blob(["%PDF-1.4"]),
                                              headers: {"Content-Type": "application/pdf"}});
                            return "sent";
                        } catch (error) {
                            return "refused: " + error.name;
                        }
                    }""",
                    f"{ingest_url}/v1/webchat/{key}/files?visitor_id=stranger-1"
                    "&client_id=stranger-file-1&file_name=x.pdf",
                )
                assert outcome == "refused: TypeError"
            finally:
                await browser.close()
        _, messages = await messages_on(stack, tenant, channel_id, lambda ms: len(ms) >= 2)
        assert [a["file_name"] for m in messages for a in m["attachments"]] == [
            "order.pdf",
            "map.png",
        ]
    finally:
        site.close()
        other_site.close()


async def test_a_tenants_own_size_limit_refuses_what_the_operators_allows_for_that_tenant_only(
    stack,
):  # type: ignore[no-untyped-def]
    portal, tenant, other = stack["portal"], stack["tenant"], stack["other"]
    await post_webhook(stack, tenant, messenger_body(tenant, "m_limit_1", "limit check", []))
    conversation_id = (await messages_of(stack, tenant, {"limit check"}))["limit check"][
        "conversation_id"
    ]

    async def upload() -> httpx.Response:
        return await portal.post(
            f"/v1/conversations/{conversation_id}/attachments",
            params={"file_name": "offer.pdf"},
            content=PDF,
            headers={**tenant.headers, "Content-Type": "application/pdf"},
        )

    async def set_limit(who: Tenant, limit: int | None) -> httpx.Response:
        current = (await portal.get("/v1/settings/general", headers=who.headers)).json()
        return await portal.put(
            "/v1/settings/general",
            headers=who.headers,
            json={**current, "attachment_max_bytes": limit},
        )

    assert len(PDF) < MAX_BYTES
    too_high = await set_limit(tenant, MAX_BYTES + 1)
    assert too_high.status_code == 422, too_high.text
    assert too_high.json()["error"]["code"] == "attachment_limit_too_high"
    assert (await set_limit(tenant, 0)).status_code == 422
    # Another tenant's small limit is no business of this one.
    assert (await set_limit(other, len(PDF) - 1)).status_code == 200
    assert (await portal.get("/v1/settings/general", headers=other.headers)).json()[
        "attachment_max_bytes"
    ] == len(PDF) - 1
    assert (await upload()).status_code == 201
    # The tenant's own: the file the operator's limit allows is now too large here.
    assert (await set_limit(tenant, len(PDF) - 1)).status_code == 200
    refused = await upload()
    assert refused.status_code == 413, refused.text
    assert refused.json()["error"]["code"] == "too_large"

    # Ingest learns the limit from the settings event: the widget's file is refused the same
    # way for this tenant, and accepted for a tenant without a limit of its own.
    third = await new_tenant(portal)

    async def widget_upload(who: Tenant, refused_in_the_end: bool) -> httpx.Response:
        """Until ingest has the channel (404) and, for a refusal, the tenant's limit: the
        widget's channel and the settings reach different consumers of ingest."""
        channel = await portal.post(
            "/v1/channels", headers=who.headers, json={"channel_type": "webchat", "name": "Limit"}
        )
        assert channel.status_code == 201, channel.text
        key = channel.json()["public_key"]
        async with asyncio.timeout(30):
            while True:
                sent = await stack["ingest"].post(
                    f"/v1/webchat/{key}/files",
                    params={
                        "visitor_id": "visitor-limit",
                        "client_id": f"limit-{uuid.uuid4().hex[:12]}",
                        "file_name": "a.pdf",
                    },
                    content=PDF,
                    headers={"Content-Type": "application/pdf"},
                )
                if sent.status_code != 404 and not (refused_in_the_end and sent.status_code == 202):
                    return sent
                await asyncio.sleep(0.1)

    widget_refused = await widget_upload(tenant, refused_in_the_end=True)
    assert widget_refused.status_code == 413, widget_refused.text
    assert widget_refused.json()["error"]["code"] == "too_large"
    accepted = await widget_upload(third, refused_in_the_end=False)
    assert accepted.status_code == 202, accepted.text

    # And a WhatsApp document above the tenant's limit is refused, its caption kept.
    graph = stack["graph"]
    graph.expect_request(
        f"{GRAPH}/MEDIA-LIMIT-PDF",
        method="GET",
        headers={"Authorization": f"Bearer {tenant.meta.access_token}"},
    ).respond_with_json(
        {
            "messaging_product": "whatsapp",
            "url": graph.url_for("/lookaside/MEDIA-LIMIT-PDF"),
            "mime_type": "application/pdf",
            "file_size": len(PDF),
            "id": "MEDIA-LIMIT-PDF",
        }
    )
    document = {"id": "MEDIA-LIMIT-PDF", "filename": "big.pdf", "caption": "limited document"}
    await post_webhook(
        stack,
        tenant,
        whatsapp_body(tenant, {"id": "wamid.LIMIT1", "type": "document", "document": document}),
    )
    limited = (await messages_of(stack, tenant, {"limited document"}))["limited document"]
    assert limited["attachments"] == []
    assert [r["code"] for r in limited["refused_attachments"]] == ["too_large"]

    assert (await set_limit(tenant, None)).status_code == 200
    assert (await upload()).status_code == 201
