"""Which service answers which path: the one table behind the gateway, docker-compose's and
the Kubernetes Ingress's prefixes (``tests/unit/gateway/test_gateway_routes.py`` holds them equal).

The longest matching prefix wins; anything else under ``/v1`` is the conversation service
(the Portal API); paths outside ``/v1`` and ``/sdk`` are the Portal itself.
"""

from __future__ import annotations

import re
from typing import Final

PREFIXES: Final[dict[str, str]] = {
    "/v1/stats": "stats",
    "/v1/billing": "billing",
    "/v1/sla": "sla",
    "/v1/webchat": "ingest",
    "/v1/meta": "ingest",
    "/sdk": "ingest",
    "/v1": "conversation",
}


#: File uploads (docs/attachments.md): their bodies may be as large as a file
#: (``GATEWAY_MAX_UPLOAD_BYTES``); every other body keeps ``GATEWAY_MAX_BODY_BYTES``.
UPLOAD_PATHS: Final = (
    re.compile(r"/v1/conversations/[^/]+/attachments"),
    re.compile(r"/v1/webchat/[^/]+/files"),
)


def is_upload(path: str) -> bool:
    return any(p.fullmatch(path) for p in UPLOAD_PATHS)


def upstream_for(path: str) -> str | None:
    """The service for ``path``, or ``None`` when the Portal (static files) answers it."""
    for prefix in sorted(PREFIXES, key=len, reverse=True):
        if path == prefix or path.startswith(prefix + "/"):
            return PREFIXES[prefix]
    return None
