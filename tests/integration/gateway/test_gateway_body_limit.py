"""The gateway holds at most ``GATEWAY_MAX_BODY_BYTES`` of a request body while it forwards
it: a larger one is refused with 413, whether its length is declared or it comes in chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from services.gateway.__main__ import build
from services.gateway.settings import GatewaySettings

LIMIT = 1_000
UPLOAD_LIMIT = 5_000


def gateway(dist: Path) -> httpx.AsyncClient:
    (dist / "index.html").write_text("<!doctype html><title>Portal</title>")
    settings = GatewaySettings(
        gateway_max_body_bytes=LIMIT,
        gateway_max_upload_bytes=UPLOAD_LIMIT,
        portal_dist=dist,
        conversation_url="http://127.0.0.1:9",  # nothing listens: a forwarded request gets 502
        interact_env="development",
    )
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build(settings)), base_url="http://gw"
    )


async def test_a_body_over_the_limit_is_refused_before_it_is_forwarded(tmp_path: Path) -> None:
    async with gateway(tmp_path) as client:
        declared = await client.post(
            "/v1/users", content=b"x" * (LIMIT + 1), headers={"content-type": "application/json"}
        )
        assert declared.status_code == 413
        assert declared.json()["error"]["code"] == "body_too_large"

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(5):
                yield b"x" * 300

        streamed = await client.post("/v1/users", content=chunks())
        assert streamed.status_code == 413

        within = await client.post(
            "/v1/users", content=b"x" * LIMIT, headers={"content-type": "application/json"}
        )
        assert within.status_code == 502  # forwarded: the upstream is down
        assert within.json()["error"]["code"] == "upstream_unavailable"


async def test_file_uploads_have_their_own_larger_limit(tmp_path: Path) -> None:
    async with gateway(tmp_path) as client:
        for path in ("/v1/conversations/c1/attachments", "/v1/webchat/key/files"):
            file = await client.post(path, content=b"\0" * (LIMIT * 3))
            assert file.status_code == 502, path  # forwarded (the upstream is down)
            too_big = await client.post(path, content=b"\0" * (UPLOAD_LIMIT + 1))
            assert too_big.status_code == 413, path
            assert too_big.json()["error"]["details"]["limit"] == UPLOAD_LIMIT
        # Only those paths: another body keeps the ordinary limit.
        other = await client.post("/v1/conversations/c1/messages", content=b"x" * (LIMIT * 3))
        assert other.status_code == 413
