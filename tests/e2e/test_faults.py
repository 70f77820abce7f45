"""Faults on a real Apache Kafka node: the broker is killed and restarted with its data while
visitors write, then conversation, routing, stats, billing and sla are each killed once.

SIGKILL every time (no graceful shutdown, nothing flushed, no group left). The visitors retry
refused requests with the same message id, as the chat widget does, and each sends its next
message only after the previous one was accepted. At the end: every message is in its
conversation once and in the order it was sent, every conversation is assigned, statistics
count each conversation and message once, and billing has one activation per end user.
On SQLite files and on PostgreSQL.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text

from services.stack import DEMO_OPERATOR_TOKEN, SERVICES, Stack, seed_demo
from shared.local_broker import LocalBroker, free_port
from tests.e2e.conftest import database_urls, login
from tests.e2e.test_first_slice import wait_for

VISITORS = 90
MESSAGES_EACH = 3
VICTIMS = ("conversation", "routing", "stats", "billing", "sla")


def _agent(stack: Stack, admin: dict[str, str], channel_id: str, n: int) -> None:
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
            "channel_ids": [channel_id],
            "capacity": 500,
            "password": "demo-password-1",
        },
        timeout=30,
    ).raise_for_status()
    httpx.put(
        f"{stack.url('conversation')}/v1/me/presence",
        headers=login(stack, f"extra{n}@demo.example"),
        json={"presence": "online"},
        timeout=30,
    ).raise_for_status()


def _feed(stack: Stack, log: str) -> list[dict]:
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


@pytest.mark.timeout(600)
@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_broker_and_every_consumer_killed_while_visitors_write(
    tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    urls = {}
    if store == "postgres":
        urls = database_urls(request.getfixturevalue("postgres"), f"faults_{uuid.uuid4().hex[:8]}")
    broker = LocalBroker(tmp_path / "kafka", log_file=tmp_path / "broker.log").start()
    stack = Stack(
        tmp_path / "stack",
        ports={name: free_port() for name in SERVICES},
        env={"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers},
        database_urls=urls,
    )

    def engine(service: str):  # type: ignore[no-untyped-def]
        return create_engine(
            urls.get(service) or f"sqlite:///{stack.data_dir / f'{service}.sqlite'}"
        )

    try:
        stack.start()
        demo = seed_demo(stack)
        admin = login(stack, "admin@demo.example")
        _agent(stack, admin, demo["channel_id"], 0)
        accepted: list[str] = []
        slowest = 0.0  # the longest wait for one 202: the outage must have been felt

        def send_all() -> None:
            nonlocal slowest
            with httpx.Client(timeout=10) as http:
                for n in range(VISITORS):
                    for k in range(MESSAGES_EACH):
                        body = {
                            "visitor_id": f"visitor-{n}",
                            "text": f"{n}:{k}",
                            "message_id": f"m-{n}-{k}",
                        }
                        started = time.monotonic()
                        while True:  # retry until accepted, like the widget
                            try:
                                response = http.post(
                                    f"{stack.url('ingest')}/v1/webchat/"
                                    f"{demo['webchat_key']}/messages",
                                    json=body,
                                )
                                if response.status_code == 202:
                                    accepted.append(body["message_id"])
                                    break
                            except httpx.HTTPError:
                                pass
                            time.sleep(0.1)
                        slowest = max(slowest, time.monotonic() - started)
                    time.sleep(0.02)

        sender = threading.Thread(target=send_all)
        sender.start()
        time.sleep(1.5)
        broker.kill()  # SIGKILL: the log is recovered from disk on the restart
        time.sleep(2.0)
        broker.start()
        # A second agent created after the broker's restart: billing and sla see a change.
        _agent(stack, admin, demo["channel_id"], 1)
        for victim in VICTIMS:
            time.sleep(1.0)
            stack.stop_service(victim, signal.SIGKILL)
            time.sleep(0.5)
            stack.start_service(victim)
            stack.wait_ready(90, [victim])
        sender.join(timeout=240)
        assert not sender.is_alive()
        assert len(accepted) == VISITORS * MESSAGES_EACH
        # Ingest held the requests (or answered 503 and the client retried) while Kafka was down.
        assert slowest > 1.5, "the broker's outage was not felt: this run proved nothing"

        stats_url = f"{stack.url('stats')}/v1/stats/conversations/per-channel"

        def stats_settled() -> dict | None:
            body = httpx.get(stats_url, headers=admin, timeout=30).json()
            channels = body["channels"]
            return body if channels and channels[0]["assigned"] == VISITORS else None

        stats = wait_for(stats_settled, timeout=120)
        assert stats["total"] == VISITORS  # not one lost, not one counted twice

        conversations_db = engine("conversation")
        with conversations_db.connect() as conn:
            counts = (
                conn.scalar(text("SELECT count(*) FROM conversations")),
                conn.scalar(text("SELECT count(*) FROM conversations WHERE status = 'assigned'")),
                conn.scalar(text("SELECT count(*) FROM messages")),
            )
        conversations_db.dispose()
        assert counts == (VISITORS, VISITORS, VISITORS * MESSAGES_EACH)

        # Order: in the conversation log, each visitor's messages come as they were sent.
        received = [e for e in _feed(stack, "conversations") if e["type"] == "MessageReceived"]
        assert len({e["event_id"] for e in received}) == len(received) == VISITORS * 3
        texts: dict[str, list[str]] = {}
        for event in received:
            payload = event["payload"]
            texts.setdefault(payload["conversation_id"], []).append(payload["content"]["text"])
        assert len(texts) == VISITORS
        for sent in texts.values():
            visitor = sent[0].split(":")[0]
            assert sent == [f"{visitor}:{k}" for k in range(MESSAGES_EACH)]

        stats_db = engine("stats")
        with stats_db.connect() as conn:
            from services.stats.store import conversation_facts

            messages_in = conn.scalar(select(func.sum(conversation_facts.c.messages_in)))
        stats_db.dispose()
        assert messages_in == VISITORS * MESSAGES_EACH

        # Billing: one activation per end user (the admin, Nora, Eric and the two extras).
        users = [e for e in _feed(stack, "directory") if e["type"] == "EndUserCreated"]
        billing_db = engine("billing")

        def billing_settled() -> tuple[int, int] | None:
            with billing_db.connect() as conn:
                found = (
                    conn.scalar(text("SELECT count(*) FROM activations")),
                    conn.scalar(text("SELECT count(DISTINCT user_id) FROM activations")),
                )
            return found if found[0] >= len(users) else None

        assert wait_for(billing_settled, timeout=60) == (len(users), len(users))
        billing_db.dispose()
        sla_db = engine("sla")
        with sla_db.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM tenants")) == 1
        sla_db.dispose()
    finally:
        stack.stop()
        broker.close()
