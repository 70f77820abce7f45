"""Every service's ``/docs`` works without internet: the page loads Swagger UI from the
service itself (files shipped in a package), never from a CDN. Checked on the running
stack over HTTP, and in headless Chromium with every request off the machine refused."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import expect, sync_playwright

from services.stack import API_SERVICES

CHROMIUM = "/usr/bin/chromium"
ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


def test_every_services_docs_page_uses_only_its_own_assets(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack("sqlite")
    for name in API_SERVICES:
        base = stack.url(name)
        page = httpx.get(f"{base}/docs")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assets = ASSET.findall(page.text)
        assert any(a.endswith(".js") for a in assets), (name, assets)
        assert "cdn" not in page.text.lower()
        for asset in assets:
            assert urlsplit(asset).netloc == "" and asset.startswith("/"), (name, asset)
            answer = httpx.get(f"{base}{asset}")
            assert answer.status_code == 200, (name, asset)
            if asset.endswith(".js"):
                assert "javascript" in answer.headers["content-type"]
                assert "SwaggerUIBundle" in answer.text
            if asset.endswith(".css"):
                assert answer.headers["content-type"].startswith("text/css")

    # The page renders the API with the network beyond this machine cut off.
    base = stack.url("conversation")
    refused: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()

            def local_only(route) -> None:  # type: ignore[no-untyped-def]
                if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
                    route.continue_()
                else:
                    refused.append(route.request.url)
                    route.abort()

            page.route("**/*", local_only)
            page.goto(f"{base}/docs")
            expect(page.locator(".swagger-ui .info .title")).to_contain_text(
                "Interact Portal API", timeout=20_000
            )
            expect(page.locator(".opblock-tag-section").first).to_be_visible()
        finally:
            browser.close()
    assert refused == []
