"""What every service's HTTP side has: /health, /ready, /metrics, /docs, /asyncapi, 4xx JSON errors.

Errors always have the shape ``{"error": {"code": "...", "message": "...", "details": ...}}``
so the Portal and scripts can act on ``code`` and show ``message``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from eventsourcing import persistence as es_persistence
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from swagger_ui_bundle import swagger_ui_path
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from shared.asyncapi import asyncapi_document
from shared.errors import Kind, Refusal

ReadyCheck = Callable[[], Awaitable[bool]]

log = logging.getLogger(__name__)

#: What a request meets while its database is away (connection refused, dropped, pool
#: exhausted), whichever layer raised it: SQLAlchemy, psycopg (and its pool), eventsourcing's
#: PostgreSQL store. Answered 503 ``database_unavailable``; the caller retries.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    es_persistence.OperationalError,
    es_persistence.InterfaceError,
    es_persistence.ConnectionUnavailableError,
)
DATABASE_UNAVAILABLE_ANSWERS = Counter(
    "interact_http_database_unavailable_total",
    "HTTP requests answered 503 database_unavailable because the database was away.",
)
#: Seconds a client should wait before it tries again while the database is away.
DATABASE_RETRY_AFTER_S = 5
#: At most one warning per this many seconds while the database stays away.
_WARN_EVERY_S = 60.0
_last_warning = [0.0]


#: Where the Swagger UI files (from the swagger-ui-bundle-v2 package) are served.
DOCS_ASSETS = "/docs/assets"


def new_app(**kwargs: Any) -> FastAPI:
    """A service's FastAPI app. ``/docs`` loads Swagger UI from files shipped in a package,
    not from a CDN, so it works on a machine without internet (no ReDoc: it needs a CDN)."""
    app = FastAPI(docs_url=None, redoc_url=None, **kwargs)
    app.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_path), name="docs-assets")

    async def docs(_request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )

    # A plain route like FastAPI's own /docs: a public page, not an API operation.
    app.add_route("/docs", docs, include_in_schema=False)
    # The platform's Kafka contract (shared.asyncapi), beside the HTTP one.
    app.add_route("/asyncapi", lambda _request: JSONResponse(asyncapi_document()))
    return app


#: The one mapping of a rule's refusal onto HTTP (shared.errors).
REFUSAL_STATUS: dict[Kind, int] = {
    "invalid": 422,
    "bad_request": 400,
    "conflict": 409,
    "not_found": 404,
    "forbidden": 403,
    "too_large": 413,
    "unsupported": 415,
    "gone": 410,
}


class ApiError(Exception):
    """A refusal the caller can act on: HTTP status, stable code, human message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details
        self.headers = headers


def rate_limited(retry_after: int, message: str) -> ApiError:
    """429 ``rate_limited`` with ``Retry-After`` (seconds), the same for every limit."""
    return ApiError(
        429,
        "rate_limited",
        message,
        {"retry_after_seconds": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


def client_address(request: Request) -> str:
    """The caller's address: the peer, or what a trusted proxy forwarded for it
    (``FORWARDED_ALLOW_IPS``; see :func:`install_error_handlers`)."""
    return request.client.host if request.client else "unknown"


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}


#: The largest request body a service reads (``HTTP_MAX_BODY_BYTES``); a route may have its
#: own through ``app.state.body_limits`` (path prefix -> bytes), like Meta's batched webhooks.
DEFAULT_MAX_BODY_BYTES = 1_000_000


class GuardBody:
    """Bodies are bounded and NUL-free at the door, before anything buffers them.

    - Larger than the limit: 413 ``body_too_large`` as soon as the ``Content-Length`` says
      so, or as soon as the streamed chunks pass it (chunked uploads have no length), so a
      client cannot make the service hold more than the limit in memory.
    - NUL characters: 422 (PostgreSQL cannot store them, and one that reached an event or
      a view would stop whatever projects it).

    Plain ASGI (not ``BaseHTTPMiddleware``), so streams and WebSockets pass untouched; the
    body is read once and handed on as it came (webhook signatures cover the raw bytes).
    """

    def __init__(self, app: Any, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    @staticmethod
    def binary_limit(scope: dict) -> int | None:
        """File uploads (``app.state.binary_bodies``: path regex -> bytes) carry any byte,
        NUL included, and have their own limit; None for every other path."""
        app = scope.get("app")
        patterns = getattr(getattr(app, "state", None), "binary_bodies", None) or {}
        path = scope.get("path", "")
        for pattern, limit in patterns.items():
            if pattern.fullmatch(path):
                return limit
        return None

    def limit_for(self, scope: dict) -> int:
        app = scope.get("app")
        limits: dict[str, int] = getattr(getattr(app, "state", None), "body_limits", None) or {}
        path = scope.get("path", "")
        for prefix, limit in limits.items():
            if path.startswith(prefix):
                return limit
        return self.max_body_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if b"%00" in scope.get("query_string", b"") or "\x00" in scope.get("path", ""):
            await self._refuse_nul(scope, send)
            return
        binary = self.binary_limit(scope)
        limit = binary if binary is not None else self.limit_for(scope)
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse_size(scope, send, limit)
            return
        messages, body, more = [], bytearray(), True
        while more:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if len(body) > limit:
                await self._refuse_size(scope, send, limit)
                return
            more = message.get("more_body", False)
        if binary is None and (b"\x00" in body or b"\\u0000" in body):
            await self._refuse_nul(scope, send)
            return

        async def replay() -> dict:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse_nul(scope: dict, send: Any) -> None:
        response = JSONResponse(
            error_body("nul_character", "Text may not contain NUL characters."), 422
        )
        await response(scope, None, send)  # type: ignore[arg-type]

    @staticmethod
    async def _refuse_size(scope: dict, send: Any, limit: int) -> None:
        response = JSONResponse(
            error_body(
                "body_too_large",
                f"A request body here is at most {limit} bytes.",
                {"max_bytes": limit},
            ),
            413,
            headers={"Connection": "close"},
        )
        await response(scope, None, send)  # type: ignore[arg-type]


def install_error_handlers(
    app: FastAPI,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    forwarded_allow_ips: str = "127.0.0.1",
) -> None:
    """Errors as 4xx JSON, and the door: bounded NUL-free bodies, and ``X-Forwarded-For`` /
    ``-Proto`` believed only from the proxies in ``forwarded_allow_ips`` (comma-separated
    addresses or networks; ``*`` trusts everyone: never behind a public address), so a
    client cannot choose the address its rate limits count against."""
    app.add_middleware(GuardBody, max_body_bytes=max_body_bytes)
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=forwarded_allow_ips)

    @app.exception_handler(Refusal)
    async def _refusal(_request: Request, exc: Refusal) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message, exc.details), status_code=REFUSAL_STATUS[exc.kind]
        )

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message, exc.details),
            status_code=exc.status,
            headers=exc.headers,
        )

    async def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
        DATABASE_UNAVAILABLE_ANSWERS.inc()
        now = time.monotonic()
        if now - _last_warning[0] > _WARN_EVERY_S:  # bounded: not one line per request
            _last_warning[0] = now
            log.warning("database unavailable; answering 503", extra={"error": repr(exc)[:300]})
        return JSONResponse(
            error_body(
                "database_unavailable",
                "The database cannot be reached right now; try again shortly.",
                {"retry_after_seconds": DATABASE_RETRY_AFTER_S},
            ),
            status_code=503,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
        )

    for unavailable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, _database_unavailable)

    @app.exception_handler(sa_exc.DBAPIError)
    async def _dbapi(request: Request, exc: sa_exc.DBAPIError) -> JSONResponse:
        if exc.connection_invalidated or isinstance(exc.orig, DATABASE_UNAVAILABLE):
            return await _database_unavailable(request, exc)
        raise exc

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        return JSONResponse(
            error_body("invalid_request", "The request is not valid.", details), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )


def install_probes(app: FastAPI, registry: CollectorRegistry, ready: ReadyCheck) -> None:
    """Liveness (/health), readiness (/ready: dependencies answer) and /metrics."""

    @app.get("/health", tags=["operations"], summary="Liveness: the process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", tags=["operations"], summary="Readiness: broker and database reachable")
    async def readiness() -> JSONResponse:
        ok = await ready()
        return JSONResponse(
            {"status": "ready" if ok else "not ready"}, status_code=200 if ok else 503
        )

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
