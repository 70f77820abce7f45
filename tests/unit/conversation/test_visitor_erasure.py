"""Crypto-shredding in the conversation log: sealed fields in storage, erasure, resumption.

The event store is a real SQLite file here (its rows are read back raw), the keys are in
the service's SQL key store; an erasure interrupted between its steps is run again.
"""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.conversation.application.contracts import to_envelopes
from services.conversation.application.conversations import Conversations, Inbound
from services.conversation.application.directory import ChannelContext
from services.conversation.application.erasure import ErasureLog, reapply
from services.conversation.domain.conversation import Visitor
from services.conversation.store.datakeys import SqlKeyStore
from services.conversation.store.tables import metadata
from shared.datakeys import ERASED, MemoryKeyStore, Sealer
from shared.events import InboundMessageReceived, MessageContent
from shared.readmodel import make_engine

TENANT = uuid.UUID("a0000000-0000-4000-8000-000000000001")
OTHER = uuid.UUID("a0000000-0000-4000-8000-000000000002")
CHANNEL = uuid.UUID("c0000000-0000-4000-8000-000000000001")
ADMIN = uuid.UUID("00000000-0000-4000-8000-00000000000a")
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_a_sealed_field_opens_only_as_itself_and_not_after_its_key_is_gone():
    sealer = Sealer(MemoryKeyStore())
    subject, other = uuid.uuid4(), uuid.uuid4()
    sealed = sealer.seal(TENANT, subject, "name", "Ada Peeters")
    assert "Ada" not in sealed and sealed.startswith("enc:v1:")
    assert sealer.open("name", sealed) == "Ada Peeters"
    assert sealer.open("email", sealed) == ERASED  # moved to another field: refused
    assert sealer.seal(TENANT, subject, "name", "") == ""  # nothing to hide
    assert sealer.seal(TENANT, subject, "name", None) is None
    assert sealer.open("name", "plain, from before sealing") == "plain, from before sealing"
    kept = sealer.seal(TENANT, other, "name", "Bram")
    assert sealer.destroy([subject]) == 1
    assert sealer.destroy([subject]) == 0  # idempotent
    assert sealer.open("name", sealed) == ERASED
    assert sealer.open("name", kept) == "Bram"
    # The subject gets a new key for what comes after; the old ciphertext stays dead.
    again = sealer.seal(TENANT, subject, "name", "Ada again")
    assert sealer.open("name", again) == "Ada again" and sealer.open("name", sealed) == ERASED


@pytest.fixture
def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'conversation.sqlite'}")
    metadata.create_all(engine)
    events_file = tmp_path / "events.sqlite"

    def open_app(sealer: Sealer) -> Conversations:
        return Conversations(
            env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(events_file)},
            sealer=sealer,
        )

    keys = SqlKeyStore(engine)
    sealer = Sealer(keys)
    app = open_app(sealer)
    yield app, sealer, events_file, tmp_path, lambda: open_app(Sealer(SqlKeyStore(engine)))
    app.close()
    engine.dispose()


def _receive(app: Conversations, visitor: str, n: int, tenant: uuid.UUID = TENANT) -> None:
    message = InboundMessageReceived(
        channel_id=CHANNEL,
        channel_type="webchat",
        channel_message_id=f"{visitor}-{n}",
        visitor_external_id=f"ext-{visitor}",
        visitor_name=f"Name {visitor}",
        content=MessageContent(text=f"secret text {visitor} {n}"),
        received_at=T0 + timedelta(seconds=n),
    )
    app.receive_inbound(
        [Inbound(tenant, message)],
        lambda *_: ChannelContext("nl", bot_connected=False, out_of_office=None),
    )


def _raw_events(events_file: Path) -> bytes:
    with sqlite3.connect(events_file) as db:
        rows = db.execute("SELECT state FROM stored_events").fetchall()
    return b"\n".join(bytes(r[0]) for r in rows)


def test_names_and_texts_are_sealed_in_the_store_and_erasure_shreds_only_that_visitor(world):
    app, sealer, events_file, _tmp, reopen = world
    for visitor in ("ann", "bob"):
        _receive(app, visitor, 1)
        _receive(app, visitor, 2)
    ann = Visitor.create_id(TENANT, CHANNEL, "ext-ann")
    app.update_visitor(TENANT, ann, {"email": "ann@mail.example", "phone": "+32 470"}, ADMIN)
    raw = _raw_events(events_file)
    for clear in (b"Name ann", b"ext-ann", b"secret text", b"ann@mail.example", b"+32 470"):
        assert clear not in raw, clear
    # Read back through the application (a fresh process): the clear values.
    fresh = reopen()
    assert fresh.visitor(TENANT, ann).name == "Name ann"
    assert fresh.visitor(TENANT, ann).profile["email"] == "ann@mail.example"
    fresh.close()

    with pytest.raises(LookupError):  # another tenant's visitor is unknown
        app.erase_visitor(OTHER, ann, ADMIN, T0)
    subjects = app.erase_visitor(TENANT, ann, ADMIN, T0)
    assert sealer.destroy(subjects) == 2  # the visitor and their one conversation
    fresh = reopen()
    erased = fresh.visitor(TENANT, ann)
    assert erased.erased and erased.name is None
    bob = fresh.visitor(TENANT, Visitor.create_id(TENANT, CHANNEL, "ext-bob"))
    assert bob.name == "Name bob"
    # Every event of the log as other services see it: Ann's texts are gone, Bob's are not.
    texts = []
    for note in fresh.recorder.select_notifications(start=1, limit=1000):
        event = fresh.mapper.to_domain_event(note)
        for envelope in to_envelopes(event):
            content = envelope.payload.get("content")
            if content:
                texts.append(content["text"])
    assert texts.count(ERASED) == 2
    assert sorted(t for t in texts if t != ERASED) == ["secret text bob 1", "secret text bob 2"]
    fresh.close()


def test_an_erasure_killed_after_its_event_finishes_when_run_again(world):
    app, _sealer, _events_file, tmp, reopen = world
    _receive(app, "cy", 1)
    cy = Visitor.create_id(TENANT, CHANNEL, "ext-cy")
    log = ErasureLog(tmp / "erasures.jsonl")
    # Killed after step 1: the event is recorded, nothing else happened.
    subjects = app.erase_visitor(TENANT, cy, ADMIN, T0)
    app.close()
    fresh = reopen()
    assert fresh.visitor(TENANT, cy).erased
    # Run again: no second event, the same subjects; log and keys are done now.
    before = fresh.recorder.max_notification_id()
    again = fresh.erase_visitor(TENANT, cy, ADMIN, T0)
    assert again == subjects and fresh.recorder.max_notification_id() == before
    log.append(TENANT, cy, again, ADMIN)
    assert fresh.sealer is not None and fresh.sealer.destroy(again) == 2
    assert fresh.sealer.destroy(again) == 0
    assert reapply(fresh, fresh.sealer, log) == 1  # after a restore: idempotent
    fresh.close()


def test_a_visitor_who_writes_again_after_erasure_is_known_anew(world):
    app, sealer, _events_file, _tmp, reopen = world
    _receive(app, "dee", 1)
    dee = Visitor.create_id(TENANT, CHANNEL, "ext-dee")
    sealer.destroy(app.erase_visitor(TENANT, dee, ADMIN, T0))
    _receive(app, "dee", 1)  # the old message redelivered: nothing new, still erased
    assert app.visitor(TENANT, dee).erased
    _receive(app, "dee", 7)
    fresh = reopen()
    visitor = fresh.visitor(TENANT, dee)
    assert not visitor.erased and visitor.name == "Name dee"
    assert visitor.open_conversation_id is not None
    assert len(visitor.conversation_ids) == 2
    fresh.close()


def test_replicas_sharing_a_folder_each_append_to_their_own_file_and_all_are_read(tmp_path):
    folder = tmp_path / "erasure-log"
    folder.mkdir()
    one, two = ErasureLog(folder, writer="pod-a"), ErasureLog(folder, writer="pod-b")
    first, second = uuid.uuid4(), uuid.uuid4()
    one.append(TENANT, first, [first], ADMIN)
    two.append(TENANT, second, [second], ADMIN)
    assert sorted(p.name for p in folder.iterdir()) == ["pod-a.jsonl", "pod-b.jsonl"]
    # A restarted pod (a new name) and the reapply command see every replica's lines.
    later = ErasureLog(folder, writer="pod-c")
    assert {e["visitor_id"] for e in later.entries()} == {str(first), str(second)}
    # A file path keeps working as before.
    single = ErasureLog(tmp_path / "erasures.jsonl")
    single.append(TENANT, first, [first], ADMIN)
    assert [e["visitor_id"] for e in single.entries()] == [str(first)]
