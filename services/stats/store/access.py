"""Reading and writing the view: facts in and out, rollups changed by deltas, upserts.

Set-based: one statement (or one executemany) per table per batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import (
    Connection,
    Date,
    Engine,
    Integer,
    Table,
    bindparam,
    cast,
    delete,
    extract,
    func,
    inspect,
    select,
    type_coerce,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from services.stats.domain.facts import ConversationFact
from services.stats.store import (
    ROLLUPS,
    conversation_facts,
    conversation_handlers,
    conversation_topics,
    end_users,
    metadata,
    tenants,
)

FACT_COLUMNS = [c.name for c in conversation_facts.columns]
CHUNK = 500


def upsert(conn: Connection, table: Table, rows: list[dict[str, Any]], *, add: bool) -> None:
    """Insert rows; on a key clash replace the other columns, or add to them (``add``)."""
    if not rows:
        return
    dialect = conn.dialect.name
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    keys = [c.name for c in table.primary_key.columns]
    others = [c for c in table.columns if c.name not in keys]
    changes = {
        c.name: (c + stmt.excluded[c.name]) if add else stmt.excluded[c.name] for c in others
    }
    conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=changes), rows)


def time_zones(conn: Connection, tenant_ids: Iterable[str]) -> dict[str, str]:
    ids = list(set(tenant_ids))
    found: dict[str, str] = {}
    for chunk in _chunks(ids):
        query = select(tenants.c.tenant_id, tenants.c.time_zone).where(
            tenants.c.tenant_id.in_(chunk)
        )
        found.update({r[0]: r[1] for r in conn.execute(query)})
    return found


def tenant_settings(conn: Connection, tenant_id: str) -> tuple[str, str | None]:
    """The tenant's time zone and plan (UTC and none while its ``TenantCreated`` is unseen)."""
    row = conn.execute(
        select(tenants.c.time_zone, tenants.c.plan).where(tenants.c.tenant_id == tenant_id)
    ).first()
    return (row[0], row[1]) if row else ("UTC", None)


def mark_end_user_deleted(conn: Connection, tenant_id: str, user_id: str) -> None:
    conn.execute(
        end_users.update()
        .where(end_users.c.tenant_id == tenant_id, end_users.c.user_id == user_id)
        .values(deleted=True)
    )


def load_facts(conn: Connection, ids: Iterable[str]) -> dict[str, ConversationFact]:
    ids = list(set(ids))
    facts: dict[str, ConversationFact] = {}
    for chunk in _chunks(ids):
        for row in conn.execute(
            select(conversation_facts).where(conversation_facts.c.conversation_id.in_(chunk))
        ).mappings():
            facts[row["conversation_id"]] = ConversationFact(**row)
        _attach(conn, facts, chunk)
    return facts


def tenant_facts(conn: Connection, tenant_id: str) -> dict[str, ConversationFact]:
    facts = {
        row["conversation_id"]: ConversationFact(**row)
        for row in conn.execute(
            select(conversation_facts).where(conversation_facts.c.tenant_id == tenant_id)
        ).mappings()
    }
    for chunk in _chunks(list(facts)):
        _attach(conn, facts, chunk)
    return facts


def _attach(conn: Connection, facts: dict[str, ConversationFact], ids: list[str]) -> None:
    topics: dict[str, list[str]] = {}
    for cid, topic in conn.execute(
        select(conversation_topics.c.conversation_id, conversation_topics.c.topic).where(
            conversation_topics.c.conversation_id.in_(ids)
        )
    ):
        topics.setdefault(cid, []).append(topic)
    for cid, names in topics.items():
        if cid in facts:
            facts[cid].topics = tuple(sorted(names))
    for cid, user, sent in conn.execute(
        select(
            conversation_handlers.c.conversation_id,
            conversation_handlers.c.user_id,
            conversation_handlers.c.messages_sent,
        ).where(conversation_handlers.c.conversation_id.in_(ids))
    ):
        if cid in facts:
            facts[cid].handlers[user] = sent


def save_facts(conn: Connection, facts: Iterable[ConversationFact]) -> None:
    facts = list(facts)
    upsert(
        conn,
        conversation_facts,
        [{name: getattr(f, name) for name in FACT_COLUMNS} for f in facts],
        add=False,
    )
    ids = [f.conversation_id for f in facts]
    for chunk in _chunks(ids):
        conn.execute(
            delete(conversation_topics).where(conversation_topics.c.conversation_id.in_(chunk))
        )
        conn.execute(
            delete(conversation_handlers).where(conversation_handlers.c.conversation_id.in_(chunk))
        )
    topic_rows = [
        {"conversation_id": f.conversation_id, "topic": t, "tenant_id": f.tenant_id}
        for f in facts
        for t in f.topics
    ]
    handler_rows = [
        {
            "conversation_id": f.conversation_id,
            "user_id": u,
            "tenant_id": f.tenant_id,
            "messages_sent": n,
        }
        for f in facts
        for u, n in f.handlers.items()
    ]
    if topic_rows:
        conn.execute(conversation_topics.insert(), topic_rows)
    if handler_rows:
        conn.execute(conversation_handlers.insert(), handler_rows)


def add_to_rollups(conn: Connection, delta: Mapping[tuple[str, tuple], Mapping[str, int]]) -> None:
    """Add the counters to the rollup rows (creating them); drop rows left with nothing."""
    per_table: dict[str, list[dict[str, Any]]] = {}
    emptied: dict[str, list[tuple]] = {}
    for (name, key), counters in delta.items():
        table = ROLLUPS[name]
        keys = [c.name for c in table.primary_key.columns]
        others = [c.name for c in table.columns if c.name not in keys]
        row = dict(zip(keys, key, strict=True)) | dict.fromkeys(others, 0) | dict(counters)
        per_table.setdefault(name, []).append(row)
        if counters.get("conversations", 0) < 0:
            emptied.setdefault(name, []).append(key)
    for name, rows in per_table.items():
        upsert(conn, ROLLUPS[name], rows, add=True)
    for name, keys in emptied.items():
        table = ROLLUPS[name]
        key_columns = list(table.primary_key.columns)
        drop = delete(table).where(
            *(c == bindparam(f"k_{c.name}") for c in key_columns), table.c.conversations <= 0
        )
        conn.execute(
            drop,
            [{f"k_{c.name}": v for c, v in zip(key_columns, key, strict=True)} for key in keys],
        )


def clear_rollups(conn: Connection, tenant_id: str) -> None:
    for table in ROLLUPS.values():
        conn.execute(delete(table).where(table.c.tenant_id == tenant_id))


def _chunks(items: list, size: int = CHUNK) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def bucket_of(dialect: str, day: ColumnElement, bucket: str) -> ColumnElement:
    """The SQL of ``domain.buckets.bucket_start``: the Monday of the week, the first of
    the month (a test checks both databases against the domain rule)."""
    if bucket == "week":
        if dialect == "postgresql":
            return day - (cast(extract("isodow", day), Integer) - 1)
        back = (cast(func.strftime("%w", day), Integer) + 6) % 7
        return type_coerce(func.date(day, func.printf("-%d days", back)), Date)
    if bucket == "month":
        if dialect == "postgresql":
            return cast(func.date_trunc("month", day), Date)
        return type_coerce(func.date(day, "start of month"), Date)
    return day


def outdated_tables(engine: Engine) -> dict[str, list[str]]:
    """Tables of an older version of the view: table -> the columns it lacks.

    ``create_all`` adds missing tables but never columns; a view of an older shape must
    be rebuilt (``python -m services.stats.rebuild``), not patched.
    """
    found = inspect(engine)
    lacking: dict[str, list[str]] = {}
    for table in metadata.sorted_tables:
        if not found.has_table(table.name):
            continue
        have = {c["name"] for c in found.get_columns(table.name)}
        if missing := [c.name for c in table.columns if c.name not in have]:
            lacking[table.name] = missing
    return lacking
