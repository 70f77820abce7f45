"""Killing services mid-stream loses no message and counts none twice.

Visitors keep writing while, one after the other, ingest, conversation, routing and stats
are killed (SIGKILL: no graceful shutdown) and restarted. The client retries refused
requests with the same message id, as the chat widget does. In the end every visitor
has exactly one conversation, every conversation is assigned, and stats counts each once.
"""

from __future__ import annotations

import signal
import threading
import time

import httpx
from sqlalchemy import create_engine, func, select, text

from services.stack import seed_demo
from tests.support.e2e import login, wait_for

VISITORS = 240
VICTIMS = ("ingest", "conversation", "routing", "stats")


def test_killing_each_service_loses_and_doubles_nothing(make_stack):
    stack = make_stack("sqlite")
    demo = seed_demo(stack)
    admin = login(stack, "admin@demo.example")
    # Enough room for every conversation: raise capacity through two more online agents.
    for n in range(2):
        httpx.post(
            f"{stack.url('conversation')}/v1/users",
            headers=admin,
            json={
                "first_name": f"Extra{n}",
                "last_name": "Agent",
                "email": f"extra{n}@demo.example",
                "role": "agent",
                "mother_tongue": "nl",
                "languages": ["nl"],
                "channel_ids": [demo["channel_id"]],
                "capacity": 500,
                "password": "demo-password-1",
            },
        ).raise_for_status()
        httpx.put(
            f"{stack.url('conversation')}/v1/me/presence",
            headers=login(stack, f"extra{n}@demo.example"),
            json={"presence": "online"},
        ).raise_for_status()

    accepted: list[str] = []

    def send_all() -> None:
        with httpx.Client(timeout=10) as http:
            for n in range(VISITORS):
                body = {
                    "visitor_id": f"visitor-{n}",
                    "text": f"message {n}",
                    "message_id": f"m-{n}",
                }
                while True:  # retry until accepted, like the widget
                    try:
                        response = http.post(
                            f"{stack.url('ingest')}/v1/webchat/{demo['webchat_key']}/messages",
                            json=body,
                        )
                        if response.status_code == 202:
                            accepted.append(body["message_id"])
                            break
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.1)
                time.sleep(0.02)

    sender = threading.Thread(target=send_all)
    sender.start()
    for victim in VICTIMS:
        time.sleep(1.0)
        stack.stop_service(victim, signal.SIGKILL)
        time.sleep(0.5)
        stack.start_service(victim)
        stack.wait_ready(60, [victim])
    sender.join(timeout=120)
    assert not sender.is_alive()
    assert len(accepted) == VISITORS

    stats_url = f"{stack.url('stats')}/v1/stats/conversations/per-channel"

    def stats_settled() -> dict | None:
        body = httpx.get(stats_url, headers=admin).json()
        channels = body["channels"]
        return body if channels and channels[0]["assigned"] == VISITORS else None

    stats = wait_for(stats_settled, timeout=90)
    assert stats["total"] == VISITORS  # not one lost, not one counted twice

    engine = create_engine(f"sqlite:///{stack.data_dir / 'conversation.sqlite'}")
    with engine.connect() as conn:
        conversations = conn.scalar(text("SELECT count(*) FROM conversations"))
        assigned = conn.scalar(text("SELECT count(*) FROM conversations WHERE status = 'assigned'"))
        messages = conn.scalar(text("SELECT count(*) FROM messages"))
    assert (conversations, assigned, messages) == (VISITORS, VISITORS, VISITORS)

    stats_db = create_engine(f"sqlite:///{stack.data_dir / 'stats.sqlite'}")
    with stats_db.connect() as conn:
        from services.stats.store import conversation_facts

        total_messages = conn.scalar(select(func.sum(conversation_facts.c.messages_in)))
    assert total_messages == VISITORS
