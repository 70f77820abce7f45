"""The data keys of visitors and conversations (``shared.datakeys``), in the service's database.

Not a view: keys are original and cannot be rebuilt (without them sealed fields are lost).
A destroyed key keeps its row (``secret`` NULL, ``erased_at``): the tombstone says the
subject was erased and makes erasing again a no-op. The old bytes must not survive in the
file either: SQLite runs with ``secure_delete`` and its WAL is checkpointed after a
destruction; PostgreSQL's dead row versions are vacuumed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    Engine,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    bindparam,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from services.conversation.store import tables as t
from services.conversation.store.tables import metadata
from shared.datakeys import DataKey, key_id_of, new_secret
from shared.readmodel import UtcDateTime

data_keys = Table(
    "data_keys",
    metadata,
    Column("key_id", String(48), primary_key=True),
    Column("subject_id", String(36), nullable=False),
    Column("generation", Integer, nullable=False),
    Column("tenant_id", String(36), nullable=False),
    Column("secret", LargeBinary),
    Column("created_at", UtcDateTime, nullable=False),
    Column("erased_at", UtcDateTime),
    Index("ix_data_keys_subject", "subject_id"),
    Index("ix_data_keys_tenant", "tenant_id"),
)


#: Built once: a batch asks for its keys with these, and building and keying a statement
#: cost more than running it.
_BY_SUBJECT = select(
    data_keys.c.key_id, data_keys.c.subject_id, data_keys.c.generation, data_keys.c.secret
).where(data_keys.c.subject_id.in_(bindparam("subjects", expanding=True)))
_BY_KEY = select(data_keys.c.key_id, data_keys.c.subject_id, data_keys.c.secret).where(
    data_keys.c.key_id.in_(bindparam("keys", expanding=True))
)
_MAKE = {
    "postgresql": postgresql.insert(data_keys)
    .on_conflict_do_nothing()
    .returning(data_keys.c.key_id),
    "sqlite": sqlite.insert(data_keys).on_conflict_do_nothing().returning(data_keys.c.key_id),
}


def _row_key(row: object) -> DataKey:
    return DataKey(row.key_id, uuid.UUID(row.subject_id), row.secret)  # type: ignore[attr-defined]


class SqlKeyStore:
    """:class:`shared.datakeys.KeyStore` on SQLite or PostgreSQL; replicas agree on a
    subject's key because its id is derived from (subject, generation)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def live_key(self, tenant_id: uuid.UUID, subject_id: uuid.UUID) -> DataKey:
        k = data_keys
        while True:
            with self.engine.begin() as conn:
                rows = conn.execute(
                    select(k.c.key_id, k.c.subject_id, k.c.generation, k.c.secret).where(
                        k.c.subject_id == str(subject_id)
                    )
                ).all()
                for row in rows:
                    if row.secret is not None:
                        return _row_key(row)
                generation = max((r.generation for r in rows), default=-1) + 1
                dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
                conn.execute(
                    dialect.insert(k)
                    .values(
                        key_id=key_id_of(subject_id, generation),
                        subject_id=str(subject_id),
                        generation=generation,
                        tenant_id=str(tenant_id),
                        secret=new_secret(),
                        created_at=datetime.now(UTC),
                    )
                    .on_conflict_do_nothing()
                )
            # Read back what won (ours, or a replica's made at the same moment).

    def live_keys(self, subjects: dict[uuid.UUID, uuid.UUID]) -> list[DataKey]:
        """Many subjects' live keys: one SELECT, one INSERT of those that have none."""
        found: dict[uuid.UUID, DataKey] = {}
        generations: dict[uuid.UUID, int] = {}
        wanted = [str(s) for s in subjects]
        with self.engine.begin() as conn:
            for start in range(0, len(wanted), 500):
                rows = conn.execute(_BY_SUBJECT, {"subjects": wanted[start : start + 500]}).all()
                for row in rows:
                    subject = uuid.UUID(row.subject_id)
                    generations[subject] = max(generations.get(subject, -1), row.generation)
                    if row.secret is not None:
                        found[subject] = _row_key(row)
            missing = [subject for subject in subjects if subject not in found]
            new = [
                {
                    "key_id": key_id_of(subject, generations.get(subject, -1) + 1),
                    "subject_id": str(subject),
                    "generation": generations.get(subject, -1) + 1,
                    "tenant_id": str(subjects[subject]),
                    "secret": new_secret(),
                    "created_at": datetime.now(UTC),
                }
                for subject in missing
            ]
            if new:
                inserted = set(conn.scalars(_MAKE[conn.dialect.name], new))
                for subject, n in zip(missing, new, strict=True):
                    if n["key_id"] in inserted:
                        found[subject] = DataKey(n["key_id"], subject, n["secret"])
                # Read back the rest: what a replica made at that moment won.
                ids = [n["key_id"] for n in new if n["key_id"] not in inserted]
                for begin in range(0, len(ids), 500):
                    for row in conn.execute(_BY_KEY, {"keys": ids[begin : begin + 500]}):
                        found[uuid.UUID(row.subject_id)] = _row_key(row)
        return list(found.values())

    def key(self, key_id: str) -> DataKey | None:
        k = data_keys
        with self.engine.connect() as conn:
            row = conn.execute(
                select(k.c.key_id, k.c.subject_id, k.c.secret).where(k.c.key_id == key_id)
            ).first()
        return None if row is None else _row_key(row)

    def erased_but_live(self) -> list[uuid.UUID]:
        """Subjects of visitors the views show erased whose keys are still live: an erasure
        that died between its event and its key destruction (finished at start-up)."""
        v, c, k = t.visitors, t.conversations, data_keys
        erased = select(v.c.visitor_id).where(v.c.erased_at.is_not(None))
        subjects = erased.union(
            select(c.c.conversation_id).where(c.c.visitor_id.in_(erased.scalar_subquery()))
        ).subquery()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(k.c.subject_id)
                .where(k.c.secret.is_not(None), k.c.subject_id.in_(select(subjects.c[0])))
                .distinct()
            ).all()
        return [uuid.UUID(r.subject_id) for r in rows]

    def destroy(self, subject_ids: list[uuid.UUID]) -> int:
        return self._destroy(data_keys.c.subject_id.in_([str(s) for s in subject_ids]))

    def destroy_tenant(self, tenant_id: uuid.UUID) -> int:
        """Every key of a tenant (its purge): its content is unreadable in every copy."""
        return self._destroy(data_keys.c.tenant_id == str(tenant_id))

    def _destroy(self, where: object) -> int:
        k = data_keys
        with self.engine.begin() as conn:
            if conn.dialect.name == "sqlite":  # freed bytes are zeroed, not left in the page
                conn.exec_driver_sql("PRAGMA secure_delete=ON")
            destroyed = conn.execute(
                update(k)
                .where(where, k.c.secret.is_not(None))  # type: ignore[arg-type]
                .values(secret=None, erased_at=datetime.now(UTC))
            ).rowcount
        if destroyed:
            self._scrub()
        return destroyed

    def _scrub(self) -> None:
        """Leave no copy of the old key bytes in the database files."""
        if self.engine.dialect.name == "sqlite":
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        elif self.engine.dialect.name == "postgresql":
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM data_keys"))
