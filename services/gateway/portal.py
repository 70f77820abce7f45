"""The built Portal at ``/``: its files as they are, and ``index.html`` for every other path
(a single-page app routes in the browser), so the links our mails send
(``PUBLIC_BASE_URL/reset-password?token=...``) open the Portal's own page."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

NOT_BUILT = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Interact</title></head>"
    "<body><main><h1>The Portal is not built</h1><p>Run <code>scripts/setup</code> (it runs "
    "<code>npm ci &amp;&amp; npm run build</code> in <code>portal/</code>) and reload.</p>"
    "</main></body></html>"
)


class PortalFiles:
    def __init__(self, dist: Path) -> None:
        self.dist = dist.resolve()

    def built(self) -> bool:
        return (self.dist / "index.html").is_file()

    async def serve(self, request: Request) -> Response:
        if not self.built():
            return HTMLResponse(NOT_BUILT, status_code=503)
        relative = request.url.path.lstrip("/")
        if relative:
            candidate = (self.dist / relative).resolve()
            if candidate.is_relative_to(self.dist) and candidate.is_file():
                # Vite names assets by content hash: they never change under one name.
                cache = (
                    "public, max-age=31536000, immutable"
                    if candidate.parent.name == "assets"
                    else "no-cache"
                )
                return FileResponse(candidate, headers={"Cache-Control": cache})
        return FileResponse(
            self.dist / "index.html",
            headers={
                "Cache-Control": "no-cache",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "same-origin",
                "X-Frame-Options": "DENY",
            },
        )
