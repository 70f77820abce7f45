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

import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text

from services.stack import SERVICES, Stack, seed_demo
from shared.local_broker import LocalBroker, free_port
from tests.support.e2e import database_urls, login, wait_for
from tests.support.faults import (
    Visitors,
    add_agent,
    audit,
    engine,
    feed,
    kill_and_restart,
)

VISITORS = 90
MESSAGES_EACH = 3
VICTIMS = ("conversation", "routing", "stats", "billing", "sla")


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

    try:
        stack.start()
        demo = seed_demo(stack)
        admin = login(stack, "admin@demo.example")
        add_agent(stack, admin, demo["channel_id"], 0)
        visitors = Visitors(
            stack, demo["webchat_key"], VISITORS, MESSAGES_EACH, pause_s=0.02
        ).start()
        time.sleep(1.5)
        broker.kill()  # SIGKILL: the log is recovered from disk on the restart
        time.sleep(2.0)
        broker.start()
        # A second agent created after the broker's restart: billing and sla see a change.
        add_agent(stack, admin, demo["channel_id"], 1)
        for victim in VICTIMS:
            time.sleep(1.0)
            kill_and_restart(stack, victim)
        assert visitors.join(timeout=240)
        assert len(visitors.accepted) == VISITORS * MESSAGES_EACH
        # Ingest held the requests (or answered 503 and the client retried) while Kafka was down.
        assert visitors.slowest > 1.5, "the broker's outage was not felt: this run proved nothing"

        stats_url = f"{stack.url('stats')}/v1/stats/conversations/per-channel"

        def stats_settled() -> dict | None:
            body = httpx.get(stats_url, headers=admin, timeout=30).json()
            channels = body["channels"]
            return body if channels and channels[0]["assigned"] == VISITORS else None

        stats = wait_for(stats_settled, timeout=120)
        assert stats["total"] == VISITORS  # not one lost, not one counted twice

        conversations_db = engine(stack, "conversation")
        with conversations_db.connect() as conn:
            counts = (
                conn.scalar(text("SELECT count(*) FROM conversations")),
                conn.scalar(text("SELECT count(*) FROM conversations WHERE status = 'assigned'")),
                conn.scalar(text("SELECT count(*) FROM messages")),
            )
        conversations_db.dispose()
        assert counts == (VISITORS, VISITORS, VISITORS * MESSAGES_EACH)

        # Order: in the conversation log, each visitor's messages come as they were sent,
        # each once, each in its own conversation.
        log = audit(feed(stack, "conversations"), visitors.accepted)
        assert log.received == log.distinct_events == VISITORS * MESSAGES_EACH
        assert log.conversations == VISITORS
        assert (log.lost, log.duplicated, log.out_of_order, log.misplaced) == (0, 0, 0, 0)

        stats_db = engine(stack, "stats")
        with stats_db.connect() as conn:
            from services.stats.store import conversation_facts

            messages_in = conn.scalar(select(func.sum(conversation_facts.c.messages_in)))
        stats_db.dispose()
        assert messages_in == VISITORS * MESSAGES_EACH

        # Billing: one activation per end user (the admin, Nora, Eric and the two extras).
        users = [e for e in feed(stack, "directory") if e["type"] == "EndUserCreated"]
        billing_db = engine(stack, "billing")

        def billing_settled() -> tuple[int, int] | None:
            with billing_db.connect() as conn:
                found = (
                    conn.scalar(text("SELECT count(*) FROM activations")),
                    conn.scalar(text("SELECT count(DISTINCT user_id) FROM activations")),
                )
            return found if found[0] >= len(users) else None

        assert wait_for(billing_settled, timeout=60) == (len(users), len(users))
        billing_db.dispose()
        sla_db = engine(stack, "sla")
        with sla_db.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM tenants")) == 1
        sla_db.dispose()
    finally:
        stack.stop()
        broker.close()
