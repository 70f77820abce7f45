"""One website-chat message end to end: ingest -> Kafka -> conversation -> routing -> stats.

Run on both event stores, against the real broker, with every service a real process.
"""

from __future__ import annotations

import httpx
import pytest

from services.stack import DEMO_OPERATOR_TOKEN, seed_demo
from tests.support.e2e import login, wait_for


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_message_is_routed_by_language_and_counted(make_stack, store):
    stack = make_stack(store)
    demo = seed_demo(stack)
    api = stack.url("conversation")
    nora, eric = login(stack, "nora@demo.example"), login(stack, "eric@demo.example")
    admin = login(stack, "admin@demo.example")

    def post(visitor: str, text: str, locale: str) -> httpx.Response:
        return httpx.post(
            f"{stack.url('ingest')}/v1/webchat/{demo['webchat_key']}/messages",
            json={"visitor_id": visitor, "text": text, "locale": locale, "message_id": text},
        )

    # Nora speaks nl and fr, Eric en and nl: French can only go to Nora, English only to Eric.
    assert post("visitor-fr", "Bonjour, ma commande?", "fr_BE").status_code == 202
    assert post("visitor-en", "Hello, my order?", "en_GB").status_code == 202

    def queue(who: dict[str, str]) -> list[dict]:
        return httpx.get(f"{api}/v1/queue", headers=who).json()["items"]

    nora_queue = wait_for(lambda: queue(nora))
    eric_queue = wait_for(lambda: queue(eric))
    assert [c["preview"] for c in nora_queue] == ["Bonjour, ma commande?"]
    assert [c["preview"] for c in eric_queue] == ["Hello, my order?"]
    assert nora_queue[0]["status"] == "assigned" and nora_queue[0]["language"] == "fr"

    # A retried delivery (same message id) and a second message join the same conversation once.
    assert post("visitor-fr", "Bonjour, ma commande?", "fr_BE").status_code == 202
    assert post("visitor-fr", "Numéro 42", "fr_BE").status_code == 202
    conversation_id = nora_queue[0]["conversation_id"]
    detail = wait_for(
        lambda: (
            (d := httpx.get(f"{api}/v1/conversations/{conversation_id}", headers=nora).json())[
                "message_count"
            ]
            == 2
            and d
        )
    )
    assert [m["text"] for m in detail["messages"]] == ["Bonjour, ma commande?", "Numéro 42"]

    # The conversation is not Eric's to read.
    other = httpx.get(f"{api}/v1/conversations/{conversation_id}", headers=eric)
    assert other.status_code == 200  # same tenant: agents may open colleagues' conversations
    stats_url = f"{stack.url('stats')}/v1/stats/conversations/per-channel"
    stats = wait_for(
        lambda: (
            (s := httpx.get(stats_url, headers=admin).json())["channels"]
            and s["channels"][0]["assigned"] == 2
            and s
        )
    )
    assert stats["total"] == 2
    assert stats["channels"] == [{"channel_type": "webchat", "conversations": 2, "assigned": 2}]
    # Agents are not allowed on the dashboard.
    assert httpx.get(stats_url, headers=nora).status_code == 403

    # The event feed replays the log from position 0 (operator only), page by page.
    feed_url = f"{api}/v1/feed/conversations"
    assert httpx.get(feed_url).status_code == 401
    operator = {"Authorization": f"Bearer {DEMO_OPERATOR_TOKEN}"}
    events, after = [], 0
    while True:
        page = httpx.get(feed_url, params={"after": after, "limit": 2}, headers=operator).json()
        if page["next_after"] == after:  # a page may hold only internal events: go on
            break
        events += [item["event"] for item in page["items"]]
        after = page["next_after"]
    kinds = [e["type"] for e in events]
    assert kinds.count("ConversationOpened") == 2
    assert kinds.count("MessageReceived") == 3
    assert kinds.count("ConversationAssigned") == 2
    assert len({e["event_id"] for e in events}) == len(events)


def test_unknown_channel_and_bad_input_get_clear_errors(make_stack):
    stack = make_stack("sqlite")
    ingest = stack.url("ingest")
    unknown = httpx.post(
        f"{ingest}/v1/webchat/no-such-key/messages", json={"visitor_id": "v", "text": "hi"}
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_channel"
    demo = seed_demo(stack)
    bad = httpx.post(
        f"{ingest}/v1/webchat/{demo['webchat_key']}/messages",
        json={"visitor_id": "v", "text": "", "extra": 1},
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_request"
    anonymous = httpx.get(f"{stack.url('stats')}/v1/stats/conversations/per-channel")
    assert anonymous.status_code == 401
