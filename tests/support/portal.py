"""The Portal in a real browser: Debian's Chromium driven by Playwright, against the stack
started as the run command starts it (gateway in front, demo tenant seeded).

Every screen a test visits is photographed into ``tests/e2e/screenshots/`` (git-ignored) and
checked with axe-core (from ``portal/node_modules``): no serious or critical violation.
"""

from __future__ import annotations

import email
import mailbox
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from services.stack import PORTAL_DIST, Stack, seed_demo

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(__file__).parents[1] / "e2e" / "screenshots"
AXE = ROOT / "portal" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def portal_stack(make_stack) -> tuple[Stack, dict]:  # type: ignore[no-untyped-def]
    """The stack with the demo tenant; the built Portal behind its gateway."""
    assert (PORTAL_DIST / "index.html").is_file(), "scripts/setup builds the Portal"
    stack = make_stack("sqlite")
    return stack, seed_demo(stack)


def screen(page: Page, name: str) -> None:
    """A screenshot of what a person sees now, and axe-core's verdict on it."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE.read_text())
    result = page.evaluate(
        "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)})); }"
    )
    serious = [v for v in result if v["impact"] in ("serious", "critical")]
    assert serious == [], f"accessibility of {name}: {serious}"


def sign_in(page: Page, base: str, address: str, password: str) -> None:
    page.goto(f"{base}/sign-in")
    page.get_by_label("E-mailadres").fill(address)
    page.get_by_label("Wachtwoord").fill(password)
    page.get_by_role("button", name="Aanmelden").click()


def new_page(browser: Browser, locale: str = "nl-BE") -> Page:
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 860})
    return context.new_page()


def mail_to(stack: Stack, address: str, timeout: float = 30.0) -> email.message.Message:
    """The newest mail to ``address`` in the stack's SMTP sink (a Maildir)."""
    deadline = time.monotonic() + timeout
    while True:
        box = mailbox.Maildir(stack.data_dir / "mailbox", create=False)
        found = [m for m in box if address in (m.get("To") or "")]
        if found:
            return found[-1]
        assert time.monotonic() < deadline, f"no mail to {address}"
        time.sleep(0.2)


def link_in(message: email.message.Message) -> str:
    parts = message.walk() if message.is_multipart() else [message]
    for part in parts:
        if part.get_content_type() in ("text/plain", "text/html"):
            text = part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
            match = re.search(r"https?://\S+/reset-password\?token=[A-Za-z0-9_\-%.]+", text)
            if match:
                return match.group(0)
    raise AssertionError("no password link in the mail")


__all__ = ["chromium", "expect", "portal_stack"]
