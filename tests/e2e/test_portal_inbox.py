"""A visitor writes in the website widget; the Agent sees it arrive in the Portal's Inbox
live (no reload), takes it, replies; the visitor sees the reply; the Agent closes it with a
topic; it is in History and in the statistics."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from services.stack import DEMO_PASSWORD
from tests.support.e2e import login, wait_for
from tests.support.portal import chromium, new_page, portal_stack, screen, sign_in

__all__ = ["chromium", "portal_stack"]


def test_a_visitor_and_an_agent_through_the_portal(portal_stack, chromium) -> None:  # type: ignore[no-untyped-def]
    stack, demo = portal_stack
    base = stack.url("gateway")

    agent = new_page(chromium)
    sign_in(agent, base, "nora@demo.example", DEMO_PASSWORD)
    expect(agent).to_have_url(f"{base}/inbox")
    expect(agent.get_by_role("radio", name="Online")).to_be_checked()
    expect(agent.get_by_text("Niets in deze wachtrij.")).to_be_visible()
    screen(agent, "inbox-empty")
    agent.evaluate("window.stillTheSamePage = true")  # gone if the page reloaded

    # The visitor, on the chat widget's page behind the same gateway (French: Nora's).
    visitor = new_page(chromium, locale="fr-BE")
    visitor.goto(f"{base}/sdk/demo/{demo['webchat_key']}")
    visitor.get_by_test_id("interact-chat-launcher").click()
    expect(visitor.get_by_test_id("interact-chat-status")).to_have_text("online", timeout=30_000)
    visitor.get_by_test_id("interact-chat-input").fill("Bonjour, où est ma commande 42 ?")
    visitor.get_by_test_id("interact-chat-send").click()

    # It arrives in Nora's queue without a reload.
    item = agent.get_by_role("link", name="Bonjour, où est ma commande 42 ?")
    expect(item).to_be_visible(timeout=30_000)
    assert agent.evaluate("window.stillTheSamePage") is True
    item.click()
    expect(agent.get_by_role("heading", name="Websitechat · FR")).to_be_visible()
    expect(agent.get_by_text("De routering koos jou")).to_be_visible()
    screen(agent, "inbox-conversation-assigned")

    agent.get_by_role("button", name="Overnemen").click()
    expect(agent.locator(".conversation-head .status")).to_have_text("In behandeling")
    agent.get_by_label("Antwoord").fill("Bonjour ! Elle part aujourd'hui.")
    agent.get_by_role("button", name="Versturen").click()
    expect(agent.get_by_label("Antwoord")).to_have_value("")
    reply = agent.locator(".message-out").filter(has_text="Elle part aujourd'hui.")
    expect(reply).to_be_visible()
    expect(reply.locator(".delivery")).to_have_text("Gelezen", timeout=30_000)

    agents_reply = visitor.locator('[data-testid="interact-chat-message"][data-from="agent"]')
    expect(agents_reply).to_have_text(["Bonjour ! Elle part aujourd'hui."], timeout=30_000)

    # A note, the visitor's profile with a bad email (the API's message next to the field).
    agent.get_by_label("Nieuwe notitie").fill("Klant wacht op levering")
    agent.get_by_role("button", name="Notitie toevoegen").click()
    expect(agent.locator(".notes li")).to_contain_text(["Klant wacht op levering"])
    agent.get_by_label("Voornaam").fill("Amélie")
    agent.get_by_label("E-mail").fill("not-an-email")
    agent.get_by_role("button", name="Profiel opslaan").click()
    expect(agent.locator(".panel .field-error")).to_contain_text("email")
    agent.get_by_label("E-mail").fill("amelie@example.be")
    agent.get_by_role("button", name="Profiel opslaan").click()
    expect(agent.get_by_role("status").filter(has_text="Opgeslagen")).to_be_visible()
    screen(agent, "inbox-conversation-in-progress")

    # Closed with a topic: archived at once, gone from the queue.
    agent.locator(".close-form").get_by_label("Question").check()
    agent.get_by_role("button", name="Afsluiten en archiveren").click()
    expect(agent.locator(".conversation-head .status")).to_have_text("Gearchiveerd")
    expect(agent.locator(".conversation-head")).to_contain_text("Onderwerpen: Question")
    expect(item).to_have_count(0)
    screen(agent, "inbox-conversation-archived")

    admin = login(stack, "admin@demo.example")
    api = stack.url("gateway")
    history = httpx.get(f"{api}/v1/history", headers=admin, params={"topic": "Question"}).json()
    (archived,) = history["items"]
    cid = archived["conversation_id"]
    assert agent.url == f"{base}/inbox/{cid}"
    profile = httpx.get(f"{api}/v1/visitors/{archived['visitor_id']}", headers=admin)
    assert profile.json()["first_name"] == "Amélie"

    def counted():  # type: ignore[no-untyped-def]
        topics = httpx.get(f"{api}/v1/stats/conversations/per-topic", headers=admin)
        return topics.status_code == 200 and "Question" in topics.text and topics.json()

    assert wait_for(counted)
    detail = httpx.get(f"{api}/v1/conversations/{cid}", headers=admin).json()
    assert (
        detail["topics"] == ["Question"] and detail["notes"][0]["text"] == "Klant wacht op levering"
    )
