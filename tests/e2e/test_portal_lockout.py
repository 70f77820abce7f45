"""Five wrong passwords lock an account; the sign-in page then says exactly what it says for
an address nobody has, so it never reveals whether an address exists (SPEC §3.1.1)."""

from __future__ import annotations

from playwright.sync_api import expect

from services.stack import DEMO_PASSWORD
from tests.support.portal import chromium, new_page, portal_stack, screen, sign_in

__all__ = ["chromium", "portal_stack"]


def test_five_wrong_passwords_lock_and_the_page_says_so_like_for_an_unknown_address(
    portal_stack, chromium
) -> None:  # type: ignore[no-untyped-def]
    stack, _demo = portal_stack
    base = stack.url("gateway")
    page = new_page(chromium)
    sign_in(page, base, "nobody@demo.example", "whatever-password")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("vergrendeld na 5 foute pogingen")
    unknown = alert.inner_text()
    screen(page, "sign-in-failed")

    for attempt in range(5):
        sign_in(page, base, "eric@demo.example", f"wrong-password-{attempt}")
        expect(page.get_by_role("alert")).to_have_text(unknown)
    # Locked: the right password no longer opens it, and the page says the same thing.
    sign_in(page, base, "eric@demo.example", DEMO_PASSWORD)
    expect(page.get_by_role("alert")).to_have_text(unknown)
    expect(page).to_have_url(f"{base}/sign-in")
    screen(page, "sign-in-locked")

    # The way back: forgot password answers alike for any address.
    page.get_by_role("link", name="Wachtwoord vergeten?").click()
    expect(page.get_by_role("heading", name="Wachtwoord vergeten")).to_be_visible()
    page.get_by_label("E-mailadres").fill("eric@demo.example")
    page.get_by_role("button", name="Link versturen").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Als dit adres bij ons bekend is", timeout=30_000
    )
    screen(page, "forgot-password-sent")
