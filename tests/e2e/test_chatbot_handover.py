"""The chatbot answers first, hands over to humans and gets the visitor back (SPEC §3.2),
through the running stack with a real HTTP bot (the generic webhook format)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from services.stack import seed_demo
from tests.support.e2e import login, wait_for


class Bot(BaseHTTPRequestHandler):
    """Answers greetings, hands over when asked for a human, fails on 'crash'."""

    heard: list[str] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Bot.heard.append(body["text"])
        if "crash" in body["text"]:
            self.send_response(500)
            self.end_headers()
            return
        handover = "human" in body["text"]
        answer = {"messages": [{"text": f"Bot: you said {body['text']}"}], "handover": handover}
        raw = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def bot_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Bot)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/bot"
    server.shutdown()


def test_bot_first_then_humans_then_bot_again(make_stack, bot_url) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack("sqlite")
    demo = seed_demo(stack)
    api, ingest = stack.url("conversation"), stack.url("ingest")
    admin, nora = login(stack, "admin@demo.example"), login(stack, "nora@demo.example")
    connected = httpx.put(
        f"{api}/v1/chatbots/{demo['channel_id']}",
        headers=admin,
        json={"platform": "webhook", "url": bot_url},
    )
    assert connected.status_code == 200, connected.text
    time.sleep(3)  # ingest learns of the bot from the directory topic

    def write(visitor: str, text: str) -> None:
        response = httpx.post(
            f"{ingest}/v1/webchat/{demo['webchat_key']}/messages",
            json={"visitor_id": visitor, "text": text, "locale": "nl_BE", "message_id": text},
        )
        assert response.status_code == 202

    def conversation(status: str) -> dict | None:
        items = httpx.get(
            f"{api}/v1/dispatch/conversations", headers=admin, params={"status": "open"}
        ).json()["items"]
        return next((c for c in items if c["status"] == status), None)

    def detail(cid: str) -> dict:
        return httpx.get(f"{api}/v1/conversations/{cid}", headers=admin).json()

    def said(cid: str) -> list[tuple[str, str]]:
        return [(m["author"], m["text"]) for m in detail(cid)["messages"]]

    write("visitor-bot", "hallo")
    cid = wait_for(lambda: conversation("bot"))["conversation_id"]
    wait_for(lambda: ("bot", "Bot: you said hallo") in said(cid))

    # The bot asks for a human: routing gives the visitor to an agent who takes over.
    write("visitor-bot", "a human please")
    wait_for(lambda: detail(cid)["handover"] == "waiting_for_human")
    holder = wait_for(lambda: detail(cid)["assignee_id"])
    agent = (
        nora
        if holder == wait_for(lambda: _user_id(api, nora))
        else login(stack, "eric@demo.example")
    )
    taken = httpx.post(f"{api}/v1/conversations/{cid}/take", headers=agent)
    assert taken.status_code == 200 and taken.json()["handover"] == "human"

    # With the humans, the bot hears nothing from this visitor.
    heard = len(Bot.heard)
    write("visitor-bot", "thanks agent")
    wait_for(lambda: ("visitor", "thanks agent") in said(cid))
    time.sleep(1)
    assert len(Bot.heard) == heard

    # Resumed: the bot answers again.
    resumed = httpx.post(f"{api}/v1/conversations/{cid}/bot/resume", headers=agent)
    assert resumed.status_code == 200 and resumed.json()["status"] == "bot"
    write("visitor-bot", "hallo again")
    wait_for(lambda: ("bot", "Bot: you said hallo again") in said(cid))

    # A failing bot loses nothing: the message is kept and humans get the visitor.
    write("visitor-crash", "crash now")
    failed = wait_for(
        lambda: next(
            (
                c
                for c in httpx.get(
                    f"{api}/v1/dispatch/conversations", headers=admin, params={"status": "open"}
                ).json()["items"]
                if c["preview"] == "crash now" and c["handover"] == "waiting_for_human"
            ),
            None,
        )
    )
    assert ("visitor", "crash now") in said(failed["conversation_id"])


def _user_id(api: str, headers: dict[str, str]) -> str:
    return httpx.get(f"{api}/v1/auth/session", headers=headers).json()["user_id"]
