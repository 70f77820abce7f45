"""The alert rules (deploy/k8s/prometheus-rules.yaml) and the Grafana dashboard
(deploy/grafana/interact.json) name only metrics that exist.

Every expression is parsed as PromQL (promql-parser, the Rust parser of GreptimeDB), and
every metric it selects must be exported at ``/metrics`` by one of the six services,
each built as its ``main()`` builds it (``scripts/api_docs.py``), in its own process so
that its registry holds what that service registers, or come from the few outside
exporters named in :data:`EXTERNAL`. A renamed metric fails here, not on a dark panel.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.alerts import (
    DASHBOARD,
    EXTERNAL,
    ROOT,
    SERIES_SUFFIXES,
    alert_rules,
    dashboard_exprs,
    metric_names,
)

OPERATIONS = ROOT / "docs" / "operations.md"

SERVICES = ("conversation", "ingest", "routing", "stats", "billing", "sla")
# Builds the service's app as its main() does (scripts/api_docs.py) and prints GET /metrics.
SCRAPE = textwrap.dedent(
    """
    import asyncio, sys, tempfile
    from pathlib import Path
    import httpx
    sys.path.insert(0, "scripts")
    from api_docs import app_of

    async def scrape(app) -> str:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
            response = await client.get("/metrics")
            response.raise_for_status()
            return response.text

    with tempfile.TemporaryDirectory() as tmp, app_of(sys.argv[1], Path(tmp)) as app:
        sys.stdout.write(asyncio.run(scrape(app)))
    """
)


@functools.cache
def exported(service: str) -> frozenset[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    scraped = subprocess.run(
        [sys.executable, "-c", SCRAPE, service],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert scraped.returncode == 0, scraped.stderr
    names = set()
    for family in text_string_to_metric_families(scraped.stdout):
        names |= {family.name + suffix for suffix in SERIES_SUFFIXES[family.type]}
        names |= {sample.name for sample in family.samples}
    return frozenset(names)


@functools.cache
def every_exported() -> frozenset[str]:
    return frozenset().union(*(exported(service) for service in SERVICES))


def test_metric_names_are_found_in_every_kind_of_expression() -> None:
    expr = (
        'histogram_quantile(0.9, sum by (le) (rate(a_bucket{x="1"}[5m])))'
        ' / on() group_left max_over_time(b[10m:1m]) > -c or {__name__="d"} and count(e) * 2'
    )
    assert metric_names(expr) == {"a_bucket", "b", "c", "d", "e"}


def test_every_service_exports_its_own_metrics() -> None:
    """The scrape is real: each service shows the metrics its code registers."""
    assert "interact_outbox_lag" in exported("conversation")
    assert "interact_meta_deliveries_total" in exported("ingest")
    assert "interact_events_applied_total" in exported("stats")
    for service in SERVICES:
        assert "interact_consumer_batch_seconds_count" in exported(service)
        assert "interact_consumer_batch_failures_total" in exported(service)
        for name in (  # the consumer loop's and the HTTP side's, in every service
            "interact_consumer_lag",
            "interact_consumer_partition_paused",
            "interact_consumer_stalled",
            "interact_event_latency_seconds_bucket",
            "interact_http_database_unavailable_total",
        ):
            assert name in exported(service), f"{service} does not export {name}"
    assert "interact_outbox_lag" not in exported("stats")


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_alert_rule_names_exported_metrics(rule: dict[str, Any]) -> None:
    names = metric_names(rule["expr"])
    assert names, "an alert that selects no metric cannot fire"
    unknown = names - every_exported() - set(EXTERNAL)
    assert not unknown, f"{rule['alert']} names metrics nobody exports: {sorted(unknown)}"
    assert rule["labels"]["severity"] in {"warning", "critical"}
    assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_alert_names_are_unique_and_explained_in_the_operator_guide() -> None:
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names))
    guide = OPERATIONS.read_text()
    for name in names:
        assert f"`{name}`" in guide, f"docs/operations.md does not say what to do on {name}"


@pytest.mark.parametrize(("title", "expr"), dashboard_exprs(), ids=lambda v: str(v)[:40])
def test_dashboard_panel_names_exported_metrics(title: str, expr: str) -> None:
    names = metric_names(expr)
    assert names, f"{title}: a panel that selects no metric stays empty"
    unknown = names - every_exported() - set(EXTERNAL)
    assert not unknown, f"{title} names metrics nobody exports: {sorted(unknown)}"


def test_dashboard_is_a_grafana_dashboard() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}" and "datasource" in variables
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
