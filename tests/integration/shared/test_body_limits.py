"""Request bodies are bounded at the door of every service, while they stream in
(docs/security.md, T2): a client cannot make a service buffer more than the limit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.apps import SERVICES, service_apps

LIMIT = 64 * 1024
CHUNK = 16 * 1024


@pytest.fixture(scope="module")
def apps(kafka_bootstrap, tmp_path_factory):  # type: ignore[no-untyped-def]
    return service_apps(
        tmp_path_factory.mktemp("limits"), kafka_bootstrap, http_max_body_bytes=LIMIT
    )


def _routes(app) -> list[str]:  # type: ignore[no-untyped-def]
    """Every path of the service that takes a body (POST, PUT, PATCH) under the default limit."""
    paths = []
    own_limits = getattr(app.state, "body_limits", {})  # tested on their own below
    uploads = getattr(app.state, "binary_bodies", {})  # file uploads: their own test below
    for path, item in app.openapi()["paths"].items():
        filled = path.replace("{", "").replace("}", "")  # any id: refused first
        if any(p.fullmatch(filled) for p in uploads):
            continue
        if {"post", "put", "patch"} & item.keys() and not path.startswith(tuple(own_limits)):
            paths.append(filled)
    return paths or ["/health"]


@pytest.mark.parametrize("name", SERVICES)
async def test_a_declared_length_over_the_limit_is_refused_before_reading(apps, name):
    app = apps[name]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        for path in _routes(app):
            response = await c.post(
                path,
                content=b"{" + b" " * LIMIT + b"}",
                headers={"Content-Type": "application/json"},
            )
            assert response.status_code == 413, f"{name} {path}: {response.status_code}"
            error = response.json()["error"]
            assert error["code"] == "body_too_large"
            assert error["details"]["max_bytes"] == LIMIT


@pytest.mark.parametrize("name", SERVICES)
async def test_a_chunked_body_is_cut_off_as_soon_as_it_passes_the_limit(apps, name):
    """No Content-Length: the refusal comes while streaming, long before the body ends."""
    app = apps[name]
    sent: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(1000):  # 16 MB if it were all read
            sent.append(CHUNK)
            yield b" " * CHUNK

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        path = _routes(app)[0]
        response = await c.post(
            path, content=endless(), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    assert sum(sent) <= LIMIT + CHUNK  # read no further than the chunk that passed it


@pytest.mark.parametrize("name", SERVICES)
async def test_a_body_under_the_limit_goes_through(apps, name):
    app = apps[name]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        for path in _routes(app):
            response = await c.post(
                path, content=b"{}", headers={"Content-Type": "application/json"}
            )
            assert response.status_code != 413, f"{name} {path}"
            assert response.status_code < 500, f"{name} {path}: {response.text}"


async def test_the_meta_webhook_has_its_own_larger_limit(apps):
    from services.ingest.api.meta_webhook import MAX_BODY_BYTES

    app = apps["ingest"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        under = await c.post(
            "/v1/meta/webhook",
            content=b"{" + b" " * (LIMIT * 2) + b"}",
            headers={"Content-Type": "application/json"},
        )
        over = await c.post(
            "/v1/meta/webhook",
            content=b" " * (MAX_BODY_BYTES + 1),
            headers={"Content-Type": "application/json"},
        )
    assert under.status_code == 401  # read, then refused for its missing signature
    assert over.status_code == 413


@pytest.mark.parametrize("name", ["conversation", "ingest"])
async def test_file_uploads_have_their_own_limit_and_may_carry_nul(apps, name):
    """Above the attachment limit (and its margin): 413 before reading; under it, NUL bytes
    pass the door (a file is binary) and the endpoint itself judges the file."""
    app = apps[name]
    (limit,) = app.state.binary_bodies.values()
    path = {
        "conversation": "/v1/conversations/00000000-0000-0000-0000-000000000000/attachments",
        "ingest": "/v1/webchat/nokey/files",
    }[name]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        too_big = await c.post(path, content=b"\0" * (limit + 1))
        binary = await c.post(path, content=b"\0" * (LIMIT * 2))
    assert too_big.status_code == 413
    assert too_big.json()["error"]["details"]["max_bytes"] == limit
    assert binary.status_code != 413, binary.text  # past the door: 401, 404 or a query error
    assert binary.json()["error"]["code"] != "nul_character"
