"""The money path, events to invoices, on SQLite and PostgreSQL (SPEC §7).

Events go through ``ConsumerService.apply_batch_now`` (the consumer's own transaction and
dedupe) into a real database; invoices are issued by the use cases the API calls. Every
amount is worked out by hand beside the events. Prices (cents): Pro 2500, Hub 1500 per
user per month, SDK option 5000 a month, set-up 25000, SDK set-up 10000.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from services.billing.__main__ import build
from services.billing.application.invoicing import Refused
from services.billing.application.ports import ConcurrentWrite
from services.billing.application.timer import issue_closed_months
from services.billing.consumers import make_apply
from services.billing.domain.invoice import Period
from services.billing.settings import BillingSettings
from services.billing.store.tables import (
    activations,
    invoice_lines,
    invoices,
    outbox,
    service_credits,
    tenants,
)
from services.billing.store.views import find_invoices
from shared import events as ev
from shared.kafka import Delivery

BRUSSELS = ZoneInfo("Europe/Brussels")
T1 = uuid.UUID("11111111-1111-4111-8111-111111111111")
T2 = uuid.UUID("22222222-2222-4222-8222-222222222222")
USERS = {name: uuid.uuid5(T1, name) for name in "abcdefg"}
VIEW = (tenants, activations, service_credits, invoices, invoice_lines, outbox)


def bx(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BRUSSELS)


class Feed:
    """Deliveries as Kafka would hand them over, with stable event ids."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []

    def add(self, tenant: uuid.UUID, payload: ev.Payload, at: datetime) -> None:
        n = len(self.deliveries)
        envelope = ev.Envelope.wrap(
            payload, tenant_id=tenant, event_id=uuid.uuid5(tenant, f"e{n}"), occurred_at=at
        )
        self.deliveries.append(Delivery(envelope, payload, f"test:0:{n}"))

    def activated(self, user: str, at: datetime, tenant: uuid.UUID = T1) -> None:
        self.add(tenant, ev.EndUserActivated(user_id=USERS[user], at=at), at)

    def deactivated(self, user: str, at: datetime, tenant: uuid.UUID = T1) -> None:
        self.add(tenant, ev.EndUserDeactivated(user_id=USERS[user], at=at), at)


def the_story() -> Feed:
    """Two tenants' autumn 2026; the comments count the billed users per day."""
    f = Feed()
    # T1: Pro, SDK option, minimum 2, contract from 1 Sep -> set-up 25000 + 10000
    f.add(
        T1,
        ev.TenantCreated(
            name="Bakery",
            plan="pro",
            sdk_option=True,
            minimum_end_users=2,
            contract_start=bx(9, 1),
            time_zone="Europe/Brussels",
        ),
        datetime(2026, 8, 28, 9, tzinfo=UTC),
    )
    # September (30 days):
    f.activated("a", bx(9, 1, 9))  # a: all month                                     30
    f.activated("c", bx(9, 1, 9))  # c: 1..5, deactivated, reactivated 21..30         15
    f.deactivated("c", bx(9, 5, 12))
    f.activated("d", bx(9, 10, 10))  # d: created and deleted the same day (Deactivated,
    f.deactivated("d", bx(9, 10, 14))  # then Deleted, which billing ignores)           1
    f.add(T1, ev.EndUserDeleted(user_id=USERS["d"], at=bx(9, 10, 14)), bx(9, 10, 14))
    f.activated("b", bx(9, 16, 10))  # b: mid-month, 16..30                           15
    f.activated("c", bx(9, 21, 8))
    # per day: 1..20 at most 2 active -> minimum 2 = 40; 21..30: a, b, c = 30 -> 70
    # licence 2500 x 70 / 30 = 5833.33 -> 5833; SDK all month 5000; subtotal 10833
    #
    # T2: Hub, no option, no minimum, no contract date: billing starts at its creation
    f.add(
        T2,
        ev.TenantCreated(name="Florist", plan="hub", minimum_end_users=0),
        datetime(2026, 9, 20, 10, tzinfo=UTC),
    )
    f.activated("g", bx(9, 20, 12), tenant=T2)  # 20..30 = 11 days: 1500 x 11 / 30 = 550
    #
    # October (31 days, the 25th has 25 hours): b leaves at midnight starting the 11th;
    # e is active 02:30 CEST - 02:30 CET on the 25th only (00:30Z-01:30Z).
    f.deactivated("b", bx(10, 11))
    f.activated("e", datetime(2026, 10, 25, 0, 30, tzinfo=UTC))
    f.deactivated("e", datetime(2026, 10, 25, 1, 30, tzinfo=UTC))
    # per day: 1..10: a, b, c = 30; 11..24: 2 x 14 = 28; 25: a, c, e = 3; 26..31: 12 -> 73
    # licence 2500 x 73 / 31 = 5887.10 -> 5887; SDK 5000; total 10887
    #
    # A service credit granted on 3 Oct: deducted on the next invoice (September's)
    f.add(
        T1,
        ev.ServiceCreditGranted(
            credit_id=uuid.uuid5(T1, "credit-1"),
            incident_id=uuid.uuid5(T1, "incident-1"),
            breach_month="2026-09",
            amount_cents=1200,
            granted_at=datetime(2026, 10, 3, 12, tzinfo=UTC),
        ),
        datetime(2026, 10, 3, 12, tzinfo=UTC),
    )
    # The contract ends at midnight starting 16 Nov: November bills days 1..15,
    # a and c = 2 a day (the minimum): 2500 x 30 / 30 = 2500; SDK 5000 x 15 / 30 = 2500
    f.add(T1, ev.ContractEnded(contract_end=bx(11, 16)), bx(11, 2, 9))
    return f


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield ""
        return
    pg = request.getfixturevalue("postgres")
    name = f"billing_{uuid.uuid4().hex[:8]}"
    pg.create_database(name)
    yield pg.url(name)
    pg.drop_database(name)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def billing(tmp_path, database_url: str, clock: Clock, name: str = "a") -> FastAPI:  # type: ignore[no-untyped-def]
    settings = BillingSettings(
        data_dir=tmp_path / name,
        database_url=database_url,
        kafka_bootstrap_servers="127.0.0.1:1",  # never started here
        auto_issue_invoices=False,
    )
    return build(settings, clock=clock)


def feed(service: FastAPI, deliveries: list[Delivery], batch: int) -> None:
    apply = make_apply(service.state.service.settings.price_list())
    for start in range(0, len(deliveries), batch):
        service.state.service.apply_batch_now(apply, deliveries[start : start + batch])


def totals(service: FastAPI, tenant: uuid.UUID, period: str) -> list[tuple]:
    with service.state.service.engine.connect() as conn:
        found = find_invoices(conn, str(tenant), period=period)
    return sorted(
        (
            f["purpose"],
            f["licence_cents"],
            f["total_cents"],
            [ln["amount_cents"] for ln in f["lines"]],
        )
        for f in found
    )


def test_invoices_of_autumn(tmp_path, database_url) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(datetime(2026, 10, 5, 8, tzinfo=UTC))
    service = billing(tmp_path, database_url, clock)
    feed(service, the_story().deliveries, batch=7)
    use = service.state.invoicing

    # set-up fees at activation, in advance
    assert totals(service, T1, "2026-09") == [("setup", 0, 35000, [25000, 10000])]
    assert totals(service, T2, "2026-09") == [("setup", 0, 25000, [25000])]

    first = use.issue_month(Period(2026, 9))
    assert sorted((o.tenant_id, o.status) for o in first) == [
        (str(T1), "issued"),
        (str(T2), "issued"),
    ]
    # licence 5833 + SDK 5000 - credit 1200 = 9633
    assert totals(service, T1, "2026-09")[0] == ("monthly", 5833, 9633, [5833, 5000, -1200])
    assert totals(service, T2, "2026-09")[0] == ("monthly", 550, 550, [550])

    again = use.issue_month(Period(2026, 9))  # idempotent: the same invoices
    assert {o.status for o in again} == {"already_issued"}
    assert sorted(o.invoice_id for o in again) == sorted(o.invoice_id for o in first)

    # October is not over yet in Brussels
    assert {o.reason for o in use.issue_month(Period(2026, 10))} == {"month_not_closed"}
    clock.now = datetime(2026, 10, 31, 23, 0, tzinfo=UTC)  # midnight CET: it is
    october = {o.tenant_id: o for o in use.issue_month(Period(2026, 10))}
    assert october[str(T1)].status == "issued"
    # the credit was deducted in full in September: nothing left of it
    assert totals(service, T1, "2026-10") == [("monthly", 5887, 10887, [5887, 5000])]

    clock.now = datetime(2026, 12, 1, 8, tzinfo=UTC)
    use.issue_month(Period(2026, 11))
    assert totals(service, T1, "2026-11") == [("monthly", 2500, 5000, [2500, 2500])]
    december = {o.tenant_id: o for o in use.issue_month(Period(2026, 12))}
    assert (december[str(T1)].status, december[str(T1)].reason) == ("skipped", "outside_contract")

    # every invoice's event sits in the outbox, written with it
    with service.state.service.engine.connect() as conn:
        sent = [orjson.loads(r) for r in conn.scalars(select(outbox.c.envelope))]
    september = next(
        e["payload"]
        for e in sent
        if e["type"] == "InvoiceIssued" and e["payload"]["number"].startswith("202609-11111111-M")
    )
    assert (september["licence_cents"], september["total_cents"], september["kind"]) == (
        5833,
        9633,
        "invoice",
    )
    issued = [e for e in sent if e["type"] == "InvoiceIssued"]
    assert len(issued) == 4 * 2  # set-up, September, October, November, for both tenants


def test_payments_credit_notes_and_early_termination(tmp_path, database_url) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(datetime(2026, 10, 5, 8, tzinfo=UTC))
    service = billing(tmp_path, database_url, clock)
    feed(service, the_story().deliveries, batch=100)
    use = service.state.invoicing
    use.issue_month(Period(2026, 9))
    with service.state.service.engine.connect() as conn:
        unpaid = find_invoices(conn, str(T1), unpaid=True)
    assert sorted(f["total_cents"] for f in unpaid) == [9633, 35000]
    september = next(f for f in unpaid if f["purpose"] == "monthly")

    use.record_payment(september["invoice_id"], paid=True)
    with service.state.service.engine.connect() as conn:
        assert [f["total_cents"] for f in find_invoices(conn, str(T1), unpaid=True)] == [35000]

    # correct 8.33 of licence: a credit note of -833 that points at the invoice
    note_id = use.credit_note(september["invoice_id"], 833, 0, "one user counted twice")
    with service.state.service.engine.connect() as conn:
        (note,) = find_invoices(conn, str(T1), invoice_id=note_id)
        (original,) = find_invoices(conn, str(T1), invoice_id=september["invoice_id"])
    assert (note["kind"], note["licence_cents"], note["total_cents"], note["paid"]) == (
        "credit_note",
        -833,
        -833,
        None,
    )
    assert note["corrects_invoice_id"] == september["invoice_id"]
    assert original["total_cents"] == 9633  # the invoice itself never changes

    # 5833 - 833 = 5000 of licence left; 9633 - 833 = 8800 in all
    with pytest.raises(Refused) as licence_too_much:
        use.credit_note(september["invoice_id"], 5001, 0, "too much")
    with pytest.raises(Refused) as total_too_much:
        use.credit_note(september["invoice_id"], 0, 8801, "too much")
    assert licence_too_much.value.code == total_too_much.value.code == "exceeds_invoice"
    second = use.credit_note(september["invoice_id"], 5000, 3800, "all of it")
    with service.state.service.engine.connect() as conn:
        (note2,) = find_invoices(conn, str(T1), invoice_id=second)
    assert note2["number"] == "202609-11111111-C2"
    with pytest.raises(Refused) as not_payable:
        use.record_payment(second, paid=True)
    assert not_payable.value.code == "not_payable"

    # ended 16 Nov, started 1 Sep 2026: the term ends 1 Sep 2028. Minimum 2 x 2500 = 5000
    # a month: Nov 16..30 = 5000 x 15 / 30 = 2500; Dec 2026..Aug 2028 = 21 x 5000 = 105000
    _contract, termination, fee = use.early_termination(str(T1), None)
    assert (str(termination), str(fee.term_end), fee.amount_cents) == (
        "2026-11-16",
        "2028-09-01",
        107500,
    )
    with pytest.raises(Refused) as no_date:
        use.early_termination(str(T2), None)  # T2's contract runs on: a date is needed
    assert no_date.value.code == "termination_required"


def rows(service: FastAPI) -> dict[str, list[tuple]]:
    with service.state.service.engine.connect() as conn:
        return {
            table.name: sorted(
                tuple(r)
                for r in conn.execute(select(*[c for c in table.c if c.name != "id"])).all()
            )
            for table in VIEW
        }


def test_rebuilt_equals_incremental(tmp_path, database_url, request) -> None:  # type: ignore[no-untyped-def]
    deliveries = the_story().deliveries
    clock = Clock(datetime(2026, 12, 1, tzinfo=UTC))
    incremental = billing(tmp_path, database_url, clock, "incremental")
    feed(incremental, deliveries, batch=1)
    feed(incremental, deliveries[3:12], batch=4)  # redelivered: recognised, skipped
    before = rows(incremental)
    feed(incremental, deliveries, batch=5)  # the whole log again
    assert rows(incremental) == before

    if database_url:  # a fresh database for the rebuild
        pg = request.getfixturevalue("postgres")
        name = f"billing_rebuild_{uuid.uuid4().hex[:8]}"
        pg.create_database(name)
        rebuild_url = pg.url(name)
    else:
        rebuild_url = ""
    rebuilt = billing(tmp_path, rebuild_url, clock, "rebuilt")
    feed(rebuilt, deliveries, batch=500)  # from position 0, in one go
    assert rows(rebuilt) == before
    assert len(before["activations"]) == 7
    assert len(before["invoices"]) == 2  # the set-up invoices; the rest is issued on demand


async def test_the_timer_issues_last_month_after_the_grace(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # September ends at 30 Sep 22:00Z (midnight CEST); the grace is 6 hours.
    clock = Clock(datetime(2026, 10, 1, 3, 59, tzinfo=UTC))
    service = billing(tmp_path, "", clock)
    feed(service, the_story().deliveries, batch=50)

    def monthly() -> list[tuple]:
        return [t for t in totals(service, T1, "2026-09") if t[0] == "monthly"]

    timer = asyncio.create_task(
        issue_closed_months(service.state.invoicing, grace_hours=6, every_seconds=0.05)
    )
    try:
        await asyncio.sleep(0.3)  # several rounds inside the grace: nothing yet
        assert monthly() == []
        clock.now = datetime(2026, 10, 1, 4, 0, tzinfo=UTC)  # 22:00Z + 6 h
        async with asyncio.timeout(20):
            while not monthly():
                await asyncio.sleep(0.05)
    finally:
        timer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await timer
    # licence 5833 + SDK 5000 (the credit of 3 Oct is not granted yet on 1 Oct)
    assert monthly() == [("monthly", 5833, 10833, [5833, 5000])]


def test_issuing_at_once_from_many_places_gives_one_invoice_each(tmp_path, database_url) -> None:  # type: ignore[no-untyped-def]
    service = billing(tmp_path, database_url, Clock(datetime(2026, 10, 5, 8, tzinfo=UTC)))
    feed(service, the_story().deliveries, batch=50)
    with ThreadPoolExecutor(4) as pool:
        runs = list(
            pool.map(lambda _: service.state.invoicing.issue_month(Period(2026, 9)), range(4))
        )
    ids = {o.invoice_id for run in runs for o in run}
    assert len(ids) == 2  # one per tenant, whoever issued it
    assert sum(o.status == "issued" for run in runs for o in run) == 2
    assert totals(service, T1, "2026-09")[1] == ("setup", 0, 35000, [25000, 10000])
    with service.state.service.engine.connect() as conn:
        events = [orjson.loads(r) for r in conn.scalars(select(outbox.c.envelope))]
    assert sorted(
        e["payload"]["invoice_id"]
        for e in events
        if e["payload"]["period"] == "2026-09" and e["payload"]["number"].endswith("-M")
    ) == sorted(ids)


def test_a_second_invoice_of_the_same_number_is_a_concurrent_write_rolled_back(
    tmp_path, database_url
) -> None:  # type: ignore[no-untyped-def]
    """The store turns the unique number's ``IntegrityError`` into ``ConcurrentWrite``
    (what the use cases retry on, or take as issued elsewhere), and nothing of that
    transaction stays: not the payment written before the clash."""
    service = billing(tmp_path, database_url, Clock(datetime(2026, 10, 5, 8, tzinfo=UTC)))
    feed(service, the_story().deliveries, batch=50)
    ledger = service.state.invoicing.ledger
    with service.state.service.engine.connect() as conn:
        (setup,) = find_invoices(conn, str(T1), period="2026-09")
    assert setup["paid"] is False
    columns = {k: setup[k] for k in ("tenant_id", "number", "kind", "purpose", "period")}
    with pytest.raises(ConcurrentWrite), ledger.writing() as books:
        books.record_payment(setup["invoice_id"], True, datetime(2026, 10, 5, 8, tzinfo=UTC))
        books.insert_invoice(
            [],
            invoice_id=str(uuid.uuid4()),
            licence_cents=0,
            total_cents=0,
            issued_at=datetime(2026, 10, 5, 8, tzinfo=UTC),
            **columns,
        )
    with service.state.service.engine.connect() as conn:
        assert [i["paid"] for i in find_invoices(conn, str(T1), period="2026-09")] == [False]
