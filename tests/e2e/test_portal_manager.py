"""The Manager's, the Analyst's and the Administrator's screens in a real browser against the
stack as the run command starts it (gateway in front, demo tenant seeded):

- a Manager dispatches a waiting conversation to an Agent, who sees it arrive in the inbox;
- an Analyst sees the statistics, but not conversations per end user, and no inbox; the
  chart's numbers are the table's;
- an Administrator creates a competence and a user through the screens.

Every screen of Dispatch, History, Statistics, Administration and the FAQ is photographed
(``tests/e2e/screenshots/``, git-ignored) and checked with axe-core by ``portal.screen``.
"""

from __future__ import annotations

import csv as csv_module
import io
import os

import httpx
from playwright.sync_api import Page, expect

from services.stack import DEMO_OPERATOR_TOKEN, DEMO_PASSWORD
from tests.support.e2e import login, wait_for
from tests.support.portal import chromium, new_page, portal_stack, screen, sign_in

__all__ = ["chromium", "portal_stack"]


def _add_user(api: str, admin: dict[str, str], first: str, role: str, email: str, **extra) -> str:  # type: ignore[no-untyped-def]
    created = httpx.post(
        f"{api}/v1/users",
        headers=admin,
        json={
            "first_name": first,
            "last_name": role.title(),
            "email": email,
            "role": role,
            "mother_tongue": "nl",
            "password": DEMO_PASSWORD,
            **extra,
        },
    )
    assert created.status_code == 201, created.text
    return created.json()["user_id"]


def _until_shown(page: Page, what, again) -> None:  # type: ignore[no-untyped-def]
    """Read models follow the event log within moments: ask again (``again``) until ``what``
    is on the screen."""

    def shown() -> bool:
        if what.count() > 0:
            return True
        again()
        page.wait_for_timeout(300)
        return False

    wait_for(shown, timeout=30)


def _chart_matches_table(page: Page, caption: str) -> list[str]:
    """The numbers drawn on the chart's bars equal the first figure column of its table."""
    table = page.get_by_role("table", name=caption, exact=True)
    expect(table).to_be_visible()
    figures = [
        cell.strip()
        for cell in table.locator("tbody tr").evaluate_all(
            "rows => rows.map(r => r.querySelector('td').textContent)"
        )
    ]
    chart = page.get_by_role("figure", name=caption, exact=True)
    expect(chart.locator(".chart-value text, text.chart-value")).to_have_count(len(figures))
    drawn = chart.locator(".chart-value text, text.chart-value").all_text_contents()
    assert [d.strip() for d in drawn] == figures, (drawn, figures)
    return figures


def test_manager_analyst_and_administrator_screens(portal_stack, chromium) -> None:  # type: ignore[no-untyped-def]
    stack, demo = portal_stack
    base, api = stack.url("gateway"), stack.url("conversation")
    admin = login(stack, "admin@demo.example")
    _add_user(api, admin, "Mia", "manager", "mia@demo.example")
    _add_user(api, admin, "Ann", "analyst", "ann@demo.example")
    nora_id = next(
        u["user_id"]
        for u in httpx.get(f"{api}/v1/users", headers=admin, params={"q": "nora"}).json()["items"]
    )
    # Routing off: what the visitor writes waits in the tenant's queue for a person to dispatch.
    general = httpx.put(
        f"{api}/v1/settings/general",
        headers=admin,
        json={"routing_enabled": False, "languages": ["nl", "fr", "en"], "default_capacity": 5},
    )
    assert general.status_code == 200, general.text
    sent = httpx.post(
        f"{base}/v1/webchat/{demo['webchat_key']}/messages",
        json={
            "visitor_id": "visitor-taart",
            "text": "Waar blijft mijn taart?",
            "message_id": "t-1",
        },
    )
    assert sent.status_code == 202, sent.text

    # --- The Manager dispatches it to Nora. -----------------------------------------------
    manager = new_page(chromium)
    sign_in(manager, base, "mia@demo.example", DEMO_PASSWORD)
    expect(manager.get_by_role("link", name="Inbox")).to_be_visible()
    manager.get_by_role("link", name="Verdeel").click()
    expect(manager).to_have_url(f"{base}/dispatch")
    row_button = manager.get_by_role("button", name="Verdelen: Waar blijft mijn taart?")
    expect(row_button).to_be_visible(timeout=30_000)
    screen(manager, "dispatch-waiting")
    row_button.click()
    expect(manager.get_by_role("region", name="Gesprek")).to_contain_text("Waar blijft mijn taart?")
    manager.get_by_label("Persoon", exact=True).select_option(nora_id)
    screen(manager, "dispatch-assign")
    manager.get_by_role("button", name="Toewijzen").click()
    expect(manager.get_by_text("Geen gesprekken.")).to_be_visible(timeout=30_000)
    manager.get_by_role("tab", name="Alle open").click()
    expect(manager.get_by_role("cell", name="Nora Nederlands", exact=True)).to_be_visible(
        timeout=30_000
    )
    screen(manager, "dispatch-open")

    agent = new_page(chromium)
    sign_in(agent, base, "nora@demo.example", DEMO_PASSWORD)
    expect(agent).to_have_url(f"{base}/inbox")
    expect(agent.get_by_role("link", name="Waar blijft mijn taart?")).to_be_visible(timeout=30_000)

    # The Manager's History, FAQ and statistics (with conversations per end user).
    conversation_id = httpx.get(
        f"{api}/v1/dispatch/conversations", headers=admin, params={"status": "open"}
    ).json()["items"][0]["conversation_id"]
    nora = login(stack, "nora@demo.example")
    taken = httpx.post(f"{api}/v1/conversations/{conversation_id}/take", headers=nora)
    assert taken.status_code == 200, taken.text
    replied = httpx.post(
        f"{api}/v1/conversations/{conversation_id}/messages",
        headers=nora,
        json={"text": "Ze is onderweg!", "client_message_id": "r-1"},
    )
    assert replied.status_code in (200, 201, 202), replied.text
    closed = httpx.post(
        f"{api}/v1/conversations/{conversation_id}/close",
        headers=nora,
        json={"topics": ["Delivery"]},
    )
    assert closed.status_code == 200, closed.text
    manager.get_by_role("link", name="Historiek").click()
    opener = manager.get_by_role("button", name="Gesprek openen: Ze is onderweg!")
    _until_shown(manager, opener, lambda: manager.get_by_role("button", name="Zoeken").click())
    screen(manager, "history")
    manager.get_by_label("Bezoeker (naam)", exact=True).fill("niemand-met-deze-naam")
    manager.get_by_role("button", name="Zoeken").click()
    expect(manager.get_by_text("0 gesprekken")).to_be_visible()
    manager.get_by_role("button", name="Filters wissen").click()
    manager.get_by_role("button", name="Gesprek openen: Ze is onderweg!").click()
    view = manager.get_by_role("region", name="Gesprek")
    expect(view).to_contain_text("Waar blijft mijn taart?")
    expect(view).to_contain_text("Ze is onderweg!")
    screen(manager, "history-conversation")
    token = os.environ.get("OPERATOR_TOKEN", DEMO_OPERATOR_TOKEN)  # as the stack reads it
    operator = {"Authorization": f"Bearer {token}"}
    for question, answer in [
        ("Hoe koppel ik WhatsApp?", "Beheer, Kanalen: het telefoonnummer-ID en de sleutels."),
        ("Wat is Verdeel?", "Gesprekken met de hand toewijzen."),
    ]:
        faq = httpx.post(
            f"{api}/v1/operator/faq",
            headers=operator,
            json={"question": question, "answer": answer},
        )
        assert faq.status_code == 201, faq.text
    manager.get_by_role("link", name="FAQ").click()
    expect(manager.get_by_role("heading", name="Veelgestelde vragen")).to_be_visible()
    expect(manager.get_by_text("Wat is Verdeel?")).to_be_visible()
    manager.get_by_label("Zoeken in de FAQ", exact=True).fill("whatsapp")
    manager.get_by_role("button", name="Zoeken").click()
    expect(manager.get_by_text("Wat is Verdeel?")).to_have_count(0)
    expect(manager.get_by_text("Beheer, Kanalen: het telefoonnummer-ID")).to_be_visible()
    screen(manager, "faq")
    manager.get_by_role("link", name="Statistieken").click()
    expect(manager.get_by_role("tab", name="Medewerkers")).to_be_visible()

    # --- The Analyst: statistics, no end users, no inbox. -------------------------------
    analyst = new_page(chromium)
    sign_in(analyst, base, "ann@demo.example", DEMO_PASSWORD)
    expect(analyst).to_have_url(f"{base}/statistics")
    nav = analyst.get_by_role("navigation", name="Navigatie")
    expect(nav.get_by_role("link")).to_have_text(["Statistieken", "FAQ"])
    tabs = analyst.get_by_role("tab")
    # The demo tenant is on the Bot plan: the chatbot tab too, but no "Medewerkers".
    expect(tabs).to_have_text(["Gesprekken", "Berichten", "Onderwerpen", "Chatbot"])
    caption = "Ontvangen gesprekken per kanaal"

    show = analyst.get_by_role("button", name="Tonen")
    _until_shown(analyst, analyst.get_by_role("table", name=caption), show.click)
    assert _chart_matches_table(analyst, caption) == ["1"]
    assert _chart_matches_table(analyst, "Gesprekken per dag") == ["1"]
    csv = analyst.get_by_role("link", name="Exporteren als CSV")
    answer = analyst.request.get(f"{base}{csv.get_attribute('href')}")
    assert answer.status == 200, answer.text()
    rows = list(csv_module.DictReader(io.StringIO(answer.text())))
    assert sum(int(row["conversations"]) for row in rows) == 1  # the export = the table
    assert {row["channel_type"] for row in rows} == {"webchat"}
    screen(analyst, "statistics-conversations")
    analyst.get_by_role("tab", name="Berichten").click()
    expect(analyst.get_by_role("table", name="Berichten per gesprek")).to_be_visible()
    _chart_matches_table(analyst, "Berichten per gesprek")
    screen(analyst, "statistics-messages")
    analyst.get_by_role("tab", name="Onderwerpen").click()
    _until_shown(analyst, analyst.get_by_role("table", name="Gesprekken per onderwerp"), show.click)
    assert _chart_matches_table(analyst, "Gesprekken per onderwerp") == ["1"]
    screen(analyst, "statistics-topics")
    end_users = analyst.request.get(f"{base}/v1/stats/end-users")
    assert end_users.status == 403
    analyst.goto(f"{base}/inbox")
    expect(analyst.get_by_role("alert")).to_contain_text("laat dit scherm niet toe")

    manager.get_by_role("tab", name="Medewerkers").click()
    _chart_matches_table(manager, "Gesprekken per medewerker")
    screen(manager, "statistics-end-users")

    # --- The Administrator creates a competence and a user. ---------------------------
    ada = new_page(chromium)
    sign_in(ada, base, "admin@demo.example", DEMO_PASSWORD)
    ada.get_by_role("link", name="Beheer").click()
    expect(ada).to_have_url(f"{base}/administration/users")
    expect(ada.get_by_role("cell", name="nora@demo.example", exact=True)).to_be_visible()
    screen(ada, "administration-users")

    ada.get_by_role("link", name="Competenties").click()
    ada.get_by_role("button", name="Nieuwe competentie").click()
    form = ada.get_by_role("form", name="Nieuwe competentie")
    form.get_by_label("Naam", exact=True).fill("Orders")
    form.get_by_role("button", name="Opslaan").click()
    expect(form.get_by_text("A competence with that name exists.")).to_be_visible()
    form.get_by_label("Naam", exact=True).fill("Taarten")
    form.get_by_label("Beschrijving", exact=True).fill("Bestellingen van taarten")
    form.get_by_role("button", name="Opslaan").click()
    expect(ada.get_by_role("cell", name="Taarten", exact=True)).to_be_visible()
    screen(ada, "administration-competences")

    ada.get_by_role("link", name="Gebruikers").click()
    ada.get_by_role("button", name="Nieuwe gebruiker").click()
    form = ada.get_by_role("form", name="Nieuwe gebruiker")
    form.get_by_label("Voornaam", exact=True).fill("Tom")
    form.get_by_label("Achternaam", exact=True).fill("Taart")
    form.get_by_label("E-mailadres", exact=True).fill("nora@demo.example")
    form.get_by_label("Rol", exact=True).select_option("agent")
    form.get_by_role("checkbox", name="fr").check()
    form.get_by_role("checkbox", name="Website").check()
    form.get_by_role("checkbox", name="Taarten").check()
    form.get_by_role("button", name="Opslaan").click()
    expect(form.get_by_text("Another end user of this tenant has that email.")).to_be_visible()
    screen(ada, "administration-user-form-error")
    form.get_by_label("E-mailadres", exact=True).fill("tom@demo.example")
    form.get_by_role("button", name="Opslaan").click()
    expect(ada.get_by_role("cell", name="tom@demo.example", exact=True)).to_be_visible()
    tom = httpx.get(f"{api}/v1/users", headers=admin, params={"q": "tom@demo"}).json()["items"]
    competences = httpx.get(f"{api}/v1/competences", headers=admin, params={"q": "Taarten"}).json()
    assert len(tom) == 1 and tom[0]["role"] == "agent" and tom[0]["languages"] == ["fr"]
    assert tom[0]["competences"] == [competences["items"][0]["id"]]
    assert tom[0]["channel_ids"] == [demo["channel_id"]]

    for part, name in [
        ("topics", "administration-topics"),
        ("channels", "administration-channels"),
        ("general", "administration-general"),
        ("chatbots", "administration-chatbots"),
    ]:
        ada.goto(f"{base}/administration/{part}")
        expect(ada.get_by_role("heading", level=2)).to_be_visible()
        screen(ada, name)
    # Office hours with a closing day, through the screen.
    ada.goto(f"{base}/administration/office-hours")
    ada.get_by_label("Altijd open", exact=True).uncheck()
    ada.get_by_label("Open op maandag", exact=True).check()
    ada.get_by_label("maandag tot", exact=True).fill("18:00")
    ada.get_by_role("button", name="Sluitingsdag toevoegen").click()
    ada.get_by_label("Datum", exact=True).fill("2026-12-25")
    ada.get_by_label("Omschrijving", exact=True).fill("Kerstmis")
    ada.get_by_label("Elk jaar", exact=True).check()
    ada.get_by_role("button", name="Opslaan").click()
    expect(ada.get_by_text("Opgeslagen.")).to_be_visible()
    screen(ada, "administration-office-hours")
    hours = httpx.get(f"{api}/v1/settings/office-hours", headers=admin).json()
    assert hours["weekly"]["monday"][0]["end"].startswith("18:00"), hours
    assert hours["closing_days"][0]["date"] == "2026-12-25" and hours["always_open"] is False

    ada.goto(f"{base}/administration/channels")
    ada.get_by_role("button", name="Instellingen van Website").click()
    expect(ada.get_by_label("Installatiecode", exact=True)).to_contain_text(demo["webchat_key"])
    screen(ada, "administration-channel-settings")
