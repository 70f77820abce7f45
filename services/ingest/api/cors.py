"""Cross-origin requests of the widget: its HTTP paths answer the channel's own websites.

The widget runs on the tenant's site, another origin than ingest's, and sends files (and
may send messages) over plain HTTP: ``POST /v1/webchat/{key}/files``, ``.../messages``,
and reads the files of replies, ``GET /v1/webchat/{key}/files/{id}`` (and fresh links to
them, ``.../files/{id}/links``). A browser lets the
page read those answers only when they name its origin (CORS), and asks first
(a preflight ``OPTIONS``) before a ``POST`` of a file or of JSON. The origins are the
channel's allowed origins (``ChannelOriginsSet``, the same list the socket checks), so
the answer depends on the key in the path and cannot be a fixed list:

- a preflight from an allowed origin: ``204`` with ``Access-Control-Allow-Origin`` set to
  that origin, the methods and the ``Content-Type`` header allowed, cached for
  :data:`MAX_AGE_S`;
- a preflight from any other origin: ``403 origin_not_allowed`` (``404 unknown_channel``
  for a key no connected chat has), without CORS headers, so the browser refuses the
  request itself;
- every other answer on these paths to an allowed origin (errors included, so the widget
  can show why a file was refused) carries ``Access-Control-Allow-Origin``; to another
  origin it carries none, and the endpoints refuse the request anyway (403).

No cookies or credentials: a visitor is known by the id the widget keeps, not by a
session, so ``Access-Control-Allow-Credentials`` is never sent.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse, Response

from services.ingest.domain.webchat import origin_allowed
from shared.http import error_body

#: The widget's HTTP paths (the socket checks its ``Origin`` on its own).
PATHS = re.compile(r"/v1/webchat/(?P<key>[^/]{1,64})/(?:messages|files(?:/[^/]+(?:/links)?)?)")
METHODS = ("GET", "POST")
MAX_AGE_S = 600


class WidgetCors:
    """Plain ASGI middleware: nothing on other paths, requests without ``Origin`` (servers,
    scripts, same-origin ``GET``) pass untouched; the channel comes from the cached
    directory on ``app.state.webchat.channels``, so an allowed origin costs no query."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        match = PATHS.fullmatch(scope.get("path", "")) if scope["type"] == "http" else None
        headers = Headers(scope=scope) if match else None
        origin = headers.get("origin") if headers is not None else None
        if match is None or headers is None or origin is None:
            await self.app(scope, receive, send)
            return
        channel = await scope["app"].state.webchat.channels.lookup(match["key"])
        allowed = channel is not None and origin_allowed(origin, channel.allowed_origins, None)
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(scope, send, origin, channel is not None, allowed, headers)
            return
        if not allowed:
            await self.app(scope, receive, send)
            return

        async def with_cors(message: dict) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out["Access-Control-Allow-Origin"] = origin
                out["Access-Control-Expose-Headers"] = "Retry-After, Content-Disposition"
                out.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, with_cors)

    @staticmethod
    async def _preflight(
        scope: dict, send: Any, origin: str, known: bool, allowed: bool, headers: Headers
    ) -> None:
        vary = {"Vary": "Origin"}
        method = headers["access-control-request-method"].upper()
        if not known:
            response: Response = JSONResponse(
                error_body("unknown_channel", "No connected website chat has this key."),
                404,
                headers=vary,
            )
        elif not allowed:
            response = JSONResponse(
                error_body(
                    "origin_not_allowed",
                    "This website is not allowed to use this chat: an administrator lists "
                    "it in the channel's allowed origins.",
                    {"origin": origin[:200]},
                ),
                403,
                headers=vary,
            )
        elif method not in METHODS:
            response = JSONResponse(
                error_body(
                    "method_not_allowed",
                    f"The chat's paths take {' and '.join(METHODS)} only.",
                    {"method": method[:20]},
                ),
                405,
                headers={**vary, "Allow": ", ".join(METHODS)},
            )
        else:
            response = Response(
                status_code=204,
                headers={
                    **vary,
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Allow-Methods": ", ".join(METHODS),
                    "Access-Control-Allow-Headers": "Content-Type",
                    "Access-Control-Max-Age": str(MAX_AGE_S),
                },
            )
        await response(scope, None, send)  # type: ignore[arg-type]
