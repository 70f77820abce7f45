"""Statistics, billing and service levels on the running stack with the demo tenant: one
login works against every service, the operator runs the service desk, and a message sent
through the website chat shows up in the dashboard."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import httpx

from services.stack import DEMO_OPERATOR_TOKEN, seed_demo
from tests.support.e2e import login, wait_for

OPERATOR = {"Authorization": f"Bearer {DEMO_OPERATOR_TOKEN}"}


def test_stats_billing_and_sla_for_the_demo_tenant(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack("sqlite")
    demo = seed_demo(stack)
    admin, nora = login(stack, "admin@demo.example"), login(stack, "nora@demo.example")
    stats, billing, sla = stack.url("stats"), stack.url("billing"), stack.url("sla")

    sent = httpx.post(
        f"{stack.url('ingest')}/v1/webchat/{demo['webchat_key']}/messages",
        json={"visitor_id": "v-stats", "text": "Hoi", "locale": "nl_BE", "message_id": "s1"},
    )
    assert sent.status_code == 202

    # Statistics: the conversation is counted; summary, series and CSV agree.
    def summary() -> dict | None:
        body = httpx.get(f"{stats}/v1/stats/conversations", headers=admin).json()
        return body if body["summary"]["conversations"] >= 1 else None

    body = wait_for(summary, timeout=60)
    export = httpx.get(f"{stats}/v1/stats/conversations", headers=admin, params={"format": "csv"})
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert sum(int(r["conversations"]) for r in rows) == body["summary"]["conversations"]
    assert httpx.get(f"{stats}/v1/stats/end-users", headers=nora).status_code == 403

    # Billing: the running month's preview counts the demo's three end users.
    preview = wait_for(
        lambda: (
            (r := httpx.get(f"{billing}/v1/billing/preview", headers=admin)).status_code == 200
            and r.json()
        ),
        timeout=60,
    )
    assert preview["total_cents"] > 0
    assert httpx.get(f"{billing}/v1/billing/preview", headers=nora).status_code == 403

    # Service levels (Bot plan): the operator reports a P2 incident; the tenant sees it live.
    levels = httpx.get(f"{sla}/v1/sla/service-levels", headers=admin).json()
    assert levels["has_service_levels"] is True
    created = wait_for(
        lambda: (
            (
                r := httpx.post(
                    f"{sla}/v1/sla/operator/incidents",
                    headers=OPERATOR,
                    json={
                        "tenant_id": demo["tenant_id"],
                        "priority": "P2",
                        "reported_via": "portal",
                        "created_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
                    },
                )
            ).status_code
            == 201
            and r.json()
        ),
        timeout=60,
    )
    incidents = httpx.get(f"{sla}/v1/sla/incidents", headers=admin).json()
    assert created["incident_id"] in str(incidents)
    assert httpx.get(f"{sla}/v1/sla/incidents", headers=nora).status_code == 403
    # The operator's token is not a tenant login, and no login is not one either.
    assert httpx.get(f"{sla}/v1/sla/incidents", headers=OPERATOR).status_code == 401
    assert httpx.get(f"{billing}/v1/billing/preview").status_code == 401
