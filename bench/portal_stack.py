#!/usr/bin/env python
"""Benchmark of the Portal on the real stack: first-load JavaScript and 5,000 waiting conversations.

Starts the stack as the run command does (its own broker, SQLite, the gateway serving the
built ``portal/dist``), seeds the demo tenant, turns routing off and lets N visitors (default
5,000) write in the website chat through ingest, so N conversations wait in the tenant's
queue. Then Debian's Chromium (Playwright), through the gateway, measures:

- first load: the JavaScript the browser downloads for the sign-in page, raw and gzip
  (level 9, what a compressing proxy would send); target at most 250 KB gzip;
- the Inbox of an Agent (with routing off, the shared queue is in ``GET /v1/queue``): time
  from navigation to its queue tabs, and to the first row of the shared queue (the tab
  clicked as soon as it shows), median of several loads;
- opening a conversation from that list: click until its messages show, median;
- the Dispatch screen (Manager's view of the same N waiting): navigation to the first row.

``bench/portal.py`` measures the same screens against an in-memory stand-in API (no stack);
this one answers from the services' real queries over N stored conversations. Figures are
printed and written to ``bench/results/portal-stack-<timestamp>.json``.

    .venv/bin/python bench/portal_stack.py
    .venv/bin/python bench/portal_stack.py -n 1000 --loads 3 --opens 5
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from playwright.sync_api import Page, Response, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.ingest.application.webchat_limits import lifted_environment  # noqa: E402
from services.stack import DEMO_PASSWORD, PORTAL_DIST, SERVICES, Stack, seed_demo  # noqa: E402
from shared.local_broker import free_port  # noqa: E402

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
TARGET_GZIP = 250_000


def login(api: str, email: str) -> dict[str, str]:
    answer = httpx.post(f"{api}/v1/auth/login", json={"email": email, "password": DEMO_PASSWORD})
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['token']}"}


async def write_in(ingest: str, key: str, n: int, concurrency: int = 32) -> None:
    """N visitors, each writing one message: N new conversations."""
    run = uuid.uuid4().hex[:8]
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=ingest, timeout=60) as http:

        async def one(i: int) -> None:
            async with limit:
                why = ""
                for _ in range(20):
                    try:
                        sent = await http.post(
                            f"/v1/webchat/{key}/messages",
                            json={
                                "visitor_id": f"bench-{run}-{i}",
                                "text": f"Vraag nummer {i}: waar blijft mijn bestelling?",
                                "message_id": f"bench-{run}-{i}",
                            },
                        )
                    except httpx.TransportError as exc:  # a dropped keep-alive: send again
                        why = repr(exc)
                    else:
                        if sent.status_code == 202:
                            return
                        why = f"{sent.status_code} {sent.text}"
                    # 503 (Kafka busy) or a broken connection: the sender retries, and the
                    # same message_id keeps the retry from counting twice.
                    await asyncio.sleep(0.5)
                raise RuntimeError(f"message {i} refused: {why}")

        await asyncio.gather(*(one(i) for i in range(n)))


def wait_waiting(api: str, admin: dict[str, str], n: int, timeout: float = 900) -> float:
    started = time.perf_counter()
    deadline = started + timeout
    while True:
        page = httpx.get(
            f"{api}/v1/dispatch/conversations",
            headers=admin,
            params={"status": "waiting", "limit": 1},
        ).json()
        if page["total"] >= n:
            return time.perf_counter() - started
        if time.perf_counter() > deadline:
            raise RuntimeError(f"only {page['total']} of {n} conversations waiting")
        time.sleep(1)


def sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/sign-in")
    page.get_by_label("E-mailadres").fill(email)
    page.get_by_label("Wachtwoord").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Aanmelden").click()
    page.wait_for_url(lambda url: "/sign-in" not in url)


def first_load(browser, base: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """The JavaScript a fresh browser downloads to show the sign-in page."""
    context = browser.new_context(locale="nl-BE")
    page = context.new_page()
    scripts: dict[str, bytes] = {}

    def seen(response: Response) -> None:
        if response.url.endswith(".js") and response.ok:
            scripts[response.url] = response.body()

    page.on("response", seen)
    page.goto(f"{base}/sign-in")
    page.get_by_role("button", name="Aanmelden").wait_for()
    page.wait_for_load_state("networkidle")
    context.close()
    raw = sum(len(body) for body in scripts.values())
    packed = sum(len(gzip.compress(body, 9)) for body in scripts.values())
    return {"files": len(scripts), "bytes": raw, "gzip_bytes": packed}


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--conversations", type=int, default=5000)
    parser.add_argument("--loads", type=int, default=5, help="Inbox and Dispatch loads")
    parser.add_argument("--opens", type=int, default=10, help="conversations opened")
    args = parser.parse_args()
    if not (PORTAL_DIST / "index.html").is_file():
        sys.exit("portal/dist is missing: run scripts/setup")

    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp:
        stack = Stack(
            Path(tmp),
            ports={name: free_port() for name in SERVICES},
            env={"LOG_LEVEL": "WARNING", **lifted_environment()},
        )
        stack.start()
        try:
            figures = run(stack, args)
        finally:
            stack.stop()
    for key, value in figures.items():
        print(f"{key:34} {value}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (out / f"portal-stack-{stamp}.json").write_text(json.dumps(figures, indent=2))


def run(stack: Stack, args: argparse.Namespace) -> dict[str, object]:
    demo = seed_demo(stack)
    api, base = stack.url("conversation"), stack.url("gateway")
    admin = login(api, "admin@demo.example")
    httpx.put(
        f"{api}/v1/settings/general",
        headers=admin,
        json={"routing_enabled": False, "languages": ["nl", "fr", "en"], "default_capacity": 5},
    ).raise_for_status()
    started = time.perf_counter()
    asyncio.run(write_in(stack.url("ingest"), demo["webchat_key"], args.conversations))
    accepted = time.perf_counter() - started
    stored = wait_waiting(api, admin, args.conversations)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        js = first_load(browser, base)

        agent = browser.new_context(locale="nl-BE", viewport={"width": 1280, "height": 860})
        page = agent.new_page()
        sign_in(page, base, "nora@demo.example")
        renders, shells = [], []
        for _ in range(args.loads):
            t0 = time.perf_counter()
            page.goto(f"{base}/inbox")
            shared = page.locator("#queue-tab-shared")
            shared.wait_for()
            shells.append(time.perf_counter() - t0)
            shared.click()  # the tenant's waiting conversations
            page.locator(".queue-item").first.wait_for()
            renders.append(time.perf_counter() - t0)
        badge = page.locator("#queue-tab-shared .badge").inner_text()

        opens = []
        for n in range(args.opens):
            item = page.locator(".queue-item").nth(n % 8)
            href = item.get_attribute("href") or ""
            t0 = time.perf_counter()
            item.click()
            page.wait_for_url(f"**{href}")
            page.locator(".messages li").first.wait_for()
            opens.append(time.perf_counter() - t0)

        dispatcher = browser.new_context(locale="nl-BE", viewport={"width": 1280, "height": 860})
        manager_page = dispatcher.new_page()
        sign_in(manager_page, base, "admin@demo.example")
        dispatch = []
        for _ in range(args.loads):
            t0 = time.perf_counter()
            manager_page.goto(f"{base}/dispatch")
            manager_page.get_by_role("button", name="Verdelen").first.wait_for()
            dispatch.append(time.perf_counter() - t0)
        browser.close()

    return {
        "conversations_waiting": args.conversations,
        "seed_accepted_s": round(accepted, 1),
        "seed_stored_after_s": round(stored, 1),
        "first_load_js_files": js["files"],
        "first_load_js_bytes": js["bytes"],
        "first_load_js_gzip_bytes": js["gzip_bytes"],
        "first_load_target_gzip_bytes": TARGET_GZIP,
        "first_load_ratio_to_target": round(js["gzip_bytes"] / TARGET_GZIP, 3),
        "inbox_shell_ms_median": median_ms(shells),
        "inbox_first_render_ms_median": median_ms(renders),
        "inbox_first_render_ms_max": round(max(renders) * 1000, 1),
        "inbox_queue_badge": badge,
        "open_conversation_ms_median": median_ms(opens),
        "open_conversation_ms_max": round(max(opens) * 1000, 1),
        "dispatch_first_render_ms_median": median_ms(dispatch),
        "machine": platform.platform(),
    }


if __name__ == "__main__":
    main()
