"""N replicas, same result: two processes of every service that scales, one outcome.

One stack runs each service once; another runs conversation, ingest, routing, stats,
billing and sla twice (one database per service, one broker), with the same workload spread
over the replicas: a tenant onboarded, the same email and competence name created at once
on every replica, agents set up, visitors writing through both ingest replicas, an incident
recorded and resolved on different SLA replicas. The outcome - conversations and who has
them, the statistics, billing's activations and preview, the SLA record, which requests got
409 - is compared with the one-replica run, and every relay is led by exactly one replica.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.stack import DEMO_OPERATOR_TOKEN, SERVICES, Stack
from shared.local_broker import free_port

SCALED = ("conversation", "ingest", "routing", "stats", "billing", "sla")
OPERATOR = {"Authorization": f"Bearer {DEMO_OPERATOR_TOKEN}"}
PASSWORD = "replica-password-1"
VISITORS = 8
#: The work one replica must do alone, per service (see shared.leadership).
LED = {
    "conversation": ("outbox:directory", "outbox:conversations"),
    "routing": ("outbox:routing",),
    "billing": ("outbox:billing",),
    "sla": ("outbox:sla",),
}


def eventually(check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)


def at_once(calls: list[Callable[[], httpx.Response]]) -> list[int]:
    """The requests sent together; their status codes, sorted."""
    barrier = threading.Barrier(len(calls))
    codes: list[int] = []

    def run(call: Callable[[], httpx.Response]) -> None:
        barrier.wait()
        codes.append(call().status_code)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return sorted(codes)


def login(url: str, email: str) -> dict[str, str]:
    response = httpx.post(f"{url}/v1/auth/login", json={"email": email, "password": PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['token']}"}


def leaders(urls: list[str], work: str) -> int:
    """How many of these processes say they lead ``work`` now."""
    pattern = re.compile(rf'^interact_leader\{{work="{re.escape(work)}"\}} (\S+)$', re.M)
    total = 0.0
    for url in urls:
        found = pattern.search(httpx.get(f"{url}/metrics", timeout=10).text)
        total += float(found.group(1)) if found else 0.0
    return int(total)


def drive(urls: dict[str, list[str]]) -> dict[str, Any]:
    """The workload, spread round-robin over the replicas; returns its outcome, with ids
    replaced by what a person would compare (emails, previews)."""
    conv = urls["conversation"]

    def on(service: str, n: int) -> str:
        return urls[service][n % len(urls[service])]

    created = httpx.post(
        f"{conv[0]}/v1/operator/tenants",
        headers=OPERATOR,
        json={
            "name": "Replica Bakery",
            "plan": "pro",
            "sdk_option": True,  # the website chat
            "minimum_end_users": 1,
            "default_language": "en",
            "first_end_user": {
                "first_name": "Ada",
                "last_name": "Admin",
                "email": "admin@replica.example",
                "language": "en",
                "password": PASSWORD,
            },
        },
        timeout=30,
    )
    assert created.status_code == 201, created.text
    tenant_id = created.json()["tenant_id"]
    admin = login(on("conversation", 1), "admin@replica.example")
    httpx.put(
        f"{on('conversation', 1)}/v1/settings/general",
        headers=admin,
        json={"routing_enabled": True, "languages": ["fr", "en"], "default_capacity": 20},
    ).raise_for_status()
    channel = httpx.post(
        f"{conv[0]}/v1/channels", headers=admin, json={"channel_type": "webchat", "name": "Site"}
    )
    channel.raise_for_status()
    channel_id, key = channel.json()["channel_id"], channel.json()["public_key"]

    # The same email and the same competence name, asked for at once on every replica.
    analyst = {
        "first_name": "Rae",
        "last_name": "Race",
        "email": "race@replica.example",
        "role": "analyst",
        "mother_tongue": "en",
        "password": PASSWORD,
    }
    same_email = at_once(
        [
            (lambda url: lambda: httpx.post(f"{url}/v1/users", headers=admin, json=analyst))(
                on("conversation", n)
            )
            for n in range(4)
        ]
    )
    same_name = at_once(
        [
            (
                lambda url: (
                    lambda: httpx.post(
                        f"{url}/v1/competences", headers=admin, json={"name": "Orders"}
                    )
                )
            )(on("conversation", n))
            for n in range(4)
        ]
    )

    for n, language in enumerate(("fr", "en")):
        url = on("conversation", n)
        httpx.post(
            f"{url}/v1/users",
            headers=admin,
            json={
                "first_name": language,
                "last_name": "Agent",
                "email": f"{language}@replica.example",
                "role": "agent",
                "mother_tongue": language,
                "languages": [language],
                "channel_ids": [channel_id],
                "password": PASSWORD,
            },
        ).raise_for_status()
        agent = login(on("conversation", n + 1), f"{language}@replica.example")
        httpx.put(
            f"{url}/v1/me/presence", headers=agent, json={"presence": "online"}
        ).raise_for_status()

    for n in range(VISITORS):
        language = ("fr_BE", "en_GB")[n % 2]
        for m, text in enumerate((f"visitor {n} asks", f"visitor {n} again", f"visitor {n} asks")):
            posted = httpx.post(  # the third is a resend of the first (same message id)
                f"{on('ingest', n + m)}/v1/webchat/{key}/messages",
                json={
                    "visitor_id": f"visitor-{n}",
                    "text": text,
                    "locale": language,
                    "message_id": f"{n}-{m % 2}",
                },
            )
            assert posted.status_code == 202, posted.text

    agents = {
        lang: login(on("conversation", 0), f"{lang}@replica.example") for lang in ("fr", "en")
    }

    def queues() -> dict[str, list[tuple[str | None, str, int]]] | None:
        found = {}
        for lang, headers in agents.items():
            items = []
            for url in conv:  # every replica answers the same
                page = httpx.get(f"{url}/v1/queue", headers=headers).json()["items"]
                items.append(sorted((c["preview"], c["status"], c["message_count"]) for c in page))
            if any(i != items[0] for i in items) or len(items[0]) != VISITORS // 2:
                return None
            if any(count != 2 for _p, _s, count in items[0]):
                return None
            found[lang] = items[0]
        return found

    assigned = eventually(queues)

    def per_channel() -> list[Any] | None:
        answers = [
            httpx.get(f"{url}/v1/stats/conversations/per-channel", headers=admin).json()
            for url in urls["stats"]
        ]
        figures = [(a["total"], a["channels"]) for a in answers]
        done = figures[0][0] == VISITORS and figures[0][1][0]["assigned"] == VISITORS
        return figures[0] if done and all(f == figures[0] for f in figures) else None

    stats = eventually(per_channel)

    # An incident recorded on one SLA replica, moved on by the others.
    now = datetime.now(UTC).replace(microsecond=0)

    def report() -> httpx.Response | None:
        answer = httpx.post(
            f"{on('sla', 1)}/v1/sla/operator/incidents",
            headers=OPERATOR,
            json={
                "tenant_id": tenant_id,
                "priority": "P2",
                "reported_via": "portal",
                "created_at": (now - timedelta(hours=3)).isoformat(),
                "summary": "chat slow",
            },
        )
        return answer if answer.status_code == 201 else None  # until the tenant is known

    incident = eventually(report).json()["incident_id"]
    for n, (path, ago) in enumerate((("troubleshooting", 2), ("resolution", 1))):
        moved = httpx.post(
            f"{on('sla', n)}/v1/sla/operator/incidents/{incident}/{path}",
            headers=OPERATOR,
            json={"at": (now - timedelta(hours=ago)).isoformat()},
        )
        assert moved.status_code == 200, moved.text
    records = [
        httpx.get(f"{url}/v1/sla/operator/incidents/{incident}", headers=OPERATOR).json()
        for url in urls["sla"]
    ]
    assert all(r == records[0] for r in records)
    sla = {k: records[0][k] for k in ("priority", "reported_via", "summary", "service_levels")}
    sla["resolved"] = records[0]["resolved_at"] is not None

    users = httpx.get(f"{conv[0]}/v1/users", headers=admin, params={"limit": 100}).json()
    email_of = {u["user_id"]: u["email"] for u in users["items"]}

    def activations() -> list[Any] | None:
        answers = [
            httpx.get(f"{url}/v1/billing/activations", headers=admin).json()
            for url in urls["billing"]
        ]
        periods = [
            sorted((email_of.get(a["user_id"], "?"), a["deactivated_at"]) for a in answer)
            for answer in answers
        ]
        return (
            periods[0] if len(periods[0]) == 4 and all(p == periods[0] for p in periods) else None
        )

    billed = eventually(activations)
    preview = httpx.get(f"{on('billing', 1)}/v1/billing/preview", headers=admin).json()

    for service, works in LED.items():
        for work in works:
            assert eventually(lambda w=work, s=service: leaders(urls[s], w) == 1, 20), work

    return {
        "same_email": same_email,
        "same_name": same_name,
        "queues": assigned,
        "stats": stats,
        "sla": sla,
        "activations": billed,
        "preview": (preview["period"], preview["licence_cents"], preview["total_cents"]),
        "users": sorted(email_of.values()),
    }


@pytest.fixture(scope="module")
def one_replica(kafka_bootstrap, tmp_path_factory) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The outcome with every service once (SQLite), for both stores' runs to compare with."""
    stack = Stack(
        tmp_path_factory.mktemp("one-replica"),
        ports={name: free_port() for name in SERVICES},
        env={"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap},
    ).start()
    try:
        outcome = drive({name: [stack.url(name)] for name in SCALED})
    finally:
        stack.stop()
    assert outcome["same_email"] == [201, 409, 409, 409]
    assert outcome["same_name"] == [201, 409, 409, 409]
    return outcome


# PostgreSQL, the store replicas share in production (two replicas on SQLite files were
# run too when this was written; they take another 95 s of CI: `-k` with the sqlite id).
@pytest.mark.parametrize("store", ["postgres"])
def test_two_replicas_of_every_service_give_the_outcome_of_one(
    make_stack, one_replica, store
) -> None:  # type: ignore[no-untyped-def]
    double: Stack = make_stack(store)
    replicas = {name: double.start_replica(name) for name in SCALED}
    double.wait_ready(names=list(replicas.values()))
    two = drive({name: [double.url(name), double.url(replicas[name])] for name in SCALED})
    assert two == one_replica
