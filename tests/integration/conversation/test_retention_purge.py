"""The retention purge (SPEC §3.4) on the six real services and a real broker, with the
purge's clock injected: on day 30 after the contract end nothing is gone; on day 31 no row
of the tenant remains in any table of any service (but billing's invoices), also when the
run was killed half-way and run again; other tenants are untouched. SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from fastapi.testclient import TestClient

from services.billing.consumers import KEPT_AFTER_PURGE
from services.conversation.application.purge import LEADER_KEY
from services.conversation.consumers import register
from services.conversation.domain.retention import TenantPurge
from services.conversation.store.retention import retention_runs
from services.stats import consumers as stats_consumers
from shared import topics
from shared.blobs import BlobNotFound, tenant_prefix
from shared.events import Envelope, TenantCreated
from tests.support import files
from tests.support.apps import SERVICES, service_apps
from tests.support.tenants import OPERATOR, OPERATOR_TOKEN, TestTenant, new_tenant

Snapshot = dict[tuple[str, str], int]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack(request, kafka_bootstrap, mail, tmp_path_factory) -> Iterator[dict]:  # type: ignore[no-untyped-def]
    data_dir = tmp_path_factory.mktemp("purge")
    urls: dict[str, str] = {}
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres")
        for name in SERVICES:
            database = f"purge_{name}_{uuid.uuid4().hex[:8]}"
            server.create_database(database)
            urls[name] = server.url(database)
    apps = service_apps(
        data_dir,
        kafka_bootstrap,
        urls,
        operator_token=OPERATOR_TOKEN,
        auto_issue_invoices=False,
        smtp_port=mail.port,
        retention_purge_enabled=False,  # the test runs it, with its own clock
        login_attempts_per_address_per_minute=10_000,
    )
    # Their consumers, as their __main__ wires them (the shared helper builds the HTTP side).
    register(apps["conversation"].state.service)
    apps["stats"].state.service.consume(
        topics.CONVERSATION_EVENTS,
        topics.DIRECTORY_EVENTS,
        group_id="stats",
        apply=stats_consumers.apply,
        types=stats_consumers.handlers.types,
    )
    with ExitStack() as stack:
        clients = {name: stack.enter_context(TestClient(app)) for name, app in apps.items()}
        engines = {
            name: sa.create_engine(urls.get(name) or f"sqlite:///{data_dir / f'{name}.sqlite'}")
            for name in SERVICES
        }
        if not urls:  # SQLite: the two event stores are files of their own
            for log in ("directory", "conversations"):
                engines[f"{log}-events"] = sa.create_engine(
                    f"sqlite:///{data_dir / f'{log}-events.sqlite'}"
                )
        yield {
            "clients": clients,
            "engines": engines,
            "dir": Path(data_dir),
            "bootstrap": kafka_bootstrap,
        }
        for engine in engines.values():
            engine.dispose()


def rows_naming(engines: dict[str, sa.Engine], tenant_id: str) -> Snapshot:
    """Rows per (database, table) whose any column names the tenant (its id as text or
    hex, as the event store writes UUIDs): every table, not only those with a tenant column."""
    forms = (tenant_id, uuid.UUID(tenant_id).hex)
    found: Snapshot = {}
    for name, engine in engines.items():
        with engine.connect() as conn:
            for table in sa.inspect(conn).get_table_names():
                count = 0
                for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                    text = " ".join(
                        v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                        for v in row
                    )
                    count += any(form in text for form in forms)
                if count:
                    found[(name, table)] = count
    return found


def settled(engines: dict[str, sa.Engine], tenant_id: str) -> Snapshot:
    """The tenant's rows once the consumers have caught up: unchanged for 6 s, longer than a
    consumer's long poll (``KAFKA_FETCH_MAX_WAIT_MS``, 5 s), so a late delivery status or
    re-read after a rewind has landed."""
    before, quiet = rows_naming(engines, tenant_id), 0
    for _ in range(60):
        time.sleep(1)
        now = rows_naming(engines, tenant_id)
        quiet = quiet + 1 if now == before else 0
        if quiet >= 6:
            return now
        before = now
    return before


def with_traffic(clients: dict[str, TestClient]) -> TestTenant:
    """A tenant with a website chat, two visitors' conversations, a reply and a note."""
    portal, ingest = clients["conversation"], clients["ingest"]
    tenant = new_tenant(portal)
    admin = tenant.tokens["administrator"]
    channel = portal.post(
        "/v1/channels", headers=admin, json={"channel_type": "webchat", "name": "Site"}
    )
    assert channel.status_code == 201, channel.text
    key = channel.json()["public_key"]
    for visitor in ("v-1", "v-2"):
        for attempt in range(100):  # until ingest has heard of the channel
            sent = ingest.post(
                f"/v1/webchat/{key}/messages",
                json={
                    "visitor_id": visitor,
                    "text": f"hello from {visitor}",
                    "message_id": visitor,
                },
            )
            if sent.status_code == 202:
                break
            assert sent.status_code == 404 and attempt < 99, sent.text
            time.sleep(0.1)
    deadline = time.monotonic() + 30
    while (
        len(
            items := portal.get("/v1/dispatch/conversations?status=open", headers=admin).json()[
                "items"
            ]
        )
        < 2
    ):
        assert time.monotonic() < deadline, items
        time.sleep(0.2)
    conversation_id = items[0]["conversation_id"]
    assert (
        portal.post(f"/v1/conversations/{conversation_id}/take", headers=admin).status_code == 200
    )
    reply = portal.post(
        f"/v1/conversations/{conversation_id}/messages", headers=admin, json={"text": "On its way"}
    )
    assert reply.status_code == 201, reply.text
    note = portal.post(
        f"/v1/conversations/{conversation_id}/notes", headers=admin, json={"text": "VIP"}
    )
    assert note.status_code == 201, note.text
    return tenant


def end_contract(portal: TestClient, tenant_id: str, at: datetime) -> None:
    ended = portal.post(
        f"/v1/operator/tenants/{tenant_id}/termination",
        headers=OPERATOR,
        json={"contract_end": at.isoformat()},
    )
    assert ended.status_code == 204, ended.text


def wait_for(check: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.5)


def test_day_30_keeps_day_31_purges_everywhere_and_others_stay(stack) -> None:  # type: ignore[no-untyped-def]
    clients, engines = stack["clients"], stack["engines"]
    portal = clients["conversation"]
    purge = portal.app.state.service.purge
    gone, kept, recent = (with_traffic(clients) for _ in range(3))
    contract_end = datetime.now(UTC).replace(microsecond=0)
    end_contract(portal, gone.tenant_id, contract_end)
    end_contract(portal, recent.tenant_id, contract_end + timedelta(days=25))

    before = settled(engines, gone.tenant_id)
    services_holding = {name for name, _table in before}
    # Every service holds rows of the tenant before (the event stores on SQLite are files
    # of their own, on PostgreSQL tables of the conversation service's database).
    assert {"conversation", "ingest", "routing", "stats", "billing", "sla"} <= services_holding
    others = {t.tenant_id: settled(engines, t.tenant_id) for t in (kept, recent)}
    # Files of the tenants (what an attachment leaves in the blob store).
    blobs = portal.app.state.service.blobs
    blob_keys = {}
    for t in (gone, kept):
        key = blob_keys[t.tenant_id] = f"{tenant_prefix(t.tenant_id)}attachments/{uuid.uuid4()}/f"
        asyncio.run(blobs.put(key, b"a file", "application/octet-stream"))

    # Day 30: nothing is due, nothing goes.
    purge.clock = lambda: contract_end + timedelta(days=30)
    assert purge.run() == []
    time.sleep(2)
    assert rows_naming(engines, gone.tenant_id) == before

    # Day 31, killed half-way (after the event stores, before the views): still due.
    day_31 = contract_end + timedelta(days=31)
    purge.clock = lambda: day_31
    real_delete_rows = purge.delete_rows

    def killed(_tenant_id: uuid.UUID) -> dict[str, int]:
        raise RuntimeError("killed half-way")

    purge.delete_rows = killed
    with pytest.raises(RuntimeError):
        purge.run()
    purge.delete_rows = real_delete_rows
    assert [t for t, _ in purge.due(day_31)] == [uuid.UUID(gone.tenant_id)]

    # Run again (as the daily job does): it finishes; once a day only.
    assert purge.run_today() == [uuid.UUID(gone.tenant_id)]
    assert purge.run_today() is None

    record_id = str(TenantPurge.create_id(uuid.UUID(gone.tenant_id)))
    record_ids = {record_id, uuid.UUID(record_id).hex}

    def leftovers() -> Snapshot:
        left = rows_naming(engines, gone.tenant_id)
        # Kept on purpose: billing's invoices, and the audit record of the purge itself.
        left = {
            k: v for k, v in left.items() if not (k[0] == "billing" and k[1] in KEPT_AFTER_PURGE)
        }
        audit = _audit_rows(engines, record_ids)
        return {k: v - audit.get(k, 0) for k, v in left.items() if v - audit.get(k, 0)}

    wait_for(lambda: leftovers() == {})
    with pytest.raises(BlobNotFound):
        asyncio.run(blobs.get(blob_keys[gone.tenant_id]))
    assert asyncio.run(blobs.get(blob_keys[kept.tenant_id])) == b"a file"
    assert any(k[0] == "billing" for k in rows_naming(engines, gone.tenant_id))  # invoices stay
    audit = portal.get(f"/v1/operator/tenants/{gone.tenant_id}/purge", headers=OPERATOR)
    assert audit.status_code == 200, audit.text
    assert datetime.fromisoformat(audit.json()["finished_at"]) == day_31
    assert datetime.fromisoformat(audit.json()["contract_end"]) == contract_end
    assert audit.json()["deleted"].get("messages", 0) > 0
    not_purged = portal.get(f"/v1/operator/tenants/{kept.tenant_id}/purge", headers=OPERATOR)
    assert not_purged.status_code == 404
    assert portal.get(
        f"/v1/operator/tenants/{gone.tenant_id}/purge", headers=kept.tokens["administrator"]
    ).status_code in (401, 403)

    # A late or replayed event of the purged tenant (an old offset read again) makes
    # nothing again: every consumer drops it. A new tenant published after it shows that
    # the consumers got that far.
    marker = uuid.uuid4()
    replayed = [
        Envelope.wrap(TenantCreated(name="Replayed", plan="pro"), tenant_id=tid)
        for tid in (uuid.UUID(gone.tenant_id), marker)
    ]
    asyncio.run(_publish(stack["bootstrap"], topics.DIRECTORY_EVENTS, replayed))
    wait_for(
        lambda: (
            {"routing", "stats", "billing", "sla"}
            <= {s for s, _ in rows_naming(engines, str(marker))}
        )
    )
    time.sleep(2)
    assert leftovers() == {}

    # The other tenants are untouched.
    for tenant_id, snapshot in others.items():
        assert rows_naming(engines, tenant_id) == snapshot
    # Applied again (a redelivery, a second run) it changes nothing.
    assert purge.run() == []


async def _publish(bootstrap: str, topic: str, envelopes: list[Envelope]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for envelope in envelopes:
            await producer.send_and_wait(topic, envelope.to_bytes(), key=envelope.key)
    finally:
        await producer.stop()


def _audit_rows(engines: dict[str, sa.Engine], record_ids: set[str]) -> Snapshot:
    """The audit record's rows (the ``TenantPurge`` aggregate in the directory log)."""
    audit: Snapshot = {}
    for name, engine in engines.items():
        with engine.connect() as conn:
            for table in sa.inspect(conn).get_table_names():
                if "originator_id" not in {c["name"] for c in sa.inspect(conn).get_columns(table)}:
                    continue
                rows = conn.execute(sa.text(f'SELECT originator_id FROM "{table}"')).scalars()
                count = sum(
                    str(r).replace("-", "") in {i.replace("-", "") for i in record_ids}
                    for r in rows
                )
                if count:
                    audit[(name, table)] = count
    return audit


def _archive(response) -> dict[str, list[dict]]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        kinds = {
            name.removesuffix(".jsonl"): [json.loads(line) for line in zf.read(name).splitlines()]
            for name in zf.namelist()
            if name.endswith(".jsonl")
        }
        kinds["manifest"] = [json.loads(zf.read("manifest.json"))]
        for kind, rows in list(kinds.items()):
            if kind != "manifest":  # the CSV holds the same rows
                assert len(list(csv.reader(io.StringIO(zf.read(f"{kind}.csv").decode())))) == (
                    len(rows) + 1
                )
    return kinds


def test_export_holds_what_the_portal_api_shows_and_no_other_tenant(stack) -> None:  # type: ignore[no-untyped-def]
    """Every conversation, message, note, user and channel in the archive equals the API's;
    another tenant's export holds nothing of this one; the operator gets it only for a
    terminating tenant (404 otherwise, and for an unknown id)."""
    clients = stack["clients"]
    portal = clients["conversation"]
    tenant, other = with_traffic(clients), with_traffic(clients)
    admin = tenant.tokens["administrator"]
    # A visitor's file: counted in the export (its facts, never its bytes).
    pdf = files.pdf()
    key = portal.get("/v1/channels", headers=admin).json()
    key = (key["items"] if isinstance(key, dict) else key)[0]["public_key"]
    sent = clients["ingest"].post(
        f"/v1/webchat/{key}/files",
        params={"visitor_id": "v-1", "client_id": "file-1", "file_name": "order.pdf"},
        content=pdf,
        headers={"Content-Type": "application/pdf"},
    )
    assert sent.status_code == 202, sent.text
    deadline = time.monotonic() + 30
    while portal.get("/v1/export/summary", headers=admin).json()["counts"]["messages"] < 4:
        assert time.monotonic() < deadline, "the file's message never arrived"
        time.sleep(0.1)
    summary = portal.get("/v1/export/summary", headers=admin).json()
    download = portal.get("/v1/export", headers=admin)
    archive = _archive(download)
    assert download.headers["x-export-rows"] == str(summary["total_rows"])
    progress = portal.get(f"/v1/exports/{download.headers['x-export-id']}", headers=admin).json()
    assert progress["status"] == "finished"
    assert progress["rows_written"] == progress["total_rows"] == summary["total_rows"]
    assert progress["bytes_written"] == len(download.content)
    assert archive["manifest"][0]["counts"] == summary["counts"]
    assert {k: len(v) for k, v in archive.items() if k != "manifest"} == summary["counts"]
    assert summary["counts"]["conversations"] == 2 and summary["counts"]["messages"] == 4
    shown_files = []

    for exported in archive["conversations"]:
        shown = portal.get(f"/v1/conversations/{exported['conversation_id']}", headers=admin)
        assert shown.status_code == 200
        detail = shown.json()
        for field in ("status", "visitor_id", "channel_id", "language", "topics"):
            assert exported[field] == detail[field], field
        messages = [
            m for m in archive["messages"] if m["conversation_id"] == detail["conversation_id"]
        ]
        assert sorted(
            (m["message_id"], m["direction"], m["author"], m["text"], m["delivery_status"])
            for m in messages
        ) == sorted(
            (m["message_id"], m["direction"], m["author"], m["text"], m["delivery_status"])
            for m in detail["messages"]
        )
        fields = ("attachment_id", "kind", "file_name", "content_type", "size", "sha256")
        for m in messages:
            (shown_message,) = [d for d in detail["messages"] if d["message_id"] == m["message_id"]]
            assert [tuple(a[f] for f in fields) for a in m["attachments"]] == [
                tuple(a[f] for f in fields) for a in shown_message["attachments"]
            ]
            assert all(a["refused_code"] is None for a in m["attachments"])
            assert "key" not in str(m["attachments"])  # no blob keys, no bytes
            shown_files += m["attachments"]
        notes = [n for n in archive["notes"] if n["conversation_id"] == detail["conversation_id"]]
        assert sorted((n["note_id"], n["text"]) for n in notes) == sorted(
            (n["note_id"], n["text"]) for n in detail["notes"]
        )
    assert [(a["file_name"], a["size"]) for a in shown_files] == [("order.pdf", len(pdf))]
    with zipfile.ZipFile(io.BytesIO(download.content)) as zf:
        (csv_row,) = [
            r
            for r in csv.DictReader(io.StringIO(zf.read("messages.csv").decode()))
            if r["attachments"] != "[]"
        ]
    assert json.loads(csv_row["attachments"])[0]["sha256"] == shown_files[0]["sha256"]
    users = portal.get("/v1/users?limit=200", headers=admin).json()["items"]
    assert sorted(u["user_id"] for u in archive["users"]) == sorted(u["user_id"] for u in users)
    channels = portal.get("/v1/channels", headers=admin).json()
    channels = channels["items"] if isinstance(channels, dict) else channels
    assert [c["channel_id"] for c in archive["channels"]] == [c["channel_id"] for c in channels]
    assert archive["settings"][0]["tenant_id"] == tenant.tenant_id
    assert len(archive["visitors"]) == 2

    # Another tenant's export: its own, nothing of this one.
    theirs = portal.get("/v1/export", headers=other.tokens["administrator"])
    their_progress = f"/v1/exports/{download.headers['x-export-id']}"
    assert portal.get(their_progress, headers=other.tokens["administrator"]).status_code == 404
    assert theirs.status_code == 200 and tenant.tenant_id not in theirs.text
    assert tenant.tenant_id.encode() not in zipfile.ZipFile(io.BytesIO(theirs.content)).read(
        "settings.jsonl"
    )
    # Not an Administrator: 403; the operator: only a terminating tenant.
    assert portal.get("/v1/export", headers=tenant.tokens["manager"]).status_code == 403
    operator_path = f"/v1/operator/tenants/{tenant.tenant_id}/export"
    assert portal.get(operator_path, headers=OPERATOR).status_code == 404
    assert portal.get(operator_path, headers=admin).status_code in (401, 403)
    unknown = portal.get(f"/v1/operator/tenants/{uuid.uuid4()}/export", headers=OPERATOR)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    end_contract(portal, tenant.tenant_id, datetime.now(UTC) + timedelta(days=10))
    by_operator = _archive(portal.get(operator_path, headers=OPERATOR))
    assert sorted(m["message_id"] for m in by_operator["messages"]) == sorted(
        m["message_id"] for m in archive["messages"]
    )


def test_export_progress_is_visible_while_it_runs_and_an_abort_is_recorded(stack) -> None:  # type: ignore[no-untyped-def]
    clients = stack["clients"]
    portal = clients["conversation"]
    tenant = with_traffic(clients)
    admin = tenant.tokens["administrator"]
    exports = portal.app.state.service.exports
    exports.EVERY_ROWS = 1  # this instance: a record per chunk, so a small tenant shows it
    export_id, counts = exports.start(uuid.UUID(tenant.tenant_id), "test")
    chunks = exports.stream(export_id, uuid.UUID(tenant.tenant_id), counts)
    next(chunks)  # the manifest
    next(chunks)  # users.jsonl
    running = portal.get(f"/v1/exports/{export_id}", headers=admin).json()
    assert running["status"] == "running"
    assert running["rows_written"] == counts["users"] == 4
    assert running["total_rows"] == sum(counts.values())
    chunks.close()  # the client went away
    aborted = portal.get(f"/v1/exports/{export_id}", headers=admin).json()
    assert aborted["status"] == "aborted" and aborted["finished_at"] is not None
    assert portal.get(f"/v1/exports/{uuid.uuid4()}", headers=admin).status_code == 404


def test_one_replica_runs_the_daily_purge(stack) -> None:  # type: ignore[no-untyped-def]
    """At N replicas on PostgreSQL only the holder of the advisory lock runs it; another
    replica's look finds it taken and does nothing that day until the lock is free."""
    purge = stack["clients"]["conversation"].app.state.service.purge
    engine = purge.engine
    # Another replica: its own engine (a pooled connection of ours could be the holder).
    replica = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
    day = datetime(2031, 5, 4, 9, tzinfo=UTC)
    purge.clock = lambda: day
    if engine.dialect.name == "postgresql":
        with replica.connect() as other_replica:
            assert other_replica.scalar(
                sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_KEY}
            )
            other_replica.commit()
            assert purge.run_today() is None  # the other replica leads
            with engine.connect() as conn:
                ran = conn.scalar(
                    sa.select(retention_runs.c.day).where(retention_runs.c.day == day.date())
                )
            assert ran is None
            other_replica.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": LEADER_KEY})
            other_replica.commit()
    assert isinstance(purge.run_today(), list)  # this replica ran it (whatever was due)
    with engine.connect() as conn:
        ran = conn.scalar(sa.select(retention_runs.c.day).where(retention_runs.c.day == day.date()))
    assert ran == day.date()
    assert purge.run_today() is None  # once a day
    if engine.dialect.name == "postgresql":  # the lock was given back: another may lead now
        with replica.connect() as other_replica:
            taken = other_replica.scalar(
                sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_KEY}
            )
            other_replica.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": LEADER_KEY})
            other_replica.commit()
            assert taken
    replica.dispose()
