"""An Administrator invites a colleague on the Portal's Administration screen; the mail with the password link
arrives in the SMTP sink; the link opens the Portal's own page; the colleague chooses a
password there and signs in."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import expect

from services.stack import DEMO_PASSWORD
from tests.support.portal import chromium, link_in, mail_to, new_page, portal_stack, screen, sign_in

__all__ = ["chromium", "portal_stack"]


def test_an_invited_colleague_sets_a_password_from_the_mail_and_signs_in(
    portal_stack, chromium
) -> None:  # type: ignore[no-untyped-def]
    stack, _demo = portal_stack
    base = stack.url("gateway")

    admin = new_page(chromium)
    sign_in(admin, base, "admin@demo.example", DEMO_PASSWORD)
    expect(admin.get_by_role("navigation")).to_contain_text("Inbox")
    screen(admin, "shell-administrator")

    # The invitation, from the Administration screen: no password, so a mail goes out.
    admin.get_by_role("link", name="Beheer").click()
    admin.get_by_role("button", name="Nieuwe gebruiker").click()
    form = admin.get_by_role("form", name="Nieuwe gebruiker")
    form.get_by_label("Voornaam").fill("Femke")
    form.get_by_label("Achternaam").fill("Fris")
    form.get_by_label("E-mailadres").fill("femke@demo.example")
    form.get_by_label("Rol").select_option(label="Medewerker")
    form.get_by_role("group", name="Gesproken talen").get_by_label("Nederlands").check()
    form.get_by_role("group", name="Kanalen").get_by_label("Website").check()
    form.get_by_role("button", name="Opslaan").click()
    expect(admin.get_by_role("cell", name="femke@demo.example")).to_be_visible(timeout=15_000)

    # Through the same browser session, a change without the CSRF header is refused.
    forged = admin.request.post(f"{base}/v1/users", data={"first_name": "No CSRF header"})
    assert forged.status == 403 and forged.json()["error"]["code"] == "csrf_failed"

    link = link_in(mail_to(stack, "femke@demo.example"))
    assert link.startswith(f"{base}/reset-password?token="), link  # PUBLIC_BASE_URL: the gateway

    colleague = new_page(chromium)
    colleague.goto(link)
    expect(colleague.get_by_role("heading", name="Nieuw wachtwoord kiezen")).to_be_visible()
    screen(colleague, "set-password")
    colleague.get_by_label("Nieuw wachtwoord", exact=True).fill("short")
    colleague.get_by_label("Herhaal het wachtwoord").fill("short")
    colleague.get_by_role("button", name="Wachtwoord opslaan").click()
    expect(colleague.get_by_text("Minstens 8 tekens.")).to_be_visible()
    colleague.get_by_label("Nieuw wachtwoord", exact=True).fill("femke's own secret")
    colleague.get_by_label("Herhaal het wachtwoord").fill("femke's own secret")
    colleague.get_by_role("button", name="Wachtwoord opslaan").click()
    expect(colleague.get_by_role("status")).to_have_text(
        "Je wachtwoord is opgeslagen. Meld je nu aan."
    )
    screen(colleague, "set-password-saved")

    # The link works once.
    colleague.goto(link)
    colleague.get_by_label("Nieuw wachtwoord", exact=True).fill("another secret!")
    colleague.get_by_label("Herhaal het wachtwoord").fill("another secret!")
    colleague.get_by_role("button", name="Wachtwoord opslaan").click()
    expect(colleague.get_by_role("alert")).to_contain_text("al gebruikt of verlopen")

    sign_in(colleague, base, "femke@demo.example", "femke's own secret")
    expect(colleague).to_have_url(f"{base}/inbox")
    expect(colleague.locator(".who")).to_have_text("Femke Fris · Demo Bakery")
    nav = colleague.get_by_role("navigation")
    expect(nav).to_contain_text("Inbox")
    expect(nav).not_to_contain_text("Administratie")
    screen(colleague, "inbox-new-agent")
    assert urlsplit(colleague.url).path == "/inbox"

    # Dutch for this Belgian tenant; the person may choose French, kept after a reload.
    colleague.get_by_label("Taal").select_option("fr")
    expect(nav).to_contain_text("Boîte de réception")
    expect(colleague.locator("html")).to_have_attribute("lang", "fr")
    colleague.reload()
    expect(colleague.get_by_role("heading", name="Boîte de réception", exact=False)).to_have_count(
        0
    )
    expect(nav).to_contain_text("Boîte de réception")
    screen(colleague, "inbox-in-french")
    colleague.get_by_label("Langue").select_option("nl")

    # Signing out ends the session: the Portal asks to sign in again.
    colleague.get_by_role("button", name="Afmelden").click()
    expect(colleague).to_have_url(f"{base}/sign-in")
    colleague.goto(f"{base}/inbox")
    expect(colleague).to_have_url(f"{base}/sign-in?next=%2Finbox")
