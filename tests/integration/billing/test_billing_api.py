"""Billing end to end on the real broker: tenants made in the Portal, invoices over HTTP.

The conversation service runs in-process and answers login checks over real HTTP; its
directory events reach billing through Kafka; a service credit arrives on the SLA topic;
the invoices' events leave through the outbox onto ``interact.billing-events.v1``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import pytest
import schemathesis
import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy import select

from services.billing.__main__ import build
from services.billing.consumers import make_apply
from services.billing.domain.invoice import Period
from services.billing.settings import BillingSettings
from services.billing.store.tables import service_credits, tenants
from shared import events as ev
from shared import topics
from shared.kafka import Delivery
from shared.local_broker import free_port
from tests.support.tenants import OPERATOR, OPERATOR_TOKEN, new_tenant

BRUSSELS = ZoneInfo("Europe/Brussels")


@pytest.fixture(scope="module")
def conversation_url(portal) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The in-process Portal, also on a real port for billing's login checks."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(portal.app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the conversation API did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def billing(kafka_bootstrap, conversation_url, tmp_path_factory) -> Iterator[tuple]:  # type: ignore[no-untyped-def]
    settings = BillingSettings(
        data_dir=tmp_path_factory.mktemp("billing"),
        kafka_bootstrap_servers=kafka_bootstrap,
        conversation_url=conversation_url,
        operator_token=OPERATOR_TOKEN,
        auto_issue_invoices=False,
    )
    app = build(settings, group_id=f"billing-test-{uuid.uuid4().hex[:6]}")
    with TestClient(app) as client:
        yield app, client


def wait_for(check, what: str, timeout: float = 45.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while (found := check()) is None or found is False:
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return found


def known(service: FastAPI, tenant) -> bool:  # type: ignore[no-untyped-def]
    with service.state.service.engine.connect() as conn:
        return (
            conn.scalar(select(tenants.c.tenant_id).where(tenants.c.tenant_id == tenant.tenant_id))
            is not None
        )


async def publish(bootstrap: str, topic: str, *envelopes: ev.Envelope) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for envelope in envelopes:
            await producer.send_and_wait(topic, envelope.to_bytes(), key=envelope.key)
    finally:
        await producer.stop()


async def billing_events(bootstrap: str, wanted: set[str], timeout: float = 45.0) -> list[dict]:
    """The billing topic's events about the given invoices, once all of them are there."""
    consumer = AIOKafkaConsumer(
        topics.BILLING_EVENTS,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"billing-events-test-{uuid.uuid4().hex[:6]}",
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    found: list[dict] = []
    try:
        async with asyncio.timeout(timeout):
            while {e["payload"]["invoice_id"] for e in found} != wanted:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        event = orjson.loads(record.value)
                        if event["payload"].get("invoice_id") in wanted:
                            found.append(event)
    finally:
        await consumer.stop()
    return found


async def dead_letter_reasons(bootstrap: str, mention: str, timeout: float = 45.0) -> list[str]:
    consumer = AIOKafkaConsumer(
        topics.DEAD_LETTERS,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"dead-letters-test-{uuid.uuid4().hex[:6]}",
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    reasons: list[str] = []
    try:
        async with asyncio.timeout(timeout):
            while not any(mention in r for r in reasons):
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    reasons += [dict(r.headers)["reason"].decode() for r in records]
    finally:
        await consumer.stop()
    return reasons


def test_invoices_over_http_with_credits_payments_and_tenants_apart(
    portal, billing, kafka_bootstrap
) -> None:  # type: ignore[no-untyped-def]
    service, client = billing
    mine, other = new_tenant(portal), new_tenant(portal)  # Pro with the SDK option, 4 users
    wait_for(lambda: known(service, mine) and known(service, other), "the tenants in billing")

    # a granted service credit of 1.00 arrives from the SLA service; garbage beside it
    credit = ev.ServiceCreditGranted(
        credit_id=uuid.uuid4(),
        incident_id=uuid.uuid4(),
        breach_month="2026-01",
        amount_cents=100,
        granted_at=datetime.now(UTC),
    )
    bad_zone = ev.TenantCreated(name="Nowhere", plan="pro", time_zone="Mars/Olympus_Mons")
    asyncio.run(
        publish(
            kafka_bootstrap,
            topics.SLA_EVENTS,
            ev.Envelope.wrap(credit, tenant_id=uuid.UUID(mine.tenant_id)),
        )
    )
    asyncio.run(
        publish(
            kafka_bootstrap,
            topics.DIRECTORY_EVENTS,
            ev.Envelope.wrap(bad_zone, tenant_id=uuid.uuid4()),
        )
    )

    def credited() -> bool:
        with service.state.service.engine.connect() as conn:
            return (
                conn.scalar(
                    select(service_credits.c.tenant_id).where(
                        service_credits.c.credit_id == str(credit.credit_id)
                    )
                )
                == mine.tenant_id
            )

    wait_for(credited, "the service credit")
    reasons = asyncio.run(dead_letter_reasons(kafka_bootstrap, "Mars/Olympus_Mons"))
    assert any("unknown time zone" in r for r in reasons)

    # the running month, then the month closed: the operator issues it
    admin = mine.tokens["administrator"]
    preview = client.get("/v1/billing/preview", headers=admin)
    assert preview.status_code == 200, preview.text
    now = datetime.now(UTC)
    period = Period.of(now.astimezone(BRUSSELS).date())
    assert preview.json()["period"] == str(period)
    preview_csv = client.get("/v1/billing/preview?format=csv", headers=admin)
    rows = list(csv.DictReader(io.StringIO(preview_csv.text)))
    assert [int(r["amount_cents"]) for r in rows] == [
        line["amount_cents"] for line in preview.json()["lines"]
    ]
    assert [r["line_kind"] for r in rows] == ["licence", "sdk_option", "service_credit"]
    service.state.invoicing.clock = lambda: period.bounds(BRUSSELS)[1] + timedelta(hours=1)

    issued = client.post(
        "/v1/billing/operator/invoices", headers=OPERATOR, json={"period": str(period)}
    )
    assert issued.status_code == 200, issued.text
    outcomes = {o["tenant_id"]: o for o in issued.json()["outcomes"]}
    assert outcomes[mine.tenant_id]["status"] == outcomes[other.tenant_id]["status"] == "issued"
    again = client.post(
        "/v1/billing/operator/invoices", headers=OPERATOR, json={"period": str(period)}
    )
    assert {o["tenant_id"]: o["invoice_id"] for o in again.json()["outcomes"]} == {
        o["tenant_id"]: o["invoice_id"] for o in issued.json()["outcomes"]
    }

    listed = client.get("/v1/billing/invoices", headers=admin)
    assert listed.status_code == 200
    all_csv = client.get("/v1/billing/invoices?format=csv", headers=admin)
    assert len(list(csv.DictReader(io.StringIO(all_csv.text)))) == sum(
        len(i["lines"]) for i in listed.json()
    )
    invoices = {i["purpose"]: i for i in listed.json()}
    assert set(invoices) == {"setup", "monthly"}
    assert {i["tenant_id"] for i in listed.json()} == {mine.tenant_id}
    monthly = invoices["monthly"]
    # 4 users (one per role) active from today, the minimum (1) is below them:
    # Pro 2500 x 4 x days left / days in month; SDK 5000 x days left / days in month
    days_left = (period.last_day - now.astimezone(BRUSSELS).date()).days + 1
    days = period.last_day.day
    licence = round(2500 * 4 * days_left / days + 1e-9)
    sdk = round(5000 * days_left / days + 1e-9)
    assert [ln["amount_cents"] for ln in monthly["lines"]] == [licence, sdk, -100]
    assert (monthly["licence_cents"], monthly["total_cents"]) == (licence, licence + sdk - 100)
    assert invoices["setup"]["total_cents"] == 35000
    assert monthly["paid"] is False

    exported = client.get(f"/v1/billing/invoices/{monthly['invoice_id']}?format=csv", headers=admin)
    assert exported.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert [int(r["amount_cents"]) for r in table] == [licence, sdk, -100]
    assert {r["number"] for r in table} == {monthly["number"]}

    # tenants stay apart; only Administrators; the operator's side needs the operator
    theirs = client.get("/v1/billing/invoices", headers=other.tokens["administrator"]).json()
    their_monthly = next(i for i in theirs if i["purpose"] == "monthly")
    assert (
        client.get(f"/v1/billing/invoices/{their_monthly['invoice_id']}", headers=admin).status_code
        == 404
    )
    assert (
        client.get(
            f"/v1/billing/invoices/{monthly['invoice_id']}", headers=other.tokens["administrator"]
        ).status_code
        == 404
    )
    assert their_monthly["lines"][-1]["kind"] == "sdk_option"  # no credit of mine on theirs
    for role in ("manager", "agent", "analyst"):
        assert client.get("/v1/billing/invoices", headers=mine.tokens[role]).status_code == 403
    assert client.get("/v1/billing/invoices").status_code == 401
    assert (
        client.post(
            "/v1/billing/operator/invoices", headers=admin, json={"period": str(period)}
        ).status_code
        == 401
    )
    assert client.get("/v1/billing/invoices/not-a-uuid", headers=admin).status_code == 422
    assert (
        client.post(
            "/v1/billing/operator/invoices", headers=OPERATOR, json={"period": "2026-13"}
        ).status_code
        == 422
    )

    # payments: unpaid until the operator records it
    unpaid = client.get(
        f"/v1/billing/operator/invoices?tenant_id={mine.tenant_id}&unpaid=true", headers=OPERATOR
    ).json()
    assert {i["invoice_id"] for i in unpaid} == {
        monthly["invoice_id"],
        invoices["setup"]["invoice_id"],
    }
    paid = client.put(
        f"/v1/billing/operator/invoices/{monthly['invoice_id']}/payment",
        headers=OPERATOR,
        json={"paid": True},
    )
    assert paid.status_code == 200, paid.text
    unpaid = client.get(
        f"/v1/billing/operator/invoices?tenant_id={mine.tenant_id}&unpaid=true", headers=OPERATOR
    ).json()
    assert [i["invoice_id"] for i in unpaid] == [invoices["setup"]["invoice_id"]]

    note = client.post(
        f"/v1/billing/operator/invoices/{monthly['invoice_id']}/credit-notes",
        headers=OPERATOR,
        json={"other_cents": 50, "reason": "goodwill"},
    )
    assert note.status_code == 201, note.text
    assert note.json()["total_cents"] == -50
    too_much = client.post(
        f"/v1/billing/operator/invoices/{monthly['invoice_id']}/credit-notes",
        headers=OPERATOR,
        json={"other_cents": monthly["total_cents"], "reason": "everything and more"},
    )
    assert too_much.status_code == 409
    assert too_much.json()["error"]["code"] == "exceeds_invoice"
    unknown = client.put(
        f"/v1/billing/operator/invoices/{uuid.uuid4()}/payment",
        headers=OPERATOR,
        json={"paid": True},
    )
    assert unknown.status_code == 404

    fee = client.post(
        f"/v1/billing/operator/tenants/{mine.tenant_id}/early-termination-fee",
        headers=OPERATOR,
        json={},
    )
    assert fee.status_code == 400
    assert fee.json()["error"]["code"] == "termination_required"
    for day, code in (("1999-01-01", "before_contract_start"), ("9999-12-31", "too_far")):
        refused = client.post(
            f"/v1/billing/operator/tenants/{mine.tenant_id}/early-termination-fee",
            headers=OPERATOR,
            json={"termination": day},
        )
        assert (refused.status_code, refused.json()["error"]["code"]) == (400, code)
    # terminated on the day it started (today): the whole two-year term, Pro 2500 x minimum
    # 1 x 24 months; the first and last partial months' fractions add up to one month
    # (rounded to cents one up, one down: never a half with 28-31 day months)
    start = datetime.now(UTC).astimezone(BRUSSELS).date()
    fee = client.post(
        f"/v1/billing/operator/tenants/{mine.tenant_id}/early-termination-fee",
        headers=OPERATOR,
        json={"termination": str(start)},
    )
    assert fee.status_code == 200, fee.text
    assert fee.json()["term_end"] == str(start.replace(year=start.year + 2))
    assert fee.json()["amount_cents"] == 24 * 2500

    # every invoice and the payment left through the outbox onto the billing topic
    wanted = {monthly["invoice_id"], invoices["setup"]["invoice_id"], note.json()["invoice_id"]}
    events = asyncio.run(billing_events(kafka_bootstrap, wanted))
    kinds = sorted((e["type"], e["payload"].get("kind", "")) for e in events)
    assert ("InvoicePaymentRecorded", "") in kinds
    assert ("InvoiceIssued", "credit_note") in kinds
    issued_monthly = next(
        e
        for e in events
        if e["type"] == "InvoiceIssued" and e["payload"]["invoice_id"] == monthly["invoice_id"]
    )
    assert issued_monthly["tenant_id"] == mine.tenant_id
    assert issued_monthly["payload"]["licence_cents"] == licence


def test_bad_input_gets_a_4xx_never_a_5xx(portal, conversation_url, kafka_bootstrap, tmp_path):  # type: ignore[no-untyped-def]
    """schemathesis drives every billing operation with generated input, as a logged-in
    Administrator (tenant endpoints) or the operator (the rest)."""
    tenant = new_tenant(portal)
    settings = BillingSettings(
        data_dir=tmp_path,
        kafka_bootstrap_servers=kafka_bootstrap,
        conversation_url=conversation_url,
        operator_token=OPERATOR_TOKEN,
        auto_issue_invoices=False,
    )
    service = build(settings, group_id=f"billing-fuzz-{uuid.uuid4().hex[:6]}")
    created = ev.TenantCreated(name="Fuzzed", plan="bot", sdk_option=True, minimum_end_users=3)
    envelope = ev.Envelope.wrap(created, tenant_id=uuid.UUID(tenant.tenant_id))
    service.state.service.apply_batch_now(
        make_apply(settings.price_list()), [Delivery(envelope, created, "fuzz:0:0")]
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", service).exclude(
        path=["/health", "/ready"]  # the shared probes, not billing's
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 9
    failures: list[str] = []
    for operation in operations:
        token = OPERATOR_TOKEN if "/operator/" in operation.path else None
        headers = {"Authorization": f"Bearer {token}"} if token else tenant.tokens["administrator"]

        run = _exercise(operation, headers)

        try:
            run()
        except Exception as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:800]}")
    assert failures == []


def _exercise(operation, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    @given(case=operation.as_strategy())
    @hypothesis_settings(
        max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def run(case) -> None:  # type: ignore[no-untyped-def]
        case.call_and_validate(
            headers=headers, checks=[not_a_server_error, response_schema_conformance]
        )

    return run
