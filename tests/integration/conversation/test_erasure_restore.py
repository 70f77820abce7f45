"""Erasures survive a restore: a backup made before an erasure is restored, the erasure log
(kept outside the databases) is re-applied, and the person is gone again, their files too
(a backup holds the blob store's files). Also: an erasure that died between its event and
its keys is finished from the views at start-up."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path

from services.backup import archive
from services.backup.settings import BackupSettings
from services.conversation import erasure_cli
from services.conversation.application.conversations import Conversations, Inbound
from services.conversation.application.directory import ChannelContext
from services.conversation.application.erasure import ErasureLog
from services.conversation.application.eventstore import event_store_env
from services.conversation.domain.conversation import Visitor
from services.conversation.settings import ConversationSettings
from services.conversation.store.datakeys import SqlKeyStore
from services.conversation.store.files import forget_files
from services.conversation.store.projection import Projector
from services.conversation.store.tables import metadata
from shared.blobs import LocalBlobStore, attachment_key
from shared.datakeys import Sealer
from shared.events import Attachment, InboundMessageReceived, MessageContent
from shared.readmodel import make_engine

TENANT = uuid.UUID("a0000000-0000-4000-8000-000000000001")
CHANNEL = uuid.UUID("c0000000-0000-4000-8000-000000000001")
ADMIN = uuid.UUID("00000000-0000-4000-8000-00000000000a")


class Service:
    """The conversation service's stores as its bootstrap makes them, on ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.settings = ConversationSettings(data_dir=data_dir)
        self.engine = make_engine(self.settings.sqlalchemy_url("conversation"))
        metadata.create_all(self.engine)
        self.keys = SqlKeyStore(self.engine)
        self.sealer = Sealer(self.keys)
        self.app = Conversations(
            env=event_store_env("", data_dir, "conversations"), sealer=self.sealer
        )
        self.projector = Projector(self.engine, [self.app])
        self.blobs = LocalBlobStore(data_dir / "blobs")

    def receive(self, who: str) -> uuid.UUID:
        """A message of ``who`` with a file (kept in the blob store first, as ingest does)."""
        data = f"%PDF-1.4 order of {who}".encode()
        attachment_id = uuid.uuid5(CHANNEL, who)
        key = attachment_key(TENANT, attachment_id, "original")
        asyncio.run(self.blobs.put(key, data, "application/pdf"))
        file = Attachment(
            attachment_id=attachment_id,
            kind="file",
            file_name=f"{who}.pdf",
            content_type="application/pdf",
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            key=key,
        )
        message = InboundMessageReceived(
            channel_id=CHANNEL,
            channel_type="webchat",
            channel_message_id=f"{who}-1",
            visitor_external_id=who,
            visitor_name=f"Name of {who}",
            content=MessageContent(text=f"text of {who}", attachments=[file]),
            received_at=datetime.now(UTC),
        )
        self.app.receive_inbound(
            [Inbound(TENANT, message)],
            lambda *_: ChannelContext("nl", bot_connected=False, out_of_office=None),
        )
        self.projector.catch_up_now()
        return Visitor.create_id(TENANT, CHANNEL, who)

    def close(self) -> None:
        self.app.close()
        self.engine.dispose()


def _everything(data_dir: Path) -> str:
    texts = []
    for file in data_dir.glob("*.sqlite"):
        with sqlite3.connect(file) as db:
            for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'"):
                for row in db.execute(f'SELECT * FROM "{table}"'):
                    texts += [
                        bytes(v).decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                        for v in row
                    ]
    return "\n".join(texts)


def _files(data_dir: Path) -> set[str]:
    """The attachment ids the blob store has files of (``tenants/*/attachments/{id}/*``)."""
    root = data_dir / "blobs"
    return {p.relative_to(root).parts[3] for p in root.rglob("*") if p.is_file()}


def test_a_restored_backup_forgets_again_whom_the_erasure_log_names(tmp_path, monkeypatch):
    live = tmp_path / "data"
    backups = BackupSettings(
        interact_env="development", data_dir=live, backup_dir=tmp_path / "backups"
    )
    service = Service(live)
    ann, bob = service.receive("ann"), service.receive("bob")
    assert "Name of ann" in _everything(live)
    files = {str(uuid.uuid5(CHANNEL, who)) for who in ("ann", "bob")}
    assert _files(live) == files
    service.close()
    archive.backup(backups)  # the weekly backup, made before the erasure: databases and files

    service = Service(live)
    log = ErasureLog(service.settings.erasure_log_path)
    subjects = service.app.erase_visitor(TENANT, ann, ADMIN, datetime.now(UTC))
    log.append(TENANT, ann, subjects, ADMIN)
    service.sealer.destroy(subjects)
    service.projector.catch_up_now()
    assert asyncio.run(forget_files(service.engine, service.blobs, TENANT, subjects)) == 1
    assert "Name of ann" not in _everything(live) and "text of ann" not in _everything(live)
    assert _files(live) == {str(uuid.uuid5(CHANNEL, "bob"))}
    service.close()

    # Disaster: everything is restored from the backup; the erasure log is not in it.
    erasures = log.path.read_bytes()
    shutil.rmtree(live)
    archive.restore(backups)
    log.path.write_bytes(erasures)
    assert "Name of ann" in _everything(live)  # the backup knows Ann (and her key)
    assert _files(live) == files  # ... and has her file

    monkeypatch.setenv("DATA_DIR", str(live))
    assert erasure_cli.main(["reapply"]) == 0
    assert erasure_cli.main(["reapply"]) == 0  # idempotent
    restored = _everything(live)
    assert "Name of ann" not in restored and "text of ann" not in restored
    assert "Name of bob" in restored and "text of bob" in restored
    assert _files(live) == {str(uuid.uuid5(CHANNEL, "bob"))}  # Ann's file is gone again
    service = Service(live)
    assert service.app.visitor(TENANT, ann).erased
    assert service.app.visitor(TENANT, bob).name == "Name of bob"
    service.close()


def test_start_up_finishes_an_erasure_that_died_before_its_keys_went(tmp_path):
    service = Service(tmp_path)
    cy = service.receive("cy")
    subjects = service.app.erase_visitor(TENANT, cy, ADMIN, datetime.now(UTC))
    service.projector.catch_up_now()  # ... and the process died here
    assert sorted(service.keys.erased_but_live()) == sorted(subjects)
    assert service.sealer.destroy(service.keys.erased_but_live()) == len(subjects)
    assert service.keys.erased_but_live() == []
    service.close()


def test_the_erasure_log_holds_ids_only(tmp_path):
    log = ErasureLog(tmp_path / "erasures.jsonl")
    visitor = uuid.uuid4()
    log.append(TENANT, visitor, [visitor], ADMIN)
    (entry,) = list(log.entries())
    assert set(entry) == {"tenant_id", "visitor_id", "subjects", "by", "at"}


def test_a_tenant_purge_destroys_that_tenant_keys_only(tmp_path):
    service = Service(tmp_path)
    other = uuid.uuid4()
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    sealed = service.sealer.seal(TENANT, mine, "text", "the tenant's content")
    kept = service.sealer.seal(other, theirs, "text", "another tenant's content")
    assert service.keys.destroy_tenant(TENANT) == 1
    assert service.keys.destroy_tenant(TENANT) == 0
    fresh = Sealer(SqlKeyStore(service.engine))  # another process: nothing cached
    assert fresh.open("text", sealed) == "[erased]"
    assert fresh.open("text", kept) == "another tenant's content"
    service.close()
