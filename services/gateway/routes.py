"""Which service answers which path: the one table behind the gateway, docker-compose's and
the Kubernetes Ingress's prefixes (``tests/unit/test_gateway_routes.py`` holds them equal).

The longest matching prefix wins; anything else under ``/v1`` is the conversation service
(the Portal API); paths outside ``/v1`` and ``/sdk`` are the Portal itself.
"""

from __future__ import annotations

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


def upstream_for(path: str) -> str | None:
    """The service for ``path``, or ``None`` when the Portal (static files) answers it."""
    for prefix in sorted(PREFIXES, key=len, reverse=True):
        if path == prefix or path.startswith(prefix + "/"):
            return PREFIXES[prefix]
    return None
