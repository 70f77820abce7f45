"""10,000 website-chat payloads, each sent and then re-sent 1-3 times, all copies shuffled and
posted concurrently: not one message, conversation or count twice anywhere.

A visitor whose request timed out sends the same ``message_id`` again, maybe while the first
copy is still on its way; copies of one message race through ingest, Kafka and the
conversation service's batches. Checked at the end: each message once in the conversation
log (the feed) and in the Portal's views, each visitor one conversation, assigned once,
and statistics counting each conversation and each message once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text

from services.ingest.application.webchat_limits import lifted_environment
from services.stack import DEMO_OPERATOR_TOKEN, seed_demo
from tests.support.e2e import login, wait_for

PAYLOADS = 10_000
VISITORS = 2_000  # five messages each
AGENTS = 3  # capacity 1,000 each: every conversation can be assigned
CONCURRENCY = 32


def _agents(stack, admin: dict[str, str], channel_id: str) -> None:  # type: ignore[no-untyped-def]
    for n in range(AGENTS):
        httpx.post(
            f"{stack.url('conversation')}/v1/users",
            headers=admin,
            json={
                "first_name": f"Resend{n}",
                "last_name": "Agent",
                "email": f"resend{n}@demo.example",
                "role": "agent",
                "mother_tongue": "nl",
                "languages": ["nl"],
                "channel_ids": [channel_id],
                "capacity": 1000,
                "password": "demo-password-1",
            },
            timeout=30,
        ).raise_for_status()
        httpx.put(
            f"{stack.url('conversation')}/v1/me/presence",
            headers=login(stack, f"resend{n}@demo.example"),
            json={"presence": "online"},
            timeout=30,
        ).raise_for_status()


def _feed(stack, log: str) -> list[dict]:  # type: ignore[no-untyped-def]
    operator = {"Authorization": f"Bearer {DEMO_OPERATOR_TOKEN}"}
    events, after = [], 0
    while True:
        page = httpx.get(
            f"{stack.url('conversation')}/v1/feed/{log}",
            params={"after": after, "limit": 1000},
            headers=operator,
            timeout=30,
        ).json()
        if page["next_after"] == after:
            return events
        events += [item["event"] for item in page["items"]]
        after = page["next_after"]


async def _post_all(url: str, bodies: list[dict]) -> Counter[int]:
    """Every body posted once, ``CONCURRENCY`` at a time; a refused one (503) is retried."""
    statuses: Counter[int] = Counter()
    queue: asyncio.Queue[dict] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def worker() -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            while not queue.empty():
                body = queue.get_nowait()
                while True:
                    try:
                        response = await http.post(url, json=body)
                    except httpx.HTTPError:
                        await asyncio.sleep(0.1)
                        continue
                    statuses[response.status_code] += 1
                    if response.status_code != 503:
                        break
                    await asyncio.sleep(0.1)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return statuses


@pytest.mark.timeout(900)
def test_payloads_resent_shuffled_and_concurrent_are_applied_once(make_stack) -> None:  # type: ignore[no-untyped-def]
    # 30,000 posts from one address: the widget's flood limits would refuse most of them.
    # No take deadline within the run: on a slow machine the sweep would rightly re-route
    # conversations nobody took for two minutes, and count a second assignment.
    stack = make_stack("sqlite", lifted_environment() | {"ROUTING_TAKE_TIMEOUT_SECONDS": "3600"})
    demo = seed_demo(stack)
    admin = login(stack, "admin@demo.example")
    _agents(stack, admin, demo["channel_id"])
    rng = random.Random(11)
    payloads = [
        {"visitor_id": f"resend-{n % VISITORS}", "text": f"m{n}", "message_id": f"resend-m{n}"}
        for n in range(PAYLOADS)
    ]
    copies = [body for body in payloads for _ in range(1 + rng.randint(1, 3))]
    rng.shuffle(copies)
    url = f"{stack.url('ingest')}/v1/webchat/{demo['webchat_key']}/messages"
    statuses = asyncio.run(_post_all(url, copies))
    assert statuses[202] == len(copies), statuses  # every copy accepted (503s were retried)

    stats_url = f"{stack.url('stats')}/v1/stats/conversations/per-channel"

    def stats_settled() -> dict | None:
        body = httpx.get(stats_url, headers=admin, timeout=30).json()
        channels = body["channels"]
        return body if channels and channels[0]["assigned"] >= VISITORS else None

    stats = wait_for(stats_settled, timeout=300)
    assert stats["total"] == VISITORS
    assert stats["channels"][0]["assigned"] == VISITORS

    # Every conversation is assigned once its first message is in; the other messages may
    # still be on their way through the conversation service: wait until the log stops growing.
    deadline = time.monotonic() + 300
    while True:
        log = _feed(stack, "conversations")
        got = sum(e["type"] == "MessageReceived" for e in log)
        if got >= PAYLOADS or time.monotonic() > deadline:
            break  # a shortfall after the deadline fails just below, with its count
        time.sleep(1)
    received = [e for e in log if e["type"] == "MessageReceived"]
    texts = Counter(e["payload"]["content"]["text"] for e in received)
    assert len(received) == PAYLOADS, f"{len(received) - PAYLOADS} more or fewer than sent"
    assert set(texts) == {body["text"] for body in payloads}
    assert max(texts.values()) == 1
    opened = [e for e in log if e["type"] == "ConversationOpened"]
    assert len(opened) == len({e["payload"]["conversation_id"] for e in opened}) == VISITORS
    assigned = Counter(
        e["payload"]["conversation_id"] for e in log if e["type"] == "ConversationAssigned"
    )
    assert len(assigned) == VISITORS and max(assigned.values()) == 1

    views = create_engine(f"sqlite:///{stack.data_dir / 'conversation.sqlite'}")
    with views.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM conversations")) == VISITORS
        assert conn.scalar(text("SELECT count(*) FROM messages")) == PAYLOADS
        assert conn.scalar(text("SELECT count(DISTINCT message_id) FROM messages")) == PAYLOADS
        assert conn.scalar(text("SELECT sum(message_count) FROM conversations")) == PAYLOADS
    views.dispose()

    from services.stats.store import conversation_facts

    stats_db = create_engine(f"sqlite:///{stack.data_dir / 'stats.sqlite'}")

    def messages_counted() -> int | None:
        with stats_db.connect() as conn:  # a new snapshot each time
            counted = conn.scalar(select(func.sum(conversation_facts.c.messages_in)))
        return counted if counted and counted >= PAYLOADS else None

    assert wait_for(messages_counted, timeout=60) == PAYLOADS
    stats_db.dispose()
