#!/usr/bin/env python
"""Benchmark of the Portal in Chromium: first-load JavaScript and a 5,000-conversation Inbox.

The built Portal (``portal/dist``; ``scripts/setup`` builds it) is served to Debian's Chromium
by Playwright's request routing, with a stand-in API that answers like the conversation
service: a signed-in Agent whose queue holds N conversations (default 5,000), paged 200 at a
time as ``GET /v1/queue`` pages. Measured:

- first load: the JavaScript the sign-in page and the Inbox fetch, raw and gzip-compressed
  (target: at most 250 KB gzip for the first load);
- time to first render of the Inbox (navigation until the first queue row shows);
- time to open a conversation (click until its messages show), median of several;
- time to scroll the whole queue (every page fetched, the list virtualised).

Figures are printed and written to ``bench/results/portal-<timestamp>.json``.

    .venv/bin/python bench/portal.py
    .venv/bin/python bench/portal.py -n 20000 --opens 20
"""

from __future__ import annotations

import argparse
import gzip
import json
import mimetypes
import platform
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Route, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "portal" / "dist"
BASE = "http://portal.bench"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ME = str(uuid.uuid4())
TENANT = str(uuid.uuid4())
CHANNEL = str(uuid.uuid4())
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def conversation(n: int) -> dict:
    return {
        "conversation_id": str(uuid.UUID(int=n + 1)),
        "channel_id": CHANNEL,
        "channel_type": "webchat",
        "visitor_id": str(uuid.UUID(int=10**9 + n)),
        "language": "nl",
        "status": "assigned",
        "assignee_id": ME,
        "opened_at": (T0 + timedelta(seconds=n)).isoformat(),
        "last_message_at": (T0 + timedelta(seconds=n)).isoformat(),
        "message_count": 1,
        "preview": f"Vraag nummer {n}: waar blijft mijn bestelling?",
        "required_competences": [],
        "topics": [],
        "handover": None,
        "dispatched": False,
        "closed_at": None,
        "last_error": None,
    }


class StandIn:
    """The API the Inbox calls, answering from memory; counts what the browser fetched."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.scripts: dict[str, tuple[int, int]] = {}

    def me(self) -> dict:
        return {
            "user_id": ME,
            "first_name": "Nora",
            "last_name": "Nederlands",
            "email": "nora@demo.example",
            "role": "agent",
            "language": "nl",
            "presence": "online",
            "tenant_id": TENANT,
            "tenant_name": "Demo Bakery",
            "plan": "pro",
            "sdk_option": True,
            "default_language": "nl",
            "time_zone": "Europe/Brussels",
            "functions": ["conversations", "faq", "chatbot.handover", "self", "service_levels"],
            "expires_at": (T0 + timedelta(hours=12)).isoformat(),
        }

    def api(self, path: str, query: dict[str, list[str]]) -> tuple[int, object]:
        if path == "/v1/me":
            return 200, self.me()
        if path == "/v1/queue":
            offset, limit = int(query.get("offset", ["0"])[0]), int(query.get("limit", ["50"])[0])
            items = [conversation(n) for n in range(offset, min(offset + limit, self.total))]
            return 200, {"items": items, "total": self.total, "offset": offset, "limit": limit}
        if path.startswith("/v1/conversations/"):
            n = uuid.UUID(path.rsplit("/", 1)[1]).int - 1
            detail = conversation(n) | {
                "messages": [
                    {
                        "message_id": str(uuid.uuid4()),
                        "direction": "in",
                        "author": "visitor",
                        "kind": "text",
                        "text": conversation(n)["preview"],
                        "at": conversation(n)["opened_at"],
                    }
                ],
                "notes": [],
                "assignment": None,
            }
            return 200, detail
        if path.startswith("/v1/visitors/"):
            return 200, {
                "visitor_id": path.rsplit("/", 1)[1],
                "channel_id": CHANNEL,
                "external_id": "v",
                "name": None,
                "first_name": None,
                "last_name": None,
                "email": None,
                "birth_date": None,
                "phone": None,
                "mobile": None,
                "bot_paused": False,
                "earlier_conversations": [],
            }
        if path in ("/v1/colleagues",):
            return 200, []
        if path in ("/v1/topics", "/v1/competences"):
            return 200, {"items": [], "total": 0, "offset": 0, "limit": 200}
        return 404, {"error": {"code": "not_found", "message": path}}

    def handle(self, route: Route) -> None:
        url = urlsplit(route.request.url)
        if url.path == "/v1/events":
            route.fulfill(status=200, headers={"content-type": "text/event-stream"}, body="")
            return
        if url.path.startswith("/v1/"):
            status, body = self.api(url.path, parse_qs(url.query))
            route.fulfill(status=status, json=body)
            return
        file = DIST / url.path.lstrip("/")
        if not file.is_file():
            file = DIST / "index.html"
        data = file.read_bytes()
        if file.suffix == ".js":
            self.scripts[file.name] = (len(data), len(gzip.compress(data, 9)))
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        route.fulfill(status=200, headers={"content-type": kind}, body=data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--conversations", type=int, default=5000)
    parser.add_argument("--opens", type=int, default=10)
    args = parser.parse_args()
    if not (DIST / "index.html").is_file():
        sys.exit("portal/dist is missing: run scripts/setup")
    stand_in = StandIn(args.conversations)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.route("**/*", stand_in.handle)

        page.goto(f"{BASE}/sign-in")
        page.get_by_role("button", name="Aanmelden").wait_for()
        sign_in_js = dict(stand_in.scripts)

        started = time.perf_counter()
        page.goto(f"{BASE}/inbox")
        page.locator(".queue-item").first.wait_for()
        first_render = time.perf_counter() - started
        inbox_js = dict(stand_in.scripts)

        opens = []
        for n in range(args.opens):
            item = page.locator(".queue-item").nth(n % 8)
            started = time.perf_counter()
            item.click()
            page.locator(".messages li").first.wait_for()
            page.wait_for_function(
                "id => location.pathname.endsWith(id)",
                arg=str(uuid.UUID(int=(n % 8) + 1)),
            )
            opens.append(time.perf_counter() - started)

        started = time.perf_counter()
        last = f"Vraag nummer {args.conversations - 1}:"
        scroller = page.locator(".queue-scroll")
        while not page.get_by_text(last).count():
            scroller.evaluate("el => { el.scrollTop = el.scrollHeight; }")
            page.wait_for_timeout(20)
        scrolled = time.perf_counter() - started
        rendered_rows = page.locator(".queue-item").count()
        browser.close()

    def total(scripts: dict[str, tuple[int, int]]) -> tuple[int, int]:
        return sum(raw for raw, _ in scripts.values()), sum(gz for _, gz in scripts.values())

    first_raw, first_gz = total(sign_in_js)
    inbox_raw, inbox_gz = total(inbox_js)
    figures = {
        "conversations": args.conversations,
        "first_load_js_bytes": first_raw,
        "first_load_js_gzip_bytes": first_gz,
        "first_load_target_gzip_bytes": 250_000,
        "first_load_ratio_to_target": round(first_gz / 250_000, 3),
        "inbox_js_gzip_bytes": inbox_gz,
        "inbox_js_bytes": inbox_raw,
        "inbox_first_render_ms": round(first_render * 1000, 1),
        "open_conversation_ms_median": round(statistics.median(opens) * 1000, 1),
        "open_conversation_ms_max": round(max(opens) * 1000, 1),
        "scroll_whole_queue_ms": round(scrolled * 1000, 1),
        "queue_rows_in_dom": rendered_rows,
        "machine": platform.platform(),
    }
    for key, value in figures.items():
        print(f"{key:32} {value}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (out / f"portal-{stamp}.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
