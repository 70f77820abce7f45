"""Backups and restore (``services.backup``) of every service's database, SQLite and PostgreSQL,
and of the blob store's files (attachments).

Back up an installation with data, add more, restore into a clean environment: every table
of every database equals its state at backup time (row hashes per table), except what the
restore resets on purpose so it is rebuilt (the conversation views and relay positions, the
outboxes' sent marks); the services then start on it and the views are replayed from the
restored event store. Also: a killed backup (SIGKILL too) leaves no backup that looks
complete, a damaged one is refused, and retention deletes backups older than 30 days but
never the newest. The blob store comes back as it was (files added after the backup go),
and a damaged file in a backup is refused like a damaged database.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import insert, select

from services.backup import archive
from services.backup.settings import SERVICES, BackupSettings
from services.conversation.bootstrap import ConversationService
from services.conversation.settings import ConversationSettings
from services.conversation.store import tables
from services.stats.settings import StatsSettings
from services.stats.store import metadata as stats_metadata
from shared.blobs import LocalBlobStore, attachment_key
from shared.consumer_service import ConsumerService
from shared.readmodel import make_engine
from tests.support.postgres import find_postgres_bin_dir
from tests.support.releases import load_release
from tests.support.tables import row_hashes

#: Reset by the restore so they are rebuilt: checked on their own below.
RESET = {"conversation": ("log_positions", *(t.name for t in tables.VIEWS)), "billing": ("outbox",)}
RESET["sla"] = ("outbox",)


def environment(request, root: Path, backups: Path, name: str) -> BackupSettings:  # type: ignore[no-untyped-def]
    """An installation's settings: its own DATA_DIR, or six new PostgreSQL databases."""
    common = {"interact_env": "development", "backup_dir": backups, "data_dir": root / name}
    if request.param == "sqlite":
        return BackupSettings(**common)
    server = request.getfixturevalue("postgres")
    urls = {}
    for service in SERVICES:
        database = f"{name}_{service}_{uuid.uuid4().hex[:6]}"
        server.create_database(database)
        urls[f"{service}_database_url"] = server.url(database)
    return BackupSettings(**common, **urls, pg_bin_dir=str(find_postgres_bin_dir()))


def conversation_service(settings: BackupSettings) -> ConversationService:
    """The conversation service as it starts (migrations, views), without its broker."""
    return ConversationService(
        ConversationSettings(
            interact_env="development",
            data_dir=settings.data_dir,
            database_url=settings.conversation_database_url,
        ),
        registry=CollectorRegistry(),
    )


def tenant_names(service: ConversationService) -> set[str]:
    with service.engine.connect() as conn:
        return set(conn.scalars(select(tables.tenants.c.name)))


def snapshot(settings: BackupSettings) -> dict[str, dict[str, tuple[int, str]]]:
    found = {}
    for database in archive.databases(settings):
        engine = make_engine(database.url)
        try:
            found[database.name] = row_hashes(engine, skip=RESET.get(database.name, ()))
        finally:
            engine.dispose()
    return found


def blob_files(settings: BackupSettings) -> dict[str, bytes]:
    """The local blob store's files (``DATA_DIR/blobs``), by key."""
    root = settings.data_dir / "blobs"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def put_blob(settings: BackupSettings, data: bytes) -> str:
    key = attachment_key(uuid.uuid4(), uuid.uuid4(), "original")
    asyncio.run(LocalBlobStore(settings.data_dir / "blobs").put(key, data, "application/pdf"))
    return key


def populate(settings: BackupSettings) -> ConversationService:
    """Every consumer service's tables with rows (release fixture, upgraded at the service's
    start); the conversation service with a real event store and its views."""
    for service in SERVICES[1:]:
        load_release(settings.url_of(service), service)
    conversation = conversation_service(settings)
    conversation.directory.create_tenant("Bakery", "pro")
    conversation.projector.catch_up_now()
    stats = ConsumerService(
        StatsSettings(interact_env="development", database_url=settings.url_of("stats")),
        stats_metadata,
    )
    stats.engine.dispose()
    return conversation


@pytest.fixture(params=["sqlite", "postgresql"])
def installations(request, tmp_path):  # type: ignore[no-untyped-def]
    backups = tmp_path / "backups"
    return (
        environment(request, tmp_path, backups, "first"),
        environment(request, tmp_path, backups, "clean"),
    )


def test_restore_into_a_clean_environment_equals_the_backup(installations) -> None:
    first, clean = installations
    conversation = populate(first)
    for data in (b"%PDF-1.4 invoice", os.urandom(300_000)):  # more than one stream chunk
        put_blob(first, data)
    at_backup, files_at_backup = snapshot(first), blob_files(first)
    made = archive.backup(first, reason="onboarding Bakery")
    assert made.services == list(SERVICES)
    assert archive.list_backups(first) == [made]
    assert sorted(f["key"] for f in made.blob_files) == sorted(files_at_backup)
    put_blob(first, b"a file of a message after the backup")
    stale = put_blob(clean, b"a file the clean environment had")

    # More data after the backup: it must not come back.
    conversation.directory.create_tenant("Florist", "hub")
    conversation.projector.catch_up_now()
    assert tenant_names(conversation) == {"Bakery", "Florist"}
    conversation.directory.close()
    conversation.conversations.close()
    conversation.engine.dispose()
    billing = make_engine(first.url_of("billing"))
    with billing.begin() as conn:
        conn.execute(insert(billing_tenants()).values(**tenant_row()))
    billing.dispose()
    assert snapshot(first) != at_backup

    restored = archive.restore(clean)
    assert restored.id == made.id
    assert snapshot(clean) == at_backup
    assert blob_files(clean) == files_at_backup  # the backup's files, and only those
    assert stale not in blob_files(clean)

    # What the restore resets so that it is rebuilt from the restored event store.
    engine = make_engine(clean.url_of("conversation"))
    with engine.connect() as conn:
        names = set(conn.scalars(select(tables.log_positions.c.name)))
    engine.dispose()
    assert not {n for n in names if n.startswith(("outbox:", "views:"))}
    for service in ("billing", "sla"):
        engine = make_engine(clean.url_of(service))
        with engine.connect() as conn:
            sent = conn.execute(select(outbox_of(service).c.sent_at)).scalars().all()
        engine.dispose()
        assert len(sent) == 3 and set(sent) == {None}  # published again, skipped by event id

    # The services start on it: migrations at head, the views replayed from the event store.
    again = conversation_service(clean)
    again.projector.catch_up_now()
    assert tenant_names(again) == {"Bakery"}
    again.directory.close()
    again.conversations.close()
    again.engine.dispose()
    stats = ConsumerService(
        StatsSettings(interact_env="development", database_url=clean.url_of("stats")),
        stats_metadata,
    )
    stats.engine.dispose()

    archive.restore(clean)  # run again (a killed restore is simply re-run): the same result
    assert snapshot(clean) == at_backup
    assert blob_files(clean) == files_at_backup


def billing_tenants():  # type: ignore[no-untyped-def]
    from services.billing.store.tables import tenants

    return tenants


def outbox_of(service: str):  # type: ignore[no-untyped-def]
    if service == "billing":
        from services.billing.store.tables import outbox
    else:
        from services.sla.store.tables import outbox
    return outbox


def tenant_row() -> dict[str, object]:
    return {
        "tenant_id": str(uuid.uuid4()),
        "plan": "pro",
        "sdk_option": False,
        "minimum_end_users": 0,
        "time_zone": "Europe/Brussels",
        "contract_start": datetime(2026, 12, 1, tzinfo=UTC),
    }


def sqlite_settings(tmp_path: Path, **extra: object) -> BackupSettings:
    given = {"data_dir": tmp_path / "data", "backup_dir": tmp_path / "backups"} | extra
    return BackupSettings(interact_env="development", **given)


def test_a_killed_backup_leaves_no_backup_marked_complete(tmp_path, monkeypatch) -> None:
    settings = sqlite_settings(tmp_path)
    for service in SERVICES[1:]:
        load_release(settings.url_of(service), service)
    first = archive.backup(settings, now=datetime(2026, 11, 1, tzinfo=UTC))
    real_dump, dumped = archive.dump_database, []

    def killed_after_two(settings, database, target):  # type: ignore[no-untyped-def]
        if len(dumped) == 2:
            raise KeyboardInterrupt  # what SIGINT does half-way
        dumped.append(database.name)
        return real_dump(settings, database, target)

    monkeypatch.setattr(archive, "dump_database", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        archive.backup(settings, now=datetime(2026, 11, 8, tzinfo=UTC))
    assert archive.list_backups(settings) == [first]
    leftovers = [p.name for p in settings.backup_dir.iterdir() if p.name.startswith(".partial-")]
    assert len(leftovers) == 1
    assert archive.find(settings).id == first.id  # a restore would take the complete one

    monkeypatch.setattr(archive, "dump_database", real_dump)
    second = archive.backup(settings, now=datetime(2026, 11, 8, tzinfo=UTC))  # run again
    assert [b.id for b in archive.list_backups(settings)] == [first.id, second.id]
    assert not [p for p in settings.backup_dir.iterdir() if p.name.startswith(".partial-")]
    archive.verify(second)


def test_a_backup_killed_with_sigkill_is_not_listed_and_the_next_run_completes(
    tmp_path, postgres
) -> None:
    """A real kill: the command is SIGKILLed while ``pg_dump`` writes the first database."""
    urls = {}
    for service in SERVICES:
        database = f"killed_{service}_{uuid.uuid4().hex[:6]}"
        postgres.create_database(database)
        urls[f"{service.upper()}_DATABASE_URL"] = postgres.url(database)
        load_release(urls[f"{service.upper()}_DATABASE_URL"], service)
    slow_tools, started = tmp_path / "slow-bin", tmp_path / "pg_dump-started"
    slow_tools.mkdir()
    (slow_tools / "pg_dump").write_text(
        '#!/bin/sh\nfor target; do :; done\necho half > "$target"\n'
        f"touch {started}\nexec sleep 60\n"
    )
    (slow_tools / "pg_dump").chmod(0o755)
    env = {**os.environ, **urls, "BACKUP_DIR": str(tmp_path / "backups")}
    command = [sys.executable, "-m", "services.backup", "backup"]
    killed = subprocess.Popen(
        command, env={**env, "PG_BIN_DIR": str(slow_tools)}, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while not started.exists():
        assert killed.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()

    settings = BackupSettings(backup_dir=tmp_path / "backups")
    assert archive.list_backups(settings) == []
    assert [p.name[:9] for p in settings.backup_dir.iterdir() if p.name != ".lock"] == [".partial-"]
    with pytest.raises(archive.BackupError, match="no backup"):
        archive.find(settings)

    real = {**env, "PG_BIN_DIR": str(find_postgres_bin_dir())}
    subprocess.run(command, env=real, check=True, capture_output=True, timeout=120)
    (made,) = archive.list_backups(settings)
    assert made.services == list(SERVICES)
    archive.verify(made)
    assert [p.name for p in settings.backup_dir.iterdir() if p.name != ".lock"] == [made.id]


def test_a_damaged_backup_is_refused_before_anything_is_restored(tmp_path) -> None:
    settings = sqlite_settings(tmp_path)
    load_release(settings.url_of("billing"), "billing")
    made = archive.backup(settings)
    with (made.path / "billing.sqlite").open("r+b") as f:
        f.seek(200)
        f.write(b"\x00damaged")
    clean = sqlite_settings(tmp_path / "clean", backup_dir=settings.backup_dir)
    with pytest.raises(archive.BackupError, match=r"billing\.sqlite is missing or damaged"):
        archive.restore(clean)
    assert not (clean.data_dir / "billing.sqlite").exists()
    with pytest.raises(archive.BackupError, match="no backup 'nope'"):
        archive.restore(clean, "nope")


def test_a_damaged_file_of_the_blob_store_is_refused_before_anything_is_restored(
    tmp_path,
) -> None:
    settings = sqlite_settings(tmp_path)
    load_release(settings.url_of("billing"), "billing")
    key = put_blob(settings, b"%PDF-1.4 order")
    made = archive.backup(settings)
    (made.path / "blobs" / key).write_bytes(b"%PDF-1.4 altered")
    clean = sqlite_settings(tmp_path / "clean", backup_dir=settings.backup_dir)
    with pytest.raises(archive.BackupError, match=f"blob {key} is missing or damaged"):
        archive.restore(clean)
    assert not (clean.data_dir / "billing.sqlite").exists()
    assert blob_files(clean) == {}
    # Without the blobs (BACKUP_BLOBS=false: the bucket is its own backup) none are copied.
    plain = archive.backup(
        sqlite_settings(tmp_path, backup_blobs=False), now=made.created_at + timedelta(days=1)
    )
    assert plain.blob_files == [] and not (plain.path / "blobs").exists()


def test_nothing_to_back_up_is_an_error_not_an_empty_backup(tmp_path) -> None:
    settings = sqlite_settings(tmp_path)
    with pytest.raises(archive.BackupError, match="no database to back up"):
        archive.backup(settings)
    assert archive.list_backups(settings) == []
    assert archive.due(settings)


def test_backups_older_than_the_retention_are_deleted_but_never_the_newest(tmp_path) -> None:
    settings = sqlite_settings(tmp_path)
    load_release(settings.url_of("sla"), "sla")
    start = datetime(2026, 10, 1, tzinfo=UTC)
    assert archive.due(settings, now=start)  # none yet: the first, at set-up
    weekly = [archive.backup(settings, now=start + timedelta(weeks=w)) for w in range(6)]
    assert not archive.due(settings, now=start + timedelta(weeks=5, days=6))
    assert archive.due(settings, now=start + timedelta(weeks=6))
    # At week 5 (day 35) the backup of day 0 is past 30 days old; that of day 7 is not.
    assert [b.id for b in archive.list_backups(settings)] == [b.id for b in weekly[1:]]

    much_later = start + timedelta(days=400)
    assert archive.prune(settings, now=much_later) == [b.id for b in weekly[1:-1]]
    assert [b.id for b in archive.list_backups(settings)] == [weekly[-1].id]
