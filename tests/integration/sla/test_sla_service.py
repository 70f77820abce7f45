"""The SLA service as it runs: the real broker, SQLite and PostgreSQL, HTTP.

The tests publish the directory and billing events themselves (billing is another
service), drive the service desk's API, and read the granted credits back from
``interact.sla-events.v1``. The service's clock is fixed at Thursday 2 April 2026 10:00
Brussels, so the hand-computed figures of ``test_sla_application`` hold.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastapi.testclient import TestClient

from services.sla.__main__ import build
from services.sla.domain.clock import BRUSSELS
from services.sla.settings import SlaSettings
from shared import events as ev
from shared import topics
from shared.local_broker import free_port
from tests.support.databases import BOTH, database_for
from tests.support.tenants import new_tenant

OPERATOR_TOKEN = "test-operator-token"  # the portal fixture's, so one token serves both
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
NOW = datetime(2026, 4, 2, 10, tzinfo=BRUSSELS)
WAIT_S = 60.0


def bx(month: int, day: int, hour: int, minute: int = 0) -> str:
    return datetime(2026, month, day, hour, minute, tzinfo=BRUSSELS).isoformat()


def publish(bootstrap: str, topic: str, *envelopes: ev.Envelope) -> None:
    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for envelope in envelopes:
                await producer.send_and_wait(topic, envelope.to_bytes(), key=envelope.key)
        finally:
            await producer.stop()

    asyncio.run(send())


def read_until(
    bootstrap: str, topic: str, done: Callable[[list[Any]], bool], from_latest: bool = False
) -> list[Any]:
    """Records of ``topic`` (whole history) until ``done(records)`` holds."""

    async def read() -> list[Any]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            group_id=None,
            fetch_max_wait_ms=50,
        )
        await consumer.start()
        records: list[Any] = []
        try:
            async with asyncio.timeout(WAIT_S):
                while not done(records):
                    for batch in (await consumer.getmany(timeout_ms=200)).values():
                        records.extend(batch)
        finally:
            await consumer.stop()
        return records

    return asyncio.run(read())


def eventually(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, "the service did not catch up"
        time.sleep(0.1)


@pytest.fixture(params=BOTH)
def database_url(request) -> str:  # type: ignore[no-untyped-def]
    return database_for(request, "sla")


def sla_client(bootstrap: str, data_dir: Any, database_url: str, **extra: Any) -> TestClient:
    settings = SlaSettings(
        service_name=f"sla-test-{uuid.uuid4().hex[:6]}",
        kafka_bootstrap_servers=bootstrap,
        data_dir=data_dir,
        database_url=database_url,
        operator_token=OPERATOR_TOKEN,
        **extra,
    )
    return TestClient(build(settings, clock=lambda: NOW))


def known_tenant(client: TestClient, tenant_id: str) -> None:
    """Wait until the service has consumed the tenant (its incidents are then accepted)."""

    def consumed() -> bool:
        answer = client.get(f"/v1/sla/operator/incidents?tenant_id={tenant_id}", headers=OPERATOR)
        return answer.status_code == 200 and probe(client, tenant_id)

    eventually(consumed)


def probe(client: TestClient, tenant_id: str) -> bool:
    answer = client.post(
        "/v1/sla/operator/incidents",
        headers=OPERATOR,
        json={
            "tenant_id": tenant_id,
            "priority": "P1",
            "reported_via": "portal",
            "created_at": bx(3, 9, 9),
        },
    )
    # known tenant: refused for being a P1 via the portal, not for the tenant
    return answer.json()["error"]["code"] == "p1_by_phone_only"


def record_p1(client: TestClient, tenant_id: str, day: int = 9) -> str:
    created = client.post(
        "/v1/sla/operator/incidents",
        headers=OPERATOR,
        json={
            "tenant_id": tenant_id,
            "priority": "P1",
            "reported_via": "phone",
            "created_at": bx(3, day, 9),
            "summary": "widget down",
        },
    )
    assert created.status_code == 201, created.text
    incident = created.json()["incident_id"]
    for path, at in (("troubleshooting", bx(3, day, 10, 30)), ("resolution", bx(3, day, 16, 30))):
        answer = client.post(
            f"/v1/sla/operator/incidents/{incident}/{path}", headers=OPERATOR, json={"at": at}
        )
        assert answer.status_code == 200, answer.text
    return incident


def test_incidents_claims_and_credits_on_the_broker(
    kafka_bootstrap: str, database_url: str, tmp_path
) -> None:
    tenant, hub = uuid.uuid4(), uuid.uuid4()
    february = ev.InvoiceIssued(
        invoice_id=uuid.uuid4(),
        number="F-1",
        period="2026-02",
        licence_cents=100_000,
        total_cents=121_000,
        issued_at=datetime(2026, 3, 1, tzinfo=BRUSSELS),
    )
    with sla_client(kafka_bootstrap, tmp_path, database_url) as client:
        publish(
            kafka_bootstrap,
            topics.DIRECTORY_EVENTS,
            ev.Envelope.wrap(ev.TenantCreated(name="Bakery", plan="pro"), tenant_id=tenant),
            ev.Envelope.wrap(ev.TenantCreated(name="Hubby", plan="hub"), tenant_id=hub),
        )
        publish(
            kafka_bootstrap,
            topics.BILLING_EVENTS,
            ev.Envelope.wrap(february, tenant_id=tenant),
        )
        known_tenant(client, str(tenant))
        incident = record_p1(client, str(tenant))

        # the February invoice is issued but unpaid: no credit
        claim = {"tenant_id": str(tenant), "incident_id": incident}

        def refused_as_unpaid() -> bool:
            refused = client.post("/v1/sla/operator/claims", headers=OPERATOR, json=claim)
            assert refused.status_code == 409
            assert refused.json()["error"]["code"] == "claim_refused"
            decisions = [d["decision"] for d in refused.json()["error"]["details"]]
            return decisions == ["unpaid_invoices", "unpaid_invoices"]  # else: not consumed yet

        eventually(refused_as_unpaid)
        publish(  # another tenant's payment for this invoice: dead-lettered, never applied
            kafka_bootstrap,
            topics.BILLING_EVENTS,
            ev.Envelope.wrap(
                ev.InvoicePaymentRecorded(invoice_id=february.invoice_id, paid=True, at=NOW),
                tenant_id=hub,
            ),
        )

        publish(
            kafka_bootstrap,
            topics.BILLING_EVENTS,
            ev.Envelope.wrap(
                ev.InvoicePaymentRecorded(invoice_id=february.invoice_id, paid=True, at=NOW),
                tenant_id=tenant,
            ),
        )

        def granted() -> bool:
            answer = client.post("/v1/sla/operator/claims", headers=OPERATOR, json=claim)
            return answer.status_code == 201

        eventually(granted)
        outcomes = client.post("/v1/sla/operator/claims", headers=OPERATOR, json=claim).json()
        credits = {o["credit_id"]: o["amount_cents"] for o in outcomes["outcomes"]}
        assert sorted(credits.values()) == [10_000, 20_000]  # 10 % and 20 % of 1000.00

        records = read_until(
            kafka_bootstrap,
            topics.SLA_EVENTS,
            lambda rs: {str(ev.decode(r.value)[0].event_id) for r in rs} >= set(credits),
        )
        mine = [ev.decode(r.value) for r in records]
        mine = [(e, p) for e, p in mine if e.tenant_id == tenant]
        assert len(mine) == 2  # the repeated claim published nothing more
        for envelope, payload in mine:
            assert isinstance(payload, ev.ServiceCreditGranted)
            assert envelope.key == str(tenant).encode()
            assert str(envelope.event_id) == str(payload.credit_id)
            assert (str(payload.incident_id), payload.breach_month) == (incident, "2026-03")
            assert payload.amount_cents == credits[str(payload.credit_id)]

        # the dead letter names the reason
        dead = read_until(
            kafka_bootstrap,
            topics.DEAD_LETTERS,
            lambda rs: any(str(february.invoice_id).encode() in (r.value or b"") for r in rs),
        )
        reasons = [
            dict(r.headers)["reason"].decode()
            for r in dead
            if str(february.invoice_id).encode() in (r.value or b"")
        ]
        assert reasons == [f"invoice {february.invoice_id} belongs to another tenant"]

        # Hub tenants reach the desk with incidents, but have no service levels
        known_hub = client.post(
            "/v1/sla/operator/incidents",
            headers=OPERATOR,
            json={
                "tenant_id": str(hub),
                "priority": "P2",
                "reported_via": "portal",
                "created_at": bx(3, 9, 9),
            },
        )
        assert known_hub.status_code == 201
        assert known_hub.json()["service_levels"] is False
        hub_claim = client.post(
            "/v1/sla/operator/claims",
            headers=OPERATOR,
            json={"tenant_id": str(hub), "incident_id": known_hub.json()["incident_id"]},
        )
        assert (hub_claim.status_code, hub_claim.json()["error"]["code"]) == (
            409,
            "no_service_levels",
        )
        hub_report = client.get(f"/v1/sla/operator/tenants/{hub}/reports/2026-03", headers=OPERATOR)
        assert (hub_report.status_code, hub_report.json()["error"]["code"]) == (
            409,
            "no_service_levels",
        )

        report = client.get(f"/v1/sla/operator/tenants/{tenant}/reports/2026-03", headers=OPERATOR)
        assert report.status_code == 200
        assert report.json()["credits"] == {
            "previous_month_licence_cents": 100_000,
            "due_cents": 30_000,
            "granted_cents": 30_000,
        }


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (
            {"priority": "P1", "reported_via": "portal", "created_at": bx(3, 9, 9)},
            422,
            "p1_by_phone_only",
        ),
        (
            {"priority": "P2", "reported_via": "fax", "created_at": bx(3, 9, 9)},
            422,
            "invalid_request",
        ),
        (
            {"priority": "P5", "reported_via": "phone", "created_at": bx(3, 9, 9)},
            422,
            "invalid_request",
        ),
        (
            {"priority": "P2", "reported_via": "phone", "created_at": "2026-03-09T09:00:00"},
            422,
            "invalid_request",
        ),  # no time zone
        (
            {"priority": "P2", "reported_via": "phone", "created_at": bx(4, 3, 9)},
            422,
            "in_the_future",
        ),
        (
            {
                "tenant_id": str(uuid.UUID(int=7)),
                "priority": "P2",
                "reported_via": "phone",
                "created_at": bx(3, 9, 9),
            },
            422,
            "unknown_tenant",
        ),
    ],
)
def test_bad_reports_are_refused_with_reasons(
    sla_app: tuple[TestClient, str], body: dict[str, Any], status: int, code: str
) -> None:
    client, tenant = sla_app
    answer = client.post(
        "/v1/sla/operator/incidents", headers=OPERATOR, json={"tenant_id": tenant, **body}
    )
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), answer.text


def test_incident_commands_refused_with_reasons(sla_app: tuple[TestClient, str]) -> None:
    client, tenant = sla_app
    incident = record_p1(client, tenant, day=10)
    base = f"/v1/sla/operator/incidents/{incident}"
    steps = [
        ("resolution", {"at": bx(3, 10, 17)}, 409, "already_resolved"),
        ("troubleshooting", {"at": bx(3, 10, 11)}, 409, "troubleshooting_already_started"),
        (
            "stop-clocks",
            {"reason": "customer", "start": bx(3, 10, 11), "end": bx(3, 10, 12)},
            201,
            None,
        ),
        (
            "stop-clocks",
            {"reason": "third_party", "start": bx(3, 10, 11, 30), "end": bx(3, 10, 13)},
            409,
            "stop_clocks_overlap",
        ),
        (
            "stop-clocks",
            {"reason": "holiday", "start": bx(3, 10, 13), "end": bx(3, 10, 14)},
            422,
            "invalid_request",
        ),
        ("priority", {"priority": "P1"}, 409, "priority_unchanged"),
        ("priority", {"priority": "P3", "at": bx(3, 10, 12)}, 200, None),
    ]
    for path, body, status, code in steps:
        answer = client.post(f"{base}/{path}", headers=OPERATOR, json=body)
        assert answer.status_code == status, (path, answer.text)
        if code:
            assert answer.json()["error"]["code"] == code
    fresh = client.post(
        "/v1/sla/operator/incidents",
        headers=OPERATOR,
        json={
            "tenant_id": tenant,
            "priority": "P3",
            "reported_via": "portal",
            "created_at": bx(3, 11, 9),
        },
    ).json()["incident_id"]
    early = client.post(
        f"/v1/sla/operator/incidents/{fresh}/resolution",
        headers=OPERATOR,
        json={"at": bx(3, 11, 8)},
    )
    assert (early.status_code, early.json()["error"]["code"]) == (422, "resolved_before_created")
    missing = client.post(
        f"/v1/sla/operator/incidents/{uuid.uuid4()}/resolution", headers=OPERATOR, json={}
    )
    assert missing.status_code == 404
    assert client.post(f"{base}/resolution", json={}).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.get(f"/v1/sla/operator/incidents/{incident}", headers=wrong).status_code == 401

    # the rebuilt read model answers exactly as the incremental one did
    before = client.get(f"/v1/sla/operator/incidents/{incident}", headers=OPERATOR).json()
    rebuilt = client.post("/v1/sla/operator/rebuild", headers=OPERATOR)
    assert rebuilt.status_code == 200 and rebuilt.json()["incidents"] >= 2
    assert client.get(f"/v1/sla/operator/incidents/{incident}", headers=OPERATOR).json() == before
    assert before["priority"] == "P3" and before["reported_priority"] == "P1"
    assert [s["reason"] for s in before["stop_clocks"]] == ["customer"]


@pytest.fixture(scope="module")
def sla_app(kafka_bootstrap: str, tmp_path_factory) -> Iterator[tuple[TestClient, str]]:
    """The service on SQLite with one Pro tenant it has consumed (shared by the module)."""
    tenant = uuid.uuid4()
    with sla_client(kafka_bootstrap, tmp_path_factory.mktemp("sla"), "") as client:
        publish(
            kafka_bootstrap,
            topics.DIRECTORY_EVENTS,
            ev.Envelope.wrap(ev.TenantCreated(name="Desk", plan="pro"), tenant_id=tenant),
        )
        known_tenant(client, str(tenant))
        yield client, str(tenant)


# --- the tenant's Administrator, logged in at the real conversation service -----------


@pytest.fixture(scope="module")
def conversation_url(portal: TestClient) -> Iterator[str]:
    """The portal's conversation service also served over real HTTP (for token checks)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(portal.app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    eventually(lambda: server.started)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_tenant_administrator_reads_only_their_own(
    kafka_bootstrap: str, portal: TestClient, conversation_url: str, tmp_path
) -> None:
    # tenants made through the conversation service reach the SLA service over Kafka
    mine, theirs = new_tenant(portal, plan="pro"), new_tenant(portal, plan="bot")
    with sla_client(
        kafka_bootstrap, tmp_path, "", conversation_url=conversation_url, auth_cache_seconds=0
    ) as client:
        known_tenant(client, mine.tenant_id)
        known_tenant(client, theirs.tenant_id)
        incident = record_p1(client, mine.tenant_id)
        other = client.post(
            "/v1/sla/operator/incidents",
            headers=OPERATOR,
            json={
                "tenant_id": theirs.tenant_id,
                "priority": "P2",
                "reported_via": "phone",
                "created_at": bx(3, 30, 9),
            },
        ).json()["incident_id"]
        admin = mine.tokens["administrator"]

        report = client.get("/v1/sla/reports/2026-03", headers=admin)
        assert report.status_code == 200, report.text
        assert [i["incident_id"] for i in report.json()["incidents"]] == [incident]
        assert client.get(f"/v1/sla/incidents/{incident}", headers=admin).status_code == 200
        # another tenant's incident is not found, not forbidden
        assert client.get(f"/v1/sla/incidents/{other}", headers=admin).status_code == 404
        theirs_open = client.get("/v1/sla/incidents", headers=theirs.tokens["administrator"])
        assert [i["incident_id"] for i in theirs_open.json()] == [other]
        assert theirs_open.json()[0]["restore"]["used_seconds"] > 0
        for role in ("manager", "agent", "analyst"):
            denied = client.get("/v1/sla/reports/2026-03", headers=mine.tokens[role])
            assert (denied.status_code, denied.json()["error"]["code"]) == (
                403,
                "forbidden_for_role",
            )
        assert client.get("/v1/sla/reports/2026-03").status_code == 401
        assert client.get("/v1/sla/reports/2026-13", headers=admin).status_code == 422
        levels = client.get("/v1/sla/service-levels", headers=mine.tokens["agent"]).json()
        assert levels["has_service_levels"] is True
        assert levels["target_service_hours"]["P3"]["restore"] == 30
        with httpx.Client(base_url=conversation_url) as direct:  # the check really is HTTP
            assert direct.get("/v1/auth/session", headers=admin).status_code == 200
