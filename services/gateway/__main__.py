"""``python -m services.gateway``: one public origin in front of the services.

``/v1/...`` and ``/sdk/...`` go to the service that owns the prefix (``routes.py``), answers
stream through (server-sent events unbuffered), the website chat's WebSocket is relayed, and
every other path is the built Portal with its single-page fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from prometheus_client import REGISTRY

from services.gateway.portal import PortalFiles
from services.gateway.proxy import Proxy
from services.gateway.settings import GatewaySettings
from shared.http import install_probes
from shared.service import serve

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def build(settings: GatewaySettings) -> FastAPI:
    # httpx logs every request at INFO: one line per forwarded request is too many.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    proxy = Proxy(
        settings.upstreams(),
        settings.upstream_connect_timeout_s,
        settings.upstream_max_connections,
        settings.gateway_max_body_bytes,
        settings.gateway_max_upload_bytes,
    )
    portal = PortalFiles(settings.portal_dist)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await proxy.close()

    async def ready() -> bool:
        """Every service behind the gateway answers its liveness probe."""

        async def alive(url: str) -> bool:
            try:
                return (await proxy.client.get(f"{url}/health", timeout=2)).status_code == 200
            except httpx.HTTPError:
                return False

        return all(await asyncio.gather(*(alive(u) for u in proxy.upstreams.values())))

    app = FastAPI(
        title="Interact gateway",
        version="1.0.0",
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.proxy = proxy
    install_probes(app, REGISTRY, ready)
    app.add_api_websocket_route("/{path:path}", proxy.relay_socket)
    for prefix in ("/v1", "/sdk"):
        app.add_api_route(f"{prefix}/{{path:path}}", proxy.forward, methods=METHODS)
    app.add_api_route("/{path:path}", portal.serve, methods=["GET", "HEAD"])
    return app


def main() -> None:
    settings = GatewaySettings()
    serve(build(settings), settings)


if __name__ == "__main__":
    main()
