"""The website chat's HTTP side: the widget script, a demo page, and the visitor socket.

The socket protocol (frames, sequence numbers, acks, close codes) is described in
``docs/webchat-sdk.md``; the rules it applies live in ``domain/webchat.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from faststream.kafka import KafkaBroker
from prometheus_client import Counter, Gauge
from sqlalchemy import Engine
from starlette.websockets import WebSocketDisconnect

from services.ingest.api.webchat_hub import Hub
from services.ingest.application import webchat as application
from services.ingest.application.webchat_limits import WidgetLimits
from services.ingest.domain.webchat import (
    CLOSE_BAD_FRAME,
    CLOSE_ORIGIN_REFUSED,
    CLOSE_TRY_AGAIN,
    CLOSE_UNKNOWN_CHANNEL,
    BadFrame,
    Frame,
    Hello,
    Ping,
    Seen,
    Send,
    origin_allowed,
    parse_frame,
)
from services.ingest.settings import WebchatSettings
from services.ingest.store import webchat as store
from services.ingest.store import webchat_files as file_store
from shared.http import error_body, rate_limited

log = logging.getLogger(__name__)
router = APIRouter(tags=["website chat"])
STATIC = Path(__file__).parent / "static"
PAGE_SIZE = 100


@dataclass
class Webchat:
    """What the widget's endpoints need, on ``app.state.webchat`` (``consumers.webchat.install``)."""

    engine: Engine
    broker: KafkaBroker
    channels: store.ChannelDirectory
    hub: Hub
    settings: WebchatSettings
    limits: WidgetLimits


OPEN_SOCKETS = Gauge("interact_webchat_open_sockets", "Visitor sockets open on this replica.")
REFUSED = Counter(
    "interact_webchat_refused_total", "Visitor sockets closed for a reason.", ["reason"]
)
VISITOR_MESSAGES = Counter(
    "interact_webchat_visitor_messages_total", "Visitor messages published and acknowledged."
)


@router.get("/sdk/widget.js", include_in_schema=False)
async def widget_script() -> FileResponse:
    """The embeddable widget: plain JavaScript, no build step."""
    return FileResponse(
        STATIC / "widget.js",
        media_type="text/javascript; charset=utf-8",
        headers={
            "Cache-Control": "public, max-age=300",
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )


@router.get("/sdk/demo/{public_key}", response_class=HTMLResponse, include_in_schema=False)
async def demo_page(public_key: str, request: Request) -> HTMLResponse:
    """A page served by ingest itself with the widget on it: same-origin, so it works before
    an administrator has listed any website."""
    await application.channel_for_page(channels(request.app), public_key, None, None)
    key = html.escape(public_key, quote=True)
    return HTMLResponse(
        "<!doctype html><html><head><meta charset='utf-8'><title>Website chat demo</title>"
        "</head><body><h1>Website chat demo</h1>"
        f"<script src='/sdk/widget.js' data-channel='{key}'></script></body></html>"
    )


def channels(app: Any) -> store.ChannelDirectory:
    return app.state.webchat.channels


def public_host(headers: Any) -> str | None:
    """The host the browser spoke to: the gateway's (``X-Forwarded-Host``) when behind it.

    Trusting the header is safe here: it only widens the same-origin check, and a browser
    (the one client the Origin check defends against) cannot set it on a socket or a fetch."""
    return headers.get("x-forwarded-host") or headers.get("host")


def own_origin(scheme: str, host: str | None) -> str | None:
    """The origin of pages served by this service (same-origin is always allowed)."""
    if not host:
        return None
    return f"{'https' if scheme in ('https', 'wss') else 'http'}://{host}"


@router.websocket("/v1/webchat/{public_key}/ws")
async def visitor_socket(websocket: WebSocket, public_key: str) -> None:
    chat: Webchat = websocket.app.state.webchat
    channel = None
    if len(public_key) <= 64:
        channel = await chat.channels.lookup(public_key)
    if channel is not None:
        address = websocket.client.host if websocket.client else "unknown"
        verdict = await chat.limits.socket(public_key, address)
        if not verdict.allowed:
            await refuse_rate_limited(websocket, verdict.retry_after)
            return
    await websocket.accept()
    if channel is None:
        await refuse(
            websocket,
            CLOSE_UNKNOWN_CHANNEL,
            "unknown_channel",
            "No connected website chat has this key.",
        )
        return
    origin = websocket.headers.get("origin")
    here = own_origin(websocket.url.scheme, public_host(websocket.headers))
    if not origin_allowed(origin, channel.allowed_origins, here):
        await refuse(
            websocket,
            CLOSE_ORIGIN_REFUSED,
            "origin_not_allowed",
            "This website is not allowed to open this chat.",
        )
        return
    OPEN_SOCKETS.inc()
    try:
        await VisitorSession(websocket, chat, channel).run()
    finally:
        OPEN_SOCKETS.dec()


async def refuse_rate_limited(websocket: WebSocket, retry_after: int) -> None:
    """Too many sockets: an HTTP 429 with ``Retry-After`` instead of the upgrade where the
    server can send one (uvicorn can), else an ``error`` frame and close 1013 (try again)."""
    REFUSED.labels("rate_limited").inc()
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        error = rate_limited(retry_after, "Too many chats opened; try again later.")
        await websocket.send_denial_response(
            JSONResponse(
                error_body(error.code, error.message, error.details), 429, headers=error.headers
            )
        )
        return
    await websocket.accept()
    with contextlib.suppress(Exception):
        await websocket.send_text(orjson.dumps(_rate_limited_frame(retry_after)).decode())
        await websocket.close(CLOSE_TRY_AGAIN, "rate_limited")


def _rate_limited_frame(retry_after: int, client_id: str | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "error",
        "code": "rate_limited",
        "message": "Too many messages; this one was not taken, send it again later.",
        "retry_after": retry_after,
    }
    if client_id is not None:
        frame["client_id"] = client_id
    return frame


async def refuse(websocket: WebSocket, close_code: int, code: str, message: str) -> None:
    """Say why in an ``error`` frame, then close with ``close_code``."""
    REFUSED.labels(code).inc()
    with contextlib.suppress(Exception):  # the visitor may be gone already
        await websocket.send_text(
            orjson.dumps({"type": "error", "code": code, "message": message}).decode()
        )
        await websocket.close(close_code, code)


class VisitorSession:
    """One open socket of one visitor: frames in (publish, ack), mailbox out (push)."""

    def __init__(self, websocket: WebSocket, chat: Webchat, channel: store.WebchatChannel) -> None:
        self.ws, self.chat, self.channel = websocket, chat, channel
        self.lock = asyncio.Lock()
        self.hello: Hello | None = None
        #: Client ids acked on this socket: a resend is acked again without publishing again.
        self.acked: set[str] = set()

    async def send(self, frame: dict[str, Any]) -> None:
        async with self.lock:
            await self.ws.send_text(orjson.dumps(frame).decode())

    async def next_frame(self) -> Frame:
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        return parse_frame(text if text is not None else message.get("bytes"))

    async def run(self) -> None:
        try:
            hello = await asyncio.wait_for(
                self.next_frame(), self.chat.settings.hello_timeout_seconds
            )
            if not isinstance(hello, Hello):
                raise BadFrame(CLOSE_BAD_FRAME, "hello_required", "Send hello first.")
        except TimeoutError:
            await refuse(self.ws, CLOSE_BAD_FRAME, "hello_required", "Send hello first.")
            return
        except BadFrame as bad:
            await refuse(self.ws, bad.close_code, bad.code, bad.message)
            return
        except WebSocketDisconnect:
            return
        self.hello = hello
        key = (self.channel.channel_id, hello.visitor_id)
        wake = self.chat.hub.register(key)
        pusher: asyncio.Task[None] | None = None
        try:
            server_last = await asyncio.to_thread(
                store.last_seq, self.chat.engine, self.channel, hello.visitor_id
            )
            await self.send(
                {"type": "welcome", "visitor_id": hello.visitor_id, "last_seq": server_last}
            )
            pusher = asyncio.create_task(self.push(wake, min(hello.last_seq, server_last)))
            await self.read()
        except WebSocketDisconnect:
            pass
        except BadFrame as bad:
            await refuse(self.ws, bad.close_code, bad.code, bad.message)
        finally:
            self.chat.hub.unregister(key, wake)
            if pusher is not None:
                pusher.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pusher

    async def read(self) -> None:
        assert self.hello is not None
        while True:
            frame = await self.next_frame()
            if isinstance(frame, Ping):
                await self.send({"type": "pong"})
            elif isinstance(frame, Send):
                if not await self.receive(frame):
                    return
            elif isinstance(frame, Seen):
                await self.seen(frame.seq)
            else:
                raise BadFrame(CLOSE_BAD_FRAME, "hello_once", "Send hello only once.")

    async def receive(self, frame: Send) -> bool:
        """Publish, then ack; False when the socket was closed instead."""
        assert self.hello is not None
        if frame.client_id in self.acked:  # a resend of what this socket already acked
            await self.send({"type": "ack", "seq": frame.seq, "client_id": frame.client_id})
            return True
        channel = await self.chat.channels.lookup(self.channel.public_key)
        if channel is None:
            await refuse(
                self.ws, CLOSE_UNKNOWN_CHANNEL, "unknown_channel", "The chat was disconnected."
            )
            return False
        address = self.ws.client.host if self.ws.client else "unknown"
        verdict = await self.chat.limits.message(channel.public_key, self.hello.visitor_id, address)
        if not verdict.allowed:  # not acked: the widget sends it again after retry_after
            REFUSED.labels("rate_limited").inc()
            await self.send(_rate_limited_frame(verdict.retry_after, frame.client_id))
            return True
        try:
            await application.receive_visitor_message(
                self.chat.broker,
                channel,
                visitor_id=self.hello.visitor_id,
                client_id=frame.client_id,
                text=frame.text,
                visitor_name=self.hello.visitor_name,
                locale=self.hello.locale,
            )
        except application.BrokerUnavailable:
            await refuse(
                self.ws, CLOSE_TRY_AGAIN, "broker_unavailable", "Not stored; reconnect and resend."
            )
            return False
        VISITOR_MESSAGES.inc()
        if len(self.acked) > 10_000:  # bounded; downstream deduplicates anyway
            self.acked.clear()
        self.acked.add(frame.client_id)
        await self.send({"type": "ack", "seq": frame.seq, "client_id": frame.client_id})
        return True

    async def seen(self, up_to_seq: int) -> None:
        """Read receipts: ``read`` for each message not reported read before."""
        assert self.hello is not None
        newly_read = await asyncio.to_thread(
            store.mark_read, self.chat.engine, self.channel, self.hello.visitor_id, up_to_seq
        )
        if newly_read:
            try:
                await application.report(
                    self.chat.broker, application.status_events(newly_read, "read")
                )
            except Exception:  # optional receipts: a lost one is not worth the socket
                log.warning("read receipts not published", exc_info=True)

    async def push(self, wake: asyncio.Event, after_seq: int) -> None:
        """Send the mailbox from ``after_seq`` on, then each new message when woken."""
        assert self.hello is not None
        last = after_seq
        while True:
            wake.clear()
            messages = await asyncio.to_thread(
                store.mailbox_after,
                self.chat.engine,
                self.channel,
                self.hello.visitor_id,
                last,
                PAGE_SIZE,
            )
            files = await asyncio.to_thread(
                file_store.files_of,
                self.chat.engine,
                self.channel.tenant_id,
                [m.message_id for m in messages if m.kind == "attachment"],
            )
            for m in messages:
                frame = message_frame(m)
                if m.message_id in files:
                    frame["attachments"] = file_store.frame_attachments(
                        self.ws.app.state.widget_files,
                        self.channel.public_key,
                        self.channel,
                        self.hello.visitor_id,
                        files[m.message_id],
                    )
                await self.send(frame)
                last = m.seq
            if len(messages) < PAGE_SIZE:
                await wake.wait()


def message_frame(m: store.MailboxMessage) -> dict[str, Any]:
    return {
        "type": "message",
        "seq": m.seq,
        "message_id": m.message_id,
        "author": m.author,
        "kind": m.kind,
        "text": m.text,
        "url": m.url,
        "at": m.created_at.isoformat(),
    }
