"""What an operator relies on, against the whole stack as processes: the demo seed that
compose runs as a one-shot, the metrics the alerts and the dashboard read (scraped from
the running services after real traffic), and /asyncapi on every service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from services.stack import API_SERVICES, DEMO_OPERATOR_TOKEN, DEMO_PASSWORD, SERVICES
from tests.support.alerts import (
    EXTERNAL,
    SERIES_SUFFIXES,
    alert_rules,
    dashboard_exprs,
    metric_names,
)
from tests.support.e2e import login, wait_for

ROOT = Path(__file__).resolve().parents[2]


def _seed(stack, data_dir: Path) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "CONVERSATION_URL": stack.url("conversation"),
        "OPERATOR_TOKEN": DEMO_OPERATOR_TOKEN,
        "DATA_DIR": str(data_dir),
    }
    return subprocess.run(
        [sys.executable, "-m", "services.demo_seed"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _scrape(stack) -> tuple[set[str], dict[str, float]]:  # type: ignore[no-untyped-def]
    names: set[str] = set()
    values: dict[str, float] = {}
    for service in SERVICES:
        text = httpx.get(f"{stack.url(service)}/metrics").text
        for family in text_string_to_metric_families(text):
            names |= {family.name + suffix for suffix in SERIES_SUFFIXES[family.type]}
            for sample in family.samples:
                names.add(sample.name)
                values[sample.name] = values.get(sample.name, 0.0) + sample.value
    return names, values


def _samples(stack, service: str, name: str) -> dict[tuple[str, ...], float]:  # type: ignore[no-untyped-def]
    text = httpx.get(f"{stack.url(service)}/metrics").text
    return {
        (sample.labels["tenant_id"], sample.labels["status"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def _labelled(stack, service: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:  # type: ignore[no-untyped-def]
    text = httpx.get(f"{stack.url(service)}/metrics").text
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def test_seed_traffic_metrics_and_asyncapi(make_stack, tmp_path):  # type: ignore[no-untyped-def]
    stack = make_stack("sqlite")

    # The one-shot seed creates the demo tenant once; a second run changes nothing.
    first = _seed(stack, tmp_path / "seed")
    assert first.returncode == 0, first.stderr
    demo = json.loads(first.stdout.strip().splitlines()[-1])
    again = _seed(stack, tmp_path / "seed")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout.strip().splitlines()[-1]) == demo
    assert "password" not in demo
    answer = httpx.post(
        f"{stack.url('conversation')}/v1/auth/login",
        json={"email": "admin@demo.example", "password": DEMO_PASSWORD},
    )
    assert answer.status_code == 200

    # A little traffic: a visitor writes, routing gives the conversation to Nora.
    posted = httpx.post(
        f"{stack.url('ingest')}/v1/webchat/{demo['webchat_key']}/messages",
        json={"visitor_id": "v-ops", "text": "Dag, mijn bestelling?", "locale": "nl_BE"},
    )
    assert posted.status_code == 202
    nora = login(stack, "nora@demo.example")
    wait_for(
        lambda: httpx.get(f"{stack.url('conversation')}/v1/queue", headers=nora).json()["items"]
    )

    # Every metric the alerts and the dashboard read is exported by the running services.
    names, values = _scrape(stack)
    expressions = [rule["expr"] for rule in alert_rules()] + [expr for _, expr in dashboard_exprs()]
    for expr in expressions:
        unknown = metric_names(expr) - names - set(EXTERNAL)
        assert not unknown, f"{expr}: {sorted(unknown)}"
    # ... and they moved with the traffic.
    assert values["interact_events_published_total"] >= 1
    assert values["interact_outbox_relayed_total"] >= 1
    assert values["interact_events_applied_total"] >= 1
    assert values["interact_events_consumed_total"] >= 1
    assert values["interact_consumer_batch_seconds_count"] >= 1
    assert values.get("interact_dead_letters_total", 0) == 0
    # The message's way in stages (ingest accept -> stored -> routed -> assigned), each
    # measured where it was applied; and each consumer reads its lag.
    for service, group, event_type in (
        ("conversation", "conversation.inbound", "InboundMessageReceived"),
        ("routing", "routing", "ConversationOpened"),
        ("conversation", "conversation.routing", "ConversationRouted"),
    ):
        stage = _labelled(stack, service, "interact_event_latency_seconds_count")
        assert stage.get((("group", group), ("type", event_type)), 0) >= 1, (group, event_type)
    lags = _labelled(stack, "routing", "interact_consumer_lag")
    assert lags and all(lag >= 0 for lag in lags.values())
    assert set(_labelled(stack, "routing", "interact_consumer_stalled").values()) == {0.0}
    # Routing's queue: the demo tenant's conversation is assigned to Nora, none waits.
    queue = _samples(stack, "routing", "interact_routing_conversations")
    assert queue[(demo["tenant_id"], "assigned")] == 1
    assert (demo["tenant_id"], "waiting") not in queue

    # Each service serves the platform's AsyncAPI document.
    committed = json.loads((ROOT / "docs" / "api" / "asyncapi.json").read_text())
    for service in API_SERVICES:
        assert httpx.get(f"{stack.url(service)}/asyncapi").json() == committed
