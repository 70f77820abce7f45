"""The alert rules and the dashboard as files, and the metric names their expressions read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import promql_parser
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "k8s" / "prometheus-rules.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "interact.json"

#: Series that come from elsewhere than the services, and from where.
EXTERNAL = {
    "up": "Prometheus itself, per scrape target",
    "kafka_consumergroup_lag": "Strimzi's Kafka Exporter (deploy/k8s/kafka.yaml)",
    "kafka_consumergroup_current_offset": "Strimzi's Kafka Exporter (deploy/k8s/kafka.yaml)",
}


SERIES_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "gauge": ("",),
    "info": ("_info",),
    "stateset": ("",),
    "unknown": ("",),
}


def metric_names(expr: str) -> set[str]:
    # Grafana's template variables are not PromQL: put in the values they stand for.
    return selected_names(promql_parser.parse(expr.replace("$namespace", "interact")))


def alert_rules() -> list[dict[str, Any]]:
    rule = yaml.safe_load(RULES.read_text())
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def dashboard_exprs() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def selected_names(node: Any) -> set[str]:
    """The metric names an expression selects."""
    if isinstance(node, promql_parser.VectorSelector):
        names = {m.value for m in node.matchers.matchers if m.name == "__name__"}
        return names | ({node.name} if node.name else set())
    if isinstance(node, promql_parser.MatrixSelector):
        return selected_names(node.vector_selector)
    if isinstance(node, promql_parser.Call):
        return set().union(*(selected_names(arg) for arg in node.args))
    if isinstance(node, promql_parser.AggregateExpr):
        return selected_names(node.expr) | (
            selected_names(node.param) if node.param is not None else set()
        )
    if isinstance(node, promql_parser.BinaryExpr):
        return selected_names(node.lhs) | selected_names(node.rhs)
    if isinstance(node, promql_parser.ParenExpr | promql_parser.UnaryExpr):
        return selected_names(node.expr)
    if isinstance(node, promql_parser.SubqueryExpr):
        return selected_names(node.expr)
    if isinstance(node, promql_parser.NumberLiteral | promql_parser.StringLiteral):
        return set()
    raise AssertionError(f"unexpected PromQL node {type(node).__name__}")
