"""The SLA use cases on a real database (SQLite and PostgreSQL): incidents, the read model
and its rebuild, claims and credits with their caps, the live view and the report.

Every expected figure is computed by hand beside it. The service hours are Mon-Fri
08:00-18:00 Brussels; 9 March 2026 is a Monday. The licence fee invoiced for February
2026 is EUR 1000.00, so a P1 response breach in March is worth 100.00, a P1 restore
breach 200.00, a P2 response 50.00 and a P2 restore 150.00; each row caps at 250.00.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select

from services.sla import consumers
from services.sla.application import views
from services.sla.application.claims import Claims
from services.sla.application.errors import Refused
from services.sla.application.incidents import Incidents
from services.sla.application.ports import ConcurrentWrite
from services.sla.domain import aggregate as agg
from services.sla.domain.clock import BRUSSELS
from services.sla.domain.targets import Priority
from services.sla.store.projection import rebuild
from services.sla.store.records import Store
from services.sla.store.tables import credits, incidents, metadata, outbox, stop_clocks
from shared import events as ev
from shared.kafka import Delivery
from shared.readmodel import make_engine
from tests.support.databases import BOTH, database_for

P1, P2, P3, P4 = Priority.P1, Priority.P2, Priority.P3, Priority.P4


def bx(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BRUSSELS)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=BOTH)
def engine(request, tmp_path) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    url = database_for(request, "sla", f"sqlite:///{tmp_path / 'sla.sqlite'}")
    engine = make_engine(url)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def feed(engine: Engine, tenant_id: uuid.UUID, *payloads: ev.Payload) -> None:
    """Apply events as the consumer would (one batch, one transaction)."""
    batch = [
        Delivery(ev.Envelope.wrap(p, tenant_id=tenant_id), p, f"test:0:{i}")
        for i, p in enumerate(payloads)
    ]
    with engine.begin() as conn:
        consumers.apply(conn, batch)


def invoice(period: str, licence_cents: int, kind: str = "invoice") -> ev.InvoiceIssued:
    return ev.InvoiceIssued(
        invoice_id=uuid.uuid4(),
        number=f"INV-{period}-{uuid.uuid4().hex[:4]}",
        kind=kind,  # type: ignore[arg-type]
        period=period,
        licence_cents=licence_cents,
        total_cents=licence_cents,
        issued_at=bx(3, 2, 9),
    )


def paid(issued: ev.InvoiceIssued, is_paid: bool = True) -> ev.InvoicePaymentRecorded:
    return ev.InvoicePaymentRecorded(invoice_id=issued.invoice_id, paid=is_paid, at=bx(3, 3, 9))


def new_tenant(engine: Engine, plan: str = "pro", *invoices: tuple[str, int]) -> uuid.UUID:
    """A tenant whose listed invoices (period, licence cents) were issued and paid."""
    tenant = uuid.uuid4()
    issued = [invoice(period, cents) for period, cents in invoices]
    feed(
        engine,
        tenant,
        ev.TenantCreated(name="T", plan=plan),  # type: ignore[arg-type]
        *issued,
        *(paid(i) for i in issued),
    )
    return tenant


FEB = ("2026-02", 100_000)


def p1_incident(app: Incidents, tenant: uuid.UUID, day: int = 9) -> uuid.UUID:
    """P1 on March ``day`` 09:00, troubleshooting 10:30 (90 min > 60: breached at 10:00),
    resolved 16:30 (7.5 h > 6 h: breached at 15:00)."""
    state = app.report(tenant, P1, "phone", bx(3, day, 9))
    incident = uuid.UUID(state.incident_id)
    app.start_troubleshooting(incident, bx(3, day, 10, 30))
    app.resolve(incident, bx(3, day, 16, 30))
    return incident


def amounts(outcomes: list[Any]) -> list[tuple[str, str, int | None]]:
    return [(o.kind, o.decision, o.amount_cents) for o in outcomes]


# --- claims ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claimed", "extra", "expected"),
    [
        # 10 % and 20 % of 1000.00
        pytest.param(
            bx(4, 2, 10),
            [],
            [("response", "granted", 10_000), ("restore", "granted", 20_000)],
            id="granted",
        ),
        # end of March + 3 months = 30 June is the last day
        pytest.param(
            bx(6, 30, 17),
            [],
            [("response", "granted", 10_000), ("restore", "granted", 20_000)],
            id="last-day",
        ),
        # the breach month's own fee (250.00) caps the month: 100 + 150 (not 200)
        pytest.param(
            bx(4, 2, 10),
            [("2026-03", 25_000)],
            [("response", "granted", 10_000), ("restore", "granted", 15_000)],
            id="month-cap",
        ),
        # a credit note of 500.00 for February halves the base: 50.00 and 100.00
        pytest.param(
            bx(4, 2, 10),
            [("2026-02", -50_000)],
            [("response", "granted", 5_000), ("restore", "granted", 10_000)],
            id="credit-note",
        ),
    ],
)
def test_claim_amounts(
    engine: Engine, claimed: datetime, extra: list[tuple[str, int]], expected: list[Any]
) -> None:
    clock = Clock(bx(3, 20, 12))
    tenant = new_tenant(engine, "pro", FEB)
    for period, cents in extra:
        note = invoice(period, abs(cents), "credit_note" if cents < 0 else "invoice")
        feed(engine, tenant, note, paid(note))
    incident = p1_incident(Incidents(Store(engine), clock), tenant)
    clock.now = claimed
    assert amounts(Claims(Store(engine), clock).claim(tenant, incident)) == expected


@pytest.mark.parametrize(
    ("claimed", "setup", "decision"),
    [
        pytest.param(bx(7, 1, 9), None, "late", id="late"),
        pytest.param(bx(4, 2, 10), "unpaid", "unpaid_invoices", id="unpaid"),
        pytest.param(bx(4, 2, 10), "ended", "lapsed", id="contract-ended"),
        pytest.param(bx(4, 2, 10), "no-february", "no_licence_fee", id="no-fee"),
    ],
)
def test_claims_refused(
    engine: Engine, claimed: datetime, setup: str | None, decision: str
) -> None:
    clock = Clock(bx(3, 20, 12))
    tenant = new_tenant(engine, "bot", *([] if setup == "no-february" else [FEB]))
    if setup == "unpaid":
        feed(engine, tenant, invoice("2026-03", 90_000))
    if setup == "ended":
        feed(engine, tenant, ev.ContractEnded(contract_end=bx(4, 1, 0)))
    incident = p1_incident(Incidents(Store(engine), clock), tenant)
    clock.now = claimed
    with pytest.raises(Refused) as refused:
        Claims(Store(engine), clock).claim(tenant, incident)
    assert (refused.value.kind, refused.value.code) == ("conflict", "claim_refused")
    assert [d["decision"] for d in refused.value.details] == [decision, decision]
    with engine.connect() as conn:
        assert (
            conn.scalar(select(credits.c.credit_id).where(credits.c.tenant_id == str(tenant)))
            is None
        )


def test_payment_clears_unpaid_and_a_second_claim_grants_nothing_new(engine: Engine) -> None:
    clock = Clock(bx(3, 20, 12))
    tenant = new_tenant(engine, "pro", FEB)
    march = invoice("2026-03", 90_000)
    feed(engine, tenant, march)
    incident = p1_incident(Incidents(Store(engine), clock), tenant)
    claims = Claims(Store(engine), clock)
    clock.now = bx(4, 2, 10)
    with pytest.raises(Refused):
        claims.claim(tenant, incident)
    feed(engine, tenant, paid(march))
    first = claims.claim(tenant, incident)
    again = claims.claim(tenant, incident)
    assert amounts(first) == [("response", "granted", 10_000), ("restore", "granted", 20_000)]
    assert amounts(again) == [
        ("response", "already_granted", 10_000),
        ("restore", "already_granted", 20_000),
    ]
    assert [o.credit_id for o in again] == [o.credit_id for o in first]
    with engine.connect() as conn:
        envelopes = [
            ev.Envelope.model_validate_json(raw) for raw in conn.scalars(select(outbox.c.envelope))
        ]
    mine = [e for e in envelopes if e.tenant_id == tenant]
    assert [(e.type, e.payload["amount_cents"], e.payload["breach_month"]) for e in mine] == [
        ("ServiceCreditGranted", 10_000, "2026-03"),
        ("ServiceCreditGranted", 20_000, "2026-03"),
    ]
    assert [str(e.event_id) for e in mine] == [o.credit_id for o in first]


def test_row_cap_over_several_claims(engine: Engine) -> None:
    # three P1 restore breaches in March: 200 + 200 + 200 capped at 250 -> 200, 50, 0;
    # the response rows: 100 + 100 + 100 capped at 250 -> 100, 100, 50
    clock = Clock(bx(3, 20, 12))
    tenant = new_tenant(engine, "pro", FEB)
    app = Incidents(Store(engine), clock)
    ids = [p1_incident(app, tenant, day) for day in (9, 10, 11)]
    clock.now = bx(4, 2, 10)
    claims = Claims(Store(engine), clock)
    granted = [amounts(claims.claim(tenant, i)) for i in ids]
    assert granted == [
        [("response", "granted", 10_000), ("restore", "granted", 20_000)],
        [("response", "granted", 10_000), ("restore", "granted", 5_000)],
        [("response", "granted", 5_000), ("restore", "granted", 0)],
    ]


def test_corrected_priority_is_the_one_credited(engine: Engine) -> None:
    # reported P3 via the portal, corrected to P2 after diagnosis: response 90 min <= 2 h,
    # restore 09:00 -> next day 10:30 = 9 h + 2.5 h > 10 h, breached Tue 09:00 -> 15 %
    clock = Clock(bx(3, 20, 12))
    tenant = new_tenant(engine, "pro", FEB)
    app = Incidents(Store(engine), clock)
    incident = uuid.UUID(app.report(tenant, P3, "portal", bx(3, 9, 9)).incident_id)
    app.correct_priority(incident, P2, bx(3, 9, 10))
    app.start_troubleshooting(incident, bx(3, 9, 10, 30))
    app.resolve(incident, bx(3, 10, 10, 30))
    clock.now = bx(4, 2, 10)
    outcomes = Claims(Store(engine), clock).claim(tenant, incident)
    assert [(o.kind, o.priority, o.breached_at, o.amount_cents) for o in outcomes] == [
        ("restore", "P2", bx(3, 10, 9), 15_000)
    ]


@pytest.mark.parametrize(
    ("case", "kind", "code"),
    [
        ("slo-only", "conflict", "no_sla_breach"),
        ("in-time", "conflict", "no_sla_breach"),
        ("hub", "conflict", "no_service_levels"),
        ("unknown-tenant", "invalid", "unknown_tenant"),
        ("other-tenant", "not_found", "not_found"),
        ("future-claim", "invalid", "in_the_future"),
    ],
)
def test_claims_that_cannot_be(engine: Engine, case: str, kind: str, code: str) -> None:
    clock = Clock(bx(3, 20, 12))
    tenant = new_tenant(engine, "hub" if case == "hub" else "pro", FEB)
    app = Incidents(Store(engine), clock)
    if case == "slo-only":  # P3 open since 9 Mar: both SLO targets breached, no SLA one
        incident = uuid.UUID(app.report(tenant, P3, "portal", bx(3, 9, 9)).incident_id)
    elif case == "in-time":  # P1 answered in 30 min, still open 30 min: nothing breached
        incident = uuid.UUID(app.report(tenant, P1, "phone", bx(3, 20, 11, 30)).incident_id)
        app.start_troubleshooting(incident, bx(3, 20, 12))
    else:
        incident = p1_incident(app, tenant)
    claimed_at = None
    if case == "unknown-tenant":
        tenant = uuid.uuid4()
    if case == "other-tenant":
        tenant = new_tenant(engine, "pro", FEB)
    if case == "future-claim":
        claimed_at = bx(3, 21, 9)
    with pytest.raises(Refused) as refused:
        Claims(Store(engine), clock).claim(tenant, incident, claimed_at)
    assert (refused.value.kind, refused.value.code) == (kind, code)


# --- incidents: refusals, the read model and its rebuild ------------------------------


def test_incident_refusals(engine: Engine) -> None:
    clock = Clock(bx(3, 20, 12))
    tenant = new_tenant(engine, "pro")
    hub = new_tenant(engine, "hub")
    app = Incidents(Store(engine), clock)
    cases = [
        (lambda: app.report(uuid.uuid4(), P2, "portal", bx(3, 20, 9)), "unknown_tenant"),
        (lambda: app.report(tenant, P1, "portal", bx(3, 20, 9)), "p1_by_phone_only"),
        (lambda: app.resolve(uuid.uuid4(), bx(3, 20, 9)), "not_found"),
    ]
    for run, code in cases:
        with pytest.raises(Refused) as refused:
            run()
        assert refused.value.code == code
    incident = uuid.UUID(app.report(tenant, P2, "portal", bx(3, 20, 9)).incident_id)
    with pytest.raises(Refused) as refused:
        app.resolve(incident, bx(3, 20, 8))
    assert refused.value.code == "resolved_before_created"
    with pytest.raises(Refused) as refused:
        app.report(tenant, P2, "portal", bx(3, 20, 9), incident_id=incident)
    assert refused.value.code == "incident_exists"
    # Hub tenants reach the service desk for incidents, without service levels
    hub_incident = app.report(hub, P1, "phone", bx(3, 20, 9))
    with Store(engine).reading() as conn:
        view = views.incident(conn, str(hub), hub_incident.incident_id, clock())
    assert view is not None
    assert (view["service_levels"], view["response"], view["restore"]) == (False, None, None)


def _rows(engine: Engine) -> tuple[list[Any], list[Any]]:
    with engine.connect() as conn:
        return (
            [tuple(r) for r in conn.execute(select(incidents).order_by(incidents.c.incident_id))],
            [
                tuple(r)
                for r in conn.execute(
                    select(stop_clocks).order_by(stop_clocks.c.incident_id, stop_clocks.c.number)
                )
            ],
        )


def test_rebuilt_read_model_equals_the_incremental_one(engine: Engine) -> None:
    clock = Clock(bx(3, 20, 17))
    tenants = [new_tenant(engine, "pro"), new_tenant(engine, "bot")]
    app = Incidents(Store(engine), clock)
    for n, tenant in enumerate(tenants):
        a = uuid.UUID(app.report(tenant, P2, "portal", bx(3, 16 + n, 9), "mail down").incident_id)
        app.stop_clock(a, "customer", bx(3, 16 + n, 10), bx(3, 16 + n, 11))
        app.stop_clock(a, "third_party", bx(3, 16 + n, 12), None)
        app.end_stop_clock(a, 2, bx(3, 16 + n, 13))
        app.correct_priority(a, P1, bx(3, 16 + n, 13))
        app.start_troubleshooting(a, bx(3, 16 + n, 14))
        app.resolve(a, bx(3, 16 + n, 15))
        b = uuid.UUID(app.report(tenant, P4, "phone", bx(3, 18, 9)).incident_id)
        app.stop_clock(b, "planned_maintenance", bx(3, 18, 10), None)
    incremental = _rows(engine)
    assert len(incremental[0]) == 4 and len(incremental[1]) == 6
    with engine.begin() as conn:
        assert rebuild(conn) >= 4
    assert _rows(engine) == incremental


# --- the live view and the report -----------------------------------------------------


def test_live_view_of_open_incidents(engine: Engine) -> None:
    # P2 created Tue 17 Mar 09:00; now 12:00; stop clock 10:00-10:30.
    # response: 3 h - 30 min = 150 min > 120: breached; the 2 h were reached at 11:30.
    # restore: 150 min of 600 used, 450 left; due when 600 min have run: 11:30 + ...
    # Tue 10:00 service h after 09:00 with 30 min stopped = Tue 18:00 is 8.5 h, then 1.5 h
    # on Wed -> Wed 18 Mar 09:30.
    clock = Clock(bx(3, 17, 12))
    tenant = new_tenant(engine, "pro")
    other = new_tenant(engine, "pro")
    app = Incidents(Store(engine), clock)
    incident = uuid.UUID(app.report(tenant, P2, "portal", bx(3, 17, 9)).incident_id)
    app.stop_clock(incident, "connectivity", bx(3, 17, 10), bx(3, 17, 10, 30))
    closed = uuid.UUID(app.report(tenant, P3, "portal", bx(3, 17, 9)).incident_id)
    app.resolve(closed, bx(3, 17, 11))
    app.report(other, P4, "portal", bx(3, 17, 9))
    with Store(engine).reading() as conn:
        live = views.open_incidents(conn, str(tenant), clock())
    assert [v["incident_id"] for v in live] == [str(incident)]
    response, restore = live[0]["response"], live[0]["restore"]
    assert (response["used_seconds"], response["left_seconds"], response["breached"]) == (
        150 * 60,
        -30 * 60,
        True,
    )
    assert response["breached_at"] == bx(3, 17, 11, 30)
    assert (restore["used_seconds"], restore["left_seconds"], restore["breached"]) == (
        150 * 60,
        450 * 60,
        False,
    )
    assert restore["due_at"] == bx(3, 18, 9, 30)
    # a stop clock from 11:00 still running at 15:00: only 09:00-10:00 and 10:30-11:00
    # count (90 min), and the due time is unknown while it runs
    app.stop_clock(incident, "customer", bx(3, 17, 11), None)
    clock.now = bx(3, 17, 15)
    with Store(engine).reading() as conn:
        (live_now,) = views.open_incidents(conn, str(tenant), clock())
    assert (live_now["restore"]["used_seconds"], live_now["restore"]["due_at"]) == (90 * 60, None)


def test_monthly_report(engine: Engine) -> None:
    # March: one P1 (both KPIs breached, credited after claim) and one P3 resolved in time
    # (response 1 h <= 5 h, restore 2 h <= 30 h). Due: 100 + 200 = 300.00.
    clock = Clock(bx(3, 20, 12))
    tenant = new_tenant(engine, "pro", FEB)
    app = Incidents(Store(engine), clock)
    incident = p1_incident(app, tenant)
    p3 = uuid.UUID(app.report(tenant, P3, "portal", bx(3, 12, 9)).incident_id)
    app.start_troubleshooting(p3, bx(3, 12, 10))
    app.resolve(p3, bx(3, 12, 11))
    clock.now = bx(4, 2, 10)
    Claims(Store(engine), clock).claim(tenant, incident, bx(4, 1, 10))
    with Store(engine).reading() as conn:
        report = views.monthly_report(conn, str(tenant), bx(3, 1, 0).date(), "pro", clock())
    tally = {(k["priority"], k["kind"]): (k["met"], k["breached"]) for k in report["kpis"]}
    assert tally[("P1", "response")] == (0, 1)
    assert tally[("P1", "restore")] == (0, 1)
    assert tally[("P3", "response")] == (1, 0)
    assert tally[("P3", "restore")] == (1, 0)
    assert tally[("P2", "response")] == (0, 0)
    assert [(b["kind"], b["breached_at"], b["creditable"]) for b in report["breaches"]] == [
        ("response", bx(3, 9, 10), True),
        ("restore", bx(3, 9, 15), True),
    ]
    assert report["credits"] == {
        "previous_month_licence_cents": 100_000,
        "due_cents": 30_000,
        "granted_cents": 30_000,
    }
    assert len(report["incidents"]) == 2


def test_a_second_writer_of_the_same_version_is_told_so_and_rolled_back(engine: Engine) -> None:
    """Two commands that append the same version of an incident: the store turns the
    primary key's ``IntegrityError`` into ``ConcurrentWrite`` (which the commands refuse
    as ``concurrent_change``), and nothing of the later transaction stays."""
    store, now = Store(engine), bx(3, 9, 10)
    event = agg.report("t", P2, "portal", bx(3, 9, 9), now)
    first = agg.evolve(None, "incident-1", event)
    with store.writing() as records:
        records.append(first, event, now)
    with pytest.raises(ConcurrentWrite), store.writing() as records:
        records.project(first)  # written before the clash: must not survive it
        records.append(first, event, now)
    with store.reading() as records:
        assert records.load("incident-1") == first
        assert records.incident_states("incident-1") == []
