"""The gateway's path table: every service's API prefix reaches that service."""

from __future__ import annotations

import pytest

from services.gateway.routes import PREFIXES, upstream_for


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/v1/stats/conversations", "stats"),
        ("/v1/billing/invoices", "billing"),
        ("/v1/sla/service-levels", "sla"),
        ("/v1/webchat/abc/messages", "ingest"),
        ("/v1/webchat/abc/ws", "ingest"),
        ("/v1/meta/webhook", "ingest"),
        ("/sdk/widget.js", "ingest"),
        ("/v1/auth/login", "conversation"),
        ("/v1/events", "conversation"),
        ("/v1/statsx", "conversation"),  # a prefix is a whole path segment
        ("/v1", "conversation"),
        ("/", None),
        ("/reset-password", None),
        ("/assets/index.js", None),
        ("/sdkx", None),
    ],
)
def test_upstream_for(path: str, service: str | None) -> None:
    assert upstream_for(path) == service


def test_every_prefix_names_a_service_behind_the_gateway() -> None:
    assert set(PREFIXES.values()) == {"conversation", "ingest", "stats", "billing", "sla"}
