"""Forwarding to the services: HTTP answers stream through unbuffered (server-sent events
arrive as they are sent), WebSockets (the website chat) are relayed frame by frame.

The services see the browser's address in ``X-Forwarded-For`` (uvicorn trusts it from the
gateway's address, so login's per-address limit counts people, not the gateway) and the
public host in ``X-Forwarded-Host`` (the website chat's same-origin check).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx
import websockets
from fastapi import Request, WebSocket
from prometheus_client import Counter
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.websockets import WebSocketDisconnect, WebSocketState
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from services.gateway.routes import is_upload, upstream_for
from shared.http import error_body

log = logging.getLogger(__name__)

#: Headers of one hop only (RFC 9110 §7.6.1), never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
    }
)
FORWARDED = Counter(
    "interact_gateway_requests_total",
    "Requests forwarded, by service and status class.",
    ["upstream", "status"],
)


def _forwarded_headers(
    client_host: str | None, scheme: str, host: str | None
) -> list[tuple[str, str]]:
    headers = [("x-forwarded-proto", scheme)]
    if client_host:
        headers.append(("x-forwarded-for", client_host))
    if host:
        headers.append(("x-forwarded-host", host))
    return headers


def _unavailable(upstream: str) -> Response:
    return JSONResponse(
        error_body("upstream_unavailable", f"The {upstream} service does not answer; retry."),
        status_code=502,
    )


def _too_large(limit: int) -> Response:
    return JSONResponse(
        error_body(
            "body_too_large", f"A request body may be {limit} bytes at most.", {"limit": limit}
        ),
        status_code=413,
    )


class Proxy:
    def __init__(
        self,
        upstreams: dict[str, str],
        connect_timeout: float,
        max_connections: int,
        max_body_bytes: int = 4_000_000,
        max_upload_bytes: int | None = None,
    ):
        self.upstreams = {name: url.rstrip("/") for name, url in upstreams.items()}
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes or max_body_bytes
        self.client = httpx.AsyncClient(
            # One client serves every browser: a cookie jar would keep the last sign-in's
            # session and send it with every cookieless request, signing strangers in as that
            # person. Cookies pass through as the headers they are; the jar stores none.
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            timeout=httpx.Timeout(None, connect=connect_timeout),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=100),
            follow_redirects=False,
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def forward(self, request: Request) -> Response:
        """One request to its service; the answer streams back as it comes."""
        upstream = upstream_for(request.url.path) or "conversation"
        url = httpx.URL(
            self.upstreams[upstream] + request.url.path, query=request.url.query.encode()
        )
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in request.headers.raw
            if k.decode("latin-1").lower() not in HOP_BY_HOP
            and not k.decode("latin-1").lower().startswith("x-forwarded-")
        ]
        headers += _forwarded_headers(
            request.client.host if request.client else None,
            request.url.scheme,
            request.headers.get("host"),
        )
        limit = self.max_upload_bytes if is_upload(request.url.path) else self.max_body_bytes
        body = await self._bounded_body(request, limit)  # requests are small; answers stream
        if body is None:
            return _too_large(limit)
        outgoing = self.client.build_request(
            request.method, url, headers=headers, content=body or None
        )
        try:
            answer = await self.client.send(outgoing, stream=True)
        except httpx.HTTPError:
            FORWARDED.labels(upstream, "unavailable").inc()
            return _unavailable(upstream)
        FORWARDED.labels(upstream, f"{answer.status_code // 100}xx").inc()
        response = StreamingResponse(
            answer.aiter_raw(),
            status_code=answer.status_code,
            background=BackgroundTask(answer.aclose),
        )
        response.raw_headers = [
            (k, v) for k, v in answer.headers.raw if k.decode("latin-1").lower() not in HOP_BY_HOP
        ]
        return response

    async def _bounded_body(self, request: Request, limit: int) -> bytes | None:
        """The body, or None once it passes the limit: by its Content-Length, or while its
        chunks arrive, so a client cannot make the gateway hold more than the limit."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return None
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return None
        return bytes(body)

    async def relay_socket(self, websocket: WebSocket) -> None:
        """The website chat's socket: opened upstream first, then frames both ways; a close
        (with its code and reason, e.g. an unknown channel) is passed on."""
        path = websocket.url.path
        upstream = upstream_for(path) or "conversation"
        base = (
            self.upstreams[upstream].replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        )
        query = f"?{websocket.url.query}" if websocket.url.query else ""
        extra = _forwarded_headers(
            websocket.client.host if websocket.client else None,
            "wss" if websocket.url.scheme == "wss" else "ws",
            websocket.headers.get("host"),
        )
        origin = websocket.headers.get("origin")
        try:
            upstream_socket = await connect(
                base + path + query,
                origin=origin,  # type: ignore[arg-type]
                additional_headers=extra,
                open_timeout=10,
                max_size=2**20,
            )
        except (OSError, websockets.InvalidHandshake, TimeoutError):
            FORWARDED.labels(upstream, "unavailable").inc()
            await websocket.close(1011, "upstream_unavailable")
            return
        FORWARDED.labels(upstream, "ws").inc()
        await websocket.accept()

        async def to_upstream() -> None:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    await upstream_socket.close()
                    return
                data = message.get("text")
                await upstream_socket.send(
                    data if data is not None else message.get("bytes") or b""
                )

        async def to_client() -> None:
            try:
                async for data in upstream_socket:
                    if isinstance(data, str):
                        await websocket.send_text(data)
                    else:
                        await websocket.send_bytes(data)
            except ConnectionClosed:
                pass
            code = upstream_socket.close_code or 1000
            reason = upstream_socket.close_reason or ""
            if websocket.client_state == WebSocketState.CONNECTED:
                with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                    await websocket.close(code if code != 1006 else 1011, reason)

        tasks = [asyncio.create_task(to_upstream()), asyncio.create_task(to_client())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await upstream_socket.close()
