"""The key store of visitors and conversations on SQLite and PostgreSQL: a batch's keys in
one round trip, and two replicas asking for a new subject's key at the same moment agree
on one key (the one stored first), so nothing sealed with the other is ever unreadable."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from services.conversation.store import datakeys
from services.conversation.store.datakeys import SqlKeyStore, data_keys
from services.conversation.store.tables import metadata
from shared.readmodel import make_engine
from tests.support.databases import BOTH, database_for

TENANT = uuid.uuid4()


@pytest.fixture(params=BOTH)
def engine(request, tmp_path):  # type: ignore[no-untyped-def]
    url = database_for(request, "keys", f"sqlite:///{tmp_path / 'keys.sqlite'}")
    engine = make_engine(url)
    metadata.create_all(engine, tables=[data_keys])
    yield engine
    engine.dispose()


def stored(engine, subject: uuid.UUID) -> list[tuple[str, bytes]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        rows = conn.execute(
            select(data_keys.c.key_id, data_keys.c.secret).where(
                data_keys.c.subject_id == str(subject)
            )
        ).all()
    return [(r.key_id, r.secret) for r in rows]


def test_a_batch_gets_each_subject_s_stored_key_and_asking_again_makes_none(engine) -> None:  # type: ignore[no-untyped-def]
    store = SqlKeyStore(engine)
    subjects = {uuid.uuid4(): TENANT for _ in range(1200)}  # more than one chunk of 500
    first = {k.subject_id: k for k in store.live_keys(subjects)}
    assert set(first) == set(subjects)
    some = list(subjects)[:3]
    for subject in some:
        assert stored(engine, subject) == [(first[subject].key_id, first[subject].secret)]
    again = {k.subject_id: k for k in store.live_keys(subjects)}
    assert again == first
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(data_keys)) == len(subjects)


def test_a_key_another_replica_made_meanwhile_wins_over_ours(engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Replica B makes subject X's key between our look-up and our insert: we get B's."""
    ours, theirs = SqlKeyStore(engine), SqlKeyStore(engine)
    contested, quiet = uuid.uuid4(), uuid.uuid4()
    made_by_them: list[datakeys.DataKey] = []
    real_secret = datakeys.new_secret

    def secret_while_a_replica_writes() -> bytes:
        if not made_by_them:  # our look-up is done; the other replica commits first
            monkeypatch.setattr(datakeys, "new_secret", real_secret)
            made_by_them.append(theirs.live_key(TENANT, contested))
        return real_secret()

    monkeypatch.setattr(datakeys, "new_secret", secret_while_a_replica_writes)
    got = {k.subject_id: k for k in ours.live_keys({contested: TENANT, quiet: TENANT})}

    assert got[contested] == made_by_them[0]
    assert stored(engine, contested) == [(made_by_them[0].key_id, made_by_them[0].secret)]
    assert stored(engine, quiet) == [(got[quiet].key_id, got[quiet].secret)]
