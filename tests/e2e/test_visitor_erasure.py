"""Visitor erasure through the running stack: 100 visitors, 10 erased, looked for everywhere.

Every service is a real process on its own broker (so every topic can be read from the
beginning and no other test's consumer group holds the transit topics back). The erased
visitors' names, e-mail addresses, phone numbers and message texts must be found in no
table of any service's database, in no record of any topic, and not in a copy of the
database files; the 90 others stay as they were; the statistics still count all 100. One
erasure is killed half-way (the conversation service is killed while it runs) and run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import MetaData, Table, create_engine, inspect, select

from services.stack import DEMO_OPERATOR_TOKEN, SERVICES, Stack, seed_demo
from shared import topics
from shared.datakeys import ERASED
from shared.local_broker import free_port
from tests.support.e2e import database_urls, login

VISITORS, ERASED_COUNT, REPLIED = 100, 10, 12


def wait_for(check, timeout: float = 60.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met in time")
        time.sleep(0.2)


def _personal(n: int, tag: str) -> dict[str, str]:
    """Values unique to visitor ``n`` (so finding one anywhere means a leak)."""
    return {
        "name": f"Visitor{tag}Name{n:03d}",
        "email": f"person{n:03d}.{tag}@mail.example",
        "phone": f"+32 4{int(tag, 16) % 10**6:06d}{n:03d}",
        "text": f"my secret text {tag} number {n:03d}",
        "reply": f"agent answer {tag} for {n:03d}",
        "note": f"note about {tag} {n:03d}",
        "external": f"webchat-{tag}-{n:03d}",
    }


def _table_values(url: str) -> list[str]:
    """Every value of every row of every table, as text (bytes decoded leniently)."""
    engine = create_engine(url)
    found: list[str] = []
    try:
        with engine.connect() as conn:
            schema = inspect(conn)
            for name in schema.get_table_names():
                table = Table(name, MetaData(), autoload_with=conn)
                for row in conn.execute(select(table)):
                    for value in row:
                        if isinstance(value, bytes | memoryview):
                            found.append(bytes(value).decode("utf-8", "replace"))
                        elif value is not None:
                            found.append(str(value))
    finally:
        engine.dispose()
    return found


async def _topic_records(bootstrap: str) -> list[str]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()
        partitions = [
            TopicPartition(name, p)
            for name in topics.ALL
            for p in (cluster.partitions_for_topic(name) or ())
        ]
        assert len(partitions) == len(topics.ALL) * 6
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[str] = []

        async def behind() -> bool:
            return any([await consumer.position(tp) < end for tp, end in ends.items()])

        while await behind():
            batch = await consumer.getmany(timeout_ms=1000)
            for messages in batch.values():
                for message in messages:
                    headers = " ".join(v.decode("utf-8", "replace") for _k, v in message.headers)
                    value = (message.value or b"").decode("utf-8", "replace")
                    records.append(f"{headers} {value}")
        return records
    finally:
        await consumer.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def stack(request, tmp_path):  # type: ignore[no-untyped-def]
    urls = {}
    if request.param == "postgres":
        urls = database_urls(request.getfixturevalue("postgres"), f"er_{uuid.uuid4().hex[:8]}")
    own = Stack(
        tmp_path / "stack",
        ports={name: free_port() for name in SERVICES},
        env={"ERASURE_WAIT_SECONDS": "20"},
        database_urls=urls,
    )
    own.start()
    yield own
    own.stop()


def test_erased_visitors_are_readable_nowhere_and_the_others_stay(stack: Stack, tmp_path: Path):
    demo = seed_demo(stack)
    api, ingest = stack.url("conversation"), stack.url("ingest")
    admin, nora = login(stack, "admin@demo.example"), login(stack, "nora@demo.example")
    nora_id = httpx.get(f"{api}/v1/auth/session", headers=nora).json()["user_id"]
    tag = uuid.uuid4().hex[:8]
    people = [_personal(n, tag) for n in range(VISITORS)]

    with httpx.Client(timeout=30) as http:
        for n, p in enumerate(people):
            sent = http.post(
                f"{ingest}/v1/webchat/{demo['webchat_key']}/messages",
                json={
                    "visitor_id": p["external"],
                    "visitor_name": p["name"],
                    "text": p["text"],
                    "locale": "nl_BE",
                    "message_id": f"m-{tag}-{n}",
                },
            )
            assert sent.status_code == 202, sent.text

        def conversations() -> dict[str, dict]:
            url = f"{api}/v1/dispatch/conversations?status=open&limit=200"
            return {c["conversation_id"]: c for c in http.get(url, headers=admin).json()["items"]}

        by_id = wait_for(
            lambda: (c := conversations()) and len(c) == VISITORS and c, what="100 conversations"
        )
        visitor_of = {}
        for cid in by_id:
            detail = http.get(f"{api}/v1/conversations/{cid}", headers=admin).json()
            visitor_of[detail["messages"][0]["text"]] = (cid, detail["visitor_id"])
        for n, p in enumerate(people):
            cid, visitor_id = visitor_of[p["text"]]
            p["conversation_id"], p["visitor_id"] = cid, visitor_id
            changed = http.patch(
                f"{api}/v1/visitors/{visitor_id}",
                headers=nora,
                json={"email": p["email"], "phone": p["phone"]},
            )
            assert changed.status_code == 200, changed.text
            if n < REPLIED:  # the 10 erased and 2 kept have replies and notes too
                assigned = http.post(
                    f"{api}/v1/dispatch/conversations/{cid}/assign",
                    headers=admin,
                    json={"user_id": nora_id},
                )
                assert assigned.status_code == 200, assigned.text
                reply = http.post(
                    f"{api}/v1/conversations/{cid}/messages",
                    headers=nora,
                    json={"text": p["reply"]},
                )
                assert reply.status_code == 201, reply.text
                note = http.post(
                    f"{api}/v1/conversations/{cid}/notes", headers=nora, json={"text": p["note"]}
                )
                assert note.status_code == 201, note.text
        erased, kept = people[:ERASED_COUNT], people[ERASED_COUNT:]
        # Each reply reached the visitor's webchat mailbox (delivered) before erasing.
        for p in people[:REPLIED]:
            wait_for(
                lambda p=p: any(
                    m.get("delivery_status") == "delivered"
                    for m in http.get(
                        f"{api}/v1/conversations/{p['conversation_id']}", headers=nora
                    ).json()["messages"]
                ),
                what="reply delivered",
            )
        stats_url = f"{stack.url('stats')}/v1/stats/conversations/per-channel"
        wait_for(
            lambda: http.get(stats_url, headers=admin).json()["total"] == VISITORS, what="stats"
        )

        # Only an Administrator erases; another tenant's (or an unknown) visitor is 404.
        refused = http.post(f"{api}/v1/visitors/{erased[0]['visitor_id']}/erasure", headers=nora)
        assert refused.status_code == 403
        unknown = http.post(f"{api}/v1/visitors/{uuid.uuid4()}/erasure", headers=admin)
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "not_found"

    # The first erasure is killed half-way: the service dies while it runs.
    first = erased[0]
    attempt = threading.Thread(
        target=lambda: _quietly(
            lambda: httpx.post(
                f"{api}/v1/visitors/{first['visitor_id']}/erasure", headers=admin, timeout=30
            )
        )
    )
    attempt.start()
    time.sleep(0.05)
    stack.stop_service("conversation", signal.SIGKILL)
    attempt.join()
    stack.start_service("conversation")
    stack.wait_ready(names=["conversation"])
    admin = login(stack, "admin@demo.example")
    admin_id = httpx.get(f"{api}/v1/auth/session", headers=admin).json()["user_id"]

    with httpx.Client(timeout=60) as http:
        for p in erased:
            done = http.post(f"{api}/v1/visitors/{p['visitor_id']}/erasure", headers=admin)
            assert done.status_code == 200, done.text
            assert done.json()["complete"] is True
            assert done.json()["conversation_ids"] == [p["conversation_id"]]
        again = http.post(f"{api}/v1/visitors/{erased[1]['visitor_id']}/erasure", headers=admin)
        assert again.status_code == 200 and again.json()["keys_destroyed"] == 0  # idempotent

        # The Portal shows "erased" where the person was; the others are as they were.
        profile = http.get(f"{api}/v1/visitors/{erased[2]['visitor_id']}", headers=admin).json()
        assert profile["erased_at"] and profile["name"] is None and profile["email"] is None
        assert profile["external_id"] == ERASED
        detail = http.get(f"{api}/v1/conversations/{erased[2]['conversation_id']}", headers=admin)
        assert {m["text"] for m in detail.json()["messages"]} == {ERASED}
        for p in (kept[0], kept[5], kept[-1]):
            profile = http.get(f"{api}/v1/visitors/{p['visitor_id']}", headers=admin).json()
            assert (profile["name"], profile["email"], profile["phone"]) == (
                p["name"],
                p["email"],
                p["phone"],
            )
            assert profile["erased_at"] is None
        texts = {
            m["text"]
            for m in http.get(
                f"{api}/v1/conversations/{kept[0]['conversation_id']}", headers=admin
            ).json()["messages"]
        }
        assert texts == {kept[0]["text"], kept[0]["reply"]}
        # Counts remain: 100 conversations in the statistics.
        wait_for(
            lambda: http.get(stats_url, headers=admin).json()["total"] == VISITORS, what="stats"
        )
        # Ingest has forgotten the erased visitors' mailboxes (asynchronously).
        wait_for(
            lambda: not _found(_all_tables(stack), [erased[-1]["reply"]]), what="ingest forgot"
        )

        # A message after the erasures stays in the inbound topic: the scan below sees clear text.
        later = f"later message {tag}"
        sent = http.post(
            f"{ingest}/v1/webchat/{demo['webchat_key']}/messages",
            json={"visitor_id": kept[0]["external"], "text": later, "message_id": f"l-{tag}"},
        )
        assert sent.status_code == 202

    # Every table of every service, every topic from its beginning, a copy of the files.
    secrets = [
        p[k]
        for p in erased
        for k in ("name", "email", "phone", "text", "reply", "note", "external")
    ]
    rows = _all_tables(stack)
    assert _found(rows, secrets) == []
    kept_values = [p[k] for p in kept for k in ("name", "email", "phone", "text")]
    assert _found(rows, kept_values) == kept_values  # the 90 are all still there
    records = asyncio.run(_topic_records(stack.bootstrap_servers))
    assert _found(records, [later]) == [later], "the topics were read, in clear where clear"
    assert _found(records, secrets) == []
    # Each erasure is audited in the log (the feed shows it): who, when, nothing personal.
    audits = [e for e in _feed(stack) if e["type"] == "VisitorErased"]
    assert sorted(e["payload"]["visitor_id"] for e in audits) == sorted(
        p["visitor_id"] for p in erased
    )
    assert {e["payload"]["by_user_id"] for e in audits} == {admin_id}
    assert _found([str(audits)], secrets) == []
    if not stack.database_urls:  # SQLite: the files themselves, as a file backup copies them
        copy = tmp_path / "backup"
        shutil.copytree(stack.data_dir, copy, ignore=shutil.ignore_patterns("kafka", "*.log"))
        raw = "\n".join(f.read_bytes().decode("utf-8", "replace") for f in copy.rglob("*.sqlite*"))
        assert _found([raw], secrets) == []


def _feed(stack: Stack) -> list[dict]:
    events, after = [], 0
    while True:
        page = httpx.get(
            f"{stack.url('conversation')}/v1/feed/conversations",
            params={"after": after, "limit": 5000},
            headers={"Authorization": f"Bearer {DEMO_OPERATOR_TOKEN}"},
            timeout=60,
        ).json()
        events += [item["event"] for item in page["items"]]
        if not page["items"]:
            return events
        after = page["next_after"]


def _quietly(call) -> None:  # type: ignore[no-untyped-def]
    with contextlib.suppress(httpx.HTTPError):  # the service was killed under it
        call()


def _all_tables(stack: Stack) -> list[str]:
    if stack.database_urls:
        urls = list(stack.database_urls.values())
    else:
        urls = [f"sqlite:///{f}" for f in sorted(stack.data_dir.rglob("*.sqlite"))]
    return [value for url in urls for value in _table_values(url)]


def _found(haystack: list[str], needles: list[str]) -> list[str]:
    text = "\n".join(haystack)
    return [n for n in needles if n in text]
