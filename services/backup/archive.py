"""A backup: every service's database, each copied consistently, and the blob store's files,
in one folder with a manifest.

- **PostgreSQL** with its own tools: ``pg_dump -Fc`` (one snapshot: the database as one
  transaction saw it) and ``pg_restore --clean --single-transaction``.
- **SQLite** with its online backup API (``sqlite3.Connection.backup``, all pages in one
  step, so one consistent snapshot while the service keeps writing).

A backup is written into ``BACKUP_DIR/.partial-<id>`` and renamed to ``BACKUP_DIR/<id>`` only
after every file and the ``manifest.json`` (time, services, sizes, SHA-256 checksums) are on
disk: a killed backup leaves a ``.partial-`` folder, never a backup that looks complete, and
the next run removes it. Old backups are deleted after ``BACKUP_RETENTION_DAYS`` (the newest
is always kept), deleted by the same rename-first rule.

The blob store's files (attachments) follow the databases into ``blobs/``, each with its
checksum in the manifest (:mod:`services.backup.blobs`; ``BACKUP_BLOBS=false`` leaves them
to the bucket's own versioning or replication).

A restore checks every checksum, then restores each database in one transaction and the
blob store's files, so a killed restore is simply run again. Then it makes the services
rebuild what derives from the event store (each service's ``Schema.after_restore``): the
conversation views are replayed and the outboxes re-published, and every consumer skips by
event id what it had already applied. After a restore, before the services start, the
erasure log is applied again (``python -m services.conversation.erasure_cli reapply``):
keys and files of visitors erased since the backup go again.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import json
import logging
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from services.backup import blobs
from services.backup.settings import SERVICES, BackupSettings
from shared.blobs import BlobSettings, blob_store_from_settings
from shared.readmodel import make_engine

log = logging.getLogger(__name__)

FORMAT = 1
PARTIAL = ".partial-"
MANIFEST = "manifest.json"
#: The conversation service's event store applications on SQLite, one file each beside its
#: database (``services.conversation.application.eventstore``); on PostgreSQL they are tables
#: of its database. After the database (which holds the relays' positions): positions <= log.
SQLITE_EVENT_STORES = ("directory", "conversations")


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; the message says why."""


@dataclass(frozen=True)
class Database:
    service: str
    name: str
    url: str

    @property
    def kind(self) -> str:
        return "sqlite" if self.url.startswith("sqlite") else "postgresql"

    @property
    def path(self) -> Path:
        return Path(self.url.removeprefix("sqlite:///"))

    @property
    def file(self) -> str:
        return f"{self.name}.sqlite" if self.kind == "sqlite" else f"{self.name}.dump"


def databases(settings: BackupSettings) -> list[Database]:
    """Every database of the installation, in backup order."""
    found = []
    for service in SERVICES:
        url = settings.url_of(service)
        found.append(Database(service, service, url))
        if service == "conversation" and url.startswith("sqlite"):
            base = Path(url.removeprefix("sqlite:///")).parent
            for app in SQLITE_EVENT_STORES:
                path = (base / f"{app}-events.sqlite").resolve()
                found.append(Database(service, f"{app}-events", f"sqlite:///{path}"))
    return found


@dataclass(frozen=True)
class Backup:
    """A complete backup (its manifest read back)."""

    id: str
    path: Path
    created_at: datetime
    manifest: dict[str, Any]

    @property
    def services(self) -> list[str]:
        return list(self.manifest["services"])

    @property
    def blob_files(self) -> list[dict[str, Any]]:
        """The blob store's files in it; none in a backup made without them."""
        return list(self.manifest.get("blobs", {}).get("files", []))

    @property
    def bytes(self) -> int:
        return sum(f["bytes"] for f in [*self.manifest["files"], *self.blob_files])


# --- the tools ------------------------------------------------------------------------


def _tool(settings: BackupSettings, name: str) -> str:
    path = Path(settings.pg_bin_dir) / name if settings.pg_bin_dir else shutil.which(name)
    if not path or not Path(path).exists():
        raise BackupError(f"{name} not found: install the PostgreSQL client or set PG_BIN_DIR")
    return str(path)


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password, and the environment that gives it (not in ``ps``)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    uri = parsed.set(drivername="postgresql", password=None)
    return uri.render_as_string(hide_password=False), env


def _run(argv: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{Path(argv[0]).name} failed: {done.stderr.strip()[-2000:]}")


def _sqlite_copy(source: Path, target: Path) -> None:
    """All pages in one step of the online backup API: one consistent snapshot."""
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target, timeout=30)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def dump_database(settings: BackupSettings, database: Database, target: Path) -> bool:
    """Copy one database to ``target``; False when it does not exist (never started)."""
    if database.kind == "sqlite":
        if not database.path.exists():
            return False
        _sqlite_copy(database.path, target)
        return True
    uri, env = _libpq(database.url)
    argv = [_tool(settings, "pg_dump"), "-Fc", "--no-owner", "--no-privileges"]
    _run([*argv, "--dbname", uri, "--file", str(target)], env)
    return True


def _load(settings: BackupSettings, database: Database, source: Path) -> None:
    if database.kind == "sqlite":
        database.path.parent.mkdir(parents=True, exist_ok=True)
        _sqlite_copy(source, database.path)
        return
    uri, env = _libpq(database.url)
    argv = [_tool(settings, "pg_restore"), "--clean", "--if-exists", "--no-owner"]
    argv += ["--no-privileges", "--single-transaction", "--exit-on-error"]
    _run([*argv, "--dbname", uri, str(source)], env)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, data: bytes) -> None:
    with path.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


@contextmanager
def _exclusive(root: Path) -> Iterator[None]:
    """One backup, prune or restore at a time on a backup folder."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(f"another backup or restore is running on {root}") from None
        yield


def _remove(path: Path) -> None:
    """Rename first: a folder half deleted is never taken for a backup."""
    doomed = path.with_name(f"{PARTIAL}deleted-{path.name}")
    path.rename(doomed)
    shutil.rmtree(doomed)


# --- backup, list, prune ----------------------------------------------------------------


def backup(settings: BackupSettings, *, now: datetime | None = None, reason: str = "") -> Backup:
    """Back up every database now; then delete the backups past retention."""
    now = now or datetime.now(UTC)
    root = settings.backup_dir
    with _exclusive(root):
        for stale in root.glob(f"{PARTIAL}*"):  # what a killed run left
            shutil.rmtree(stale)
        backup_id = now.strftime("%Y%m%dT%H%M%S%fZ")
        work = root / f"{PARTIAL}{backup_id}"
        work.mkdir()
        files = []
        for database in databases(settings):
            target = work / database.file
            if not dump_database(settings, database, target):
                log.warning("no database to back up", extra={"database": database.name})
                continue
            files.append(
                {
                    "service": database.service,
                    "database": database.name,
                    "kind": database.kind,
                    "file": database.file,
                    "bytes": target.stat().st_size,
                    "sha256": _sha256(target),
                }
            )
        if not files:
            shutil.rmtree(work)
            raise BackupError("no database to back up: check DATA_DIR and <SERVICE>_DATABASE_URL")
        manifest = {
            "format": FORMAT,
            "id": backup_id,
            "created_at": now.isoformat(),
            "reason": reason,
            "services": sorted({f["service"] for f in files}, key=SERVICES.index),
            "files": files,
        }
        if settings.backup_blobs:  # after the databases: every file they name is there
            store = _blob_settings(settings)
            manifest["blobs"] = {
                "store": store.blob_store,
                "files": blobs.back_up(blob_store_from_settings(store), work),
            }
        _write_durably(work / MANIFEST, json.dumps(manifest, indent=2).encode())
        _fsync_dir(work)
        work.rename(root / backup_id)  # the moment it becomes a backup
        _fsync_dir(root)
        _prune(settings, now)
    log.info("backup made", extra={"backup": backup_id, "files": len(files)})
    return _read(root / backup_id)


def _read(path: Path) -> Backup:
    manifest = json.loads((path / MANIFEST).read_text())
    created = datetime.fromisoformat(manifest["created_at"])
    return Backup(manifest["id"], path, created, manifest)


def list_backups(settings: BackupSettings) -> list[Backup]:
    """The complete backups, oldest first."""
    root = settings.backup_dir
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        if path.is_dir() and not path.name.startswith(".") and (path / MANIFEST).is_file():
            try:
                found.append(_read(path))
            except (ValueError, KeyError) as exc:
                log.warning("unreadable manifest", extra={"path": str(path), "reason": str(exc)})
    return sorted(found, key=lambda b: b.created_at)


def _prune(settings: BackupSettings, now: datetime) -> list[str]:
    backups = list_backups(settings)
    cutoff = now - timedelta(days=settings.backup_retention_days)
    deleted = []
    for old in backups[:-1]:  # the newest stays, however old
        if old.created_at < cutoff:
            _remove(old.path)
            deleted.append(old.id)
    if deleted:
        log.info("old backups deleted", extra={"backups": deleted})
    return deleted


def prune(settings: BackupSettings, *, now: datetime | None = None) -> list[str]:
    """Delete the backups older than the retention (never the newest); their ids."""
    with _exclusive(settings.backup_dir):
        return _prune(settings, now or datetime.now(UTC))


def due(settings: BackupSettings, *, now: datetime | None = None) -> bool:
    """No backup yet (set-up), or the newest is older than the interval (weekly)."""
    backups = list_backups(settings)
    now = now or datetime.now(UTC)
    interval = timedelta(days=settings.backup_interval_days)
    return not backups or backups[-1].created_at <= now - interval


# --- restore ------------------------------------------------------------------------


def find(settings: BackupSettings, backup_id: str | None = None) -> Backup:
    backups = list_backups(settings)
    if not backups:
        raise BackupError(f"no backup in {settings.backup_dir}")
    if backup_id is None:
        return backups[-1]
    for candidate in backups:
        if candidate.id == backup_id:
            return candidate
    raise BackupError(f"no backup {backup_id!r} in {settings.backup_dir}")


def verify(chosen: Backup) -> None:
    for item in chosen.manifest["files"]:
        path = chosen.path / item["file"]
        if not path.is_file() or _sha256(path) != item["sha256"]:
            raise BackupError(f"backup {chosen.id}: {item['file']} is missing or damaged")
    for item in chosen.blob_files:
        try:
            path = blobs.file_of(chosen.path, item)
        except ValueError:
            raise BackupError(f"backup {chosen.id}: a blob key is not valid") from None
        if not path.is_file() or _sha256(path) != item["sha256"]:
            raise BackupError(f"backup {chosen.id}: blob {item['key']} is missing or damaged")


def _blob_settings(settings: BackupSettings) -> BlobSettings:
    """The blob store the services use (``BLOB_*``, ``DATA_DIR``)."""
    return BlobSettings(data_dir=settings.data_dir)


def restore(settings: BackupSettings, backup_id: str | None = None) -> Backup:
    """Bring every database back to the backup (the latest by default); services stopped."""
    chosen = find(settings, backup_id)
    verify(chosen)
    targets = {(d.service, d.name): d for d in databases(settings)}
    with _exclusive(settings.backup_dir):
        for item in chosen.manifest["files"]:
            target = targets.get((item["service"], item["database"]))
            if target is None or target.kind != item["kind"]:
                raise BackupError(
                    f"backup {chosen.id} holds a {item['kind']} {item['database']} database; "
                    f"set {item['service'].upper()}_DATABASE_URL to one of that kind"
                )
            _load(settings, target, chosen.path / item["file"])
        if "blobs" in chosen.manifest and settings.backup_blobs:
            store = blob_store_from_settings(_blob_settings(settings))
            blobs.restore(store, chosen.path, chosen.blob_files)
        for service in chosen.services:
            _after_restore(settings.url_of(service), service)
    log.info("backup restored", extra={"backup": chosen.id})
    return chosen


def _after_restore(url: str, service: str) -> None:
    """What the service's schema says derives from events: reset, so it is rebuilt."""
    schema = importlib.import_module(f"services.{service}.migrations").SCHEMA
    if not schema.after_restore:
        return
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for statement in schema.after_restore:
                conn.execute(text(statement))
    finally:
        engine.dispose()


__all__ = [
    "Backup",
    "BackupError",
    "Database",
    "backup",
    "databases",
    "due",
    "find",
    "list_backups",
    "prune",
    "restore",
    "verify",
]
