"""The whole stack on PostgreSQL rides out a database outage while visitors write.

The stack's own throw-away PostgreSQL cluster is stopped with ``pg_ctl`` in the middle of a
stream of visitors' messages and started again on the same port. Meanwhile the Portal API
answers JSON ``503 database_unavailable`` (never a plain-text 500); afterwards, without a
restart of any service, every conversation is there once, assigned, with its messages once,
and statistics count each once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from services.stack import SERVICES, Stack, seed_demo
from shared.local_broker import free_port
from tests.support.e2e import database_urls, login, wait_for
from tests.support.faults import add_agent
from tests.support.postgres import PostgresCluster

VISITORS = 30
MESSAGES_EACH = 2


@pytest.fixture
def own_postgres() -> Iterator[PostgresCluster]:
    """A cluster of this test only: stopping the session's would break other tests."""
    cluster = PostgresCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.timeout(600)
def test_the_stack_recovers_from_a_database_outage_without_restarts(
    tmp_path: Path, kafka_bootstrap: str, own_postgres: PostgresCluster
) -> None:
    urls = database_urls(own_postgres, "outage")
    stack = Stack(
        tmp_path / "stack",
        ports={name: free_port() for name in SERVICES},
        env={
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "CONSUMER_RETRY_MAX_SECONDS": "2",
        },
        database_urls=urls,
    )
    try:
        stack.start()
        demo = seed_demo(stack)
        admin = login(stack, "admin@demo.example")
        add_agent(stack, admin, demo["channel_id"], 0)  # room for every visitor
        pids = {name: process.pid for name, process in stack.processes.items()}
        accepted: list[str] = []

        def send_all() -> None:
            with httpx.Client(timeout=10) as http:
                for n in range(VISITORS):
                    for k in range(MESSAGES_EACH):
                        body = {
                            "visitor_id": f"v-{n}",
                            "text": f"{n}:{k}",
                            "message_id": f"m{n}-{k}",
                        }
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
                    time.sleep(0.05)

        sender = threading.Thread(target=send_all)
        sender.start()
        wait_for(lambda: len(accepted) >= 10, timeout=60)
        own_postgres.pause()  # mid-stream
        try:
            answer = httpx.get(f"{stack.url('conversation')}/v1/queue", headers=admin, timeout=30)
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"]["code"] == "database_unavailable"
            stats = httpx.get(
                f"{stack.url('stats')}/v1/stats/conversations/per-channel",
                headers=admin,
                timeout=30,
            )
            assert stats.status_code == 503, stats.text
            # Its own database, or the session check that needs the conversation's.
            assert stats.json()["error"]["code"] in {"database_unavailable", "auth_unavailable"}
            time.sleep(3.0)  # consumers meet the outage and back off
        finally:
            own_postgres.resume()
        sender.join(timeout=240)
        assert not sender.is_alive()
        assert len(accepted) == VISITORS * MESSAGES_EACH

        def stats_settled() -> dict | None:
            response = httpx.get(
                f"{stack.url('stats')}/v1/stats/conversations/per-channel",
                headers=admin,
                timeout=30,
            )
            if response.status_code != 200:
                return None
            channels = response.json()["channels"]
            return response.json() if channels and channels[0]["assigned"] == VISITORS else None

        stats_body = wait_for(stats_settled, timeout=180)
        assert stats_body["total"] == VISITORS  # not one lost, not one counted twice
        conversations = create_engine(urls["conversation"])
        with conversations.connect() as conn:
            counts = (
                conn.scalar(text("SELECT count(*) FROM conversations")),
                conn.scalar(text("SELECT count(*) FROM conversations WHERE status = 'assigned'")),
                conn.scalar(text("SELECT count(*) FROM messages")),
            )
        conversations.dispose()
        assert counts == (VISITORS, VISITORS, VISITORS * MESSAGES_EACH)
        for name in SERVICES:
            assert httpx.get(f"{stack.url(name)}/ready", timeout=30).status_code == 200, name
        # Bounded logs: each consumer group and background loop says it once per outage.
        for name in SERVICES:
            lines = (stack.data_dir / f"{name}.log").read_text().splitlines()
            outages = [json.loads(line) for line in lines if "consumer cannot go on" in line]
            groups = [entry["group"] for entry in outages]
            assert len(groups) == len(set(groups)), f"{name}: {groups}"
            restarts = [
                json.loads(line)["task"]
                for line in lines
                if "background task failed; restarting" in line
            ]
            assert len(restarts) == len(set(restarts)), f"{name}: {restarts}"
        # Nobody was restarted: the same processes, all alive.
        assert {n: p.pid for n, p in stack.processes.items()} == pids
        assert all(p.poll() is None for p in stack.processes.values())
    finally:
        stack.stop()
