"""The tenant's export (SPEC §3.4, §7.2.2.2): all its content as one zip archive.

One JSON Lines file and one CSV file per kind (users, competences, topics, channels,
settings, visitors, conversations, messages, notes) and ``manifest.json`` with the
counts. Rows come from the Portal's views, read with a streaming cursor
(``yield_per``), and the archive is produced as it is sent (a zip with data descriptors
needs no seeking), so memory stays flat however large the tenant. Channel credentials
are never in the views, so they cannot be in an export.

Progress: :func:`summary` gives the counts of each kind first (``GET /v1/export/summary``
and the ``X-Export-Rows`` header); the archive's entries come in that order.
"""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Engine, Table, func, select

from services.conversation.store import tables as t

YIELD_PER = 1000


@dataclass(frozen=True)
class Kind:
    name: str
    table: Table
    columns: tuple[str, ...]
    extra: tuple[ColumnElement[bool], ...] = ()
    order: str = ""


def _cols(table: Table, *drop: str) -> tuple[str, ...]:
    names = (str(c.name) for c in table.columns)  # plain str: orjson takes no subclass
    return tuple(n for n in names if n not in drop and n != "tenant_id")


KINDS: tuple[Kind, ...] = (
    Kind("users", t.end_users, _cols(t.end_users), order="user_id"),
    Kind(
        "competences",
        t.labels,
        _cols(t.labels, "kind"),
        (t.labels.c.kind == "competence",),
        "label_id",
    ),
    Kind("topics", t.labels, _cols(t.labels, "kind"), (t.labels.c.kind == "topic",), "label_id"),
    Kind("channels", t.channels, _cols(t.channels), order="channel_id"),
    Kind("settings", t.tenants, (*_cols(t.tenants), "tenant_id"), order="tenant_id"),
    Kind("visitors", t.visitors, _cols(t.visitors), order="visitor_id"),
    Kind("conversations", t.conversations, _cols(t.conversations), order="conversation_id"),
    Kind("messages", t.messages, _cols(t.messages), order="message_id"),
    Kind("notes", t.notes, _cols(t.notes), order="note_id"),
)


def _query(kind: Kind, tenant_id: uuid.UUID) -> Any:
    columns = [kind.table.c[name] for name in kind.columns]
    return (
        select(*columns)
        .where(kind.table.c.tenant_id == str(tenant_id), *kind.extra)
        .order_by(kind.table.c[kind.order])
    )


def summary(engine: Engine, tenant_id: uuid.UUID) -> dict[str, int]:
    """Rows per kind the archive will hold (what a progress bar counts towards)."""
    counts = {}
    with engine.connect() as conn:
        for kind in KINDS:
            query = select(func.count()).select_from(kind.table)
            query = query.where(kind.table.c.tenant_id == str(tenant_id), *kind.extra)
            counts[kind.name] = conn.scalar(query) or 0
    return counts


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _csv_cell(value: Any) -> Any:
    if isinstance(value, list | dict):
        return orjson.dumps(value).decode()
    return _plain(value)


class _Chunks(io.RawIOBase):
    """A write-only stream whose bytes the generator takes away after every write."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def archive(
    engine: Engine, tenant_id: uuid.UUID, counts: dict[str, int] | None = None
) -> Iterator[bytes]:
    """The zip archive, chunk by chunk (a few hundred kB at most in memory at any time)."""
    out = _Chunks()
    counts = counts if counts is not None else summary(engine, tenant_id)
    with zipfile.ZipFile(out, mode="w", compression=zipfile.ZIP_DEFLATED) as zf:
        manifest = {"tenant_id": str(tenant_id), "format": 1, "counts": counts}
        zf.writestr("manifest.json", orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
        yield out.take()
        with engine.connect() as conn:
            for kind in KINDS:
                yield from _entries(zf, out, conn, kind, tenant_id)
    yield out.take()


def _entries(
    zf: zipfile.ZipFile, out: _Chunks, conn: Any, kind: Kind, tenant_id: uuid.UUID
) -> Iterator[bytes]:
    """``<kind>.jsonl`` then ``<kind>.csv``, each read with a streaming cursor."""
    for suffix in ("jsonl", "csv"):
        with zf.open(f"{kind.name}.{suffix}", mode="w", force_zip64=True) as entry:
            text = io.TextIOWrapper(entry, encoding="utf-8", newline="")
            writer = csv.writer(text) if suffix == "csv" else None
            if writer is not None:
                writer.writerow(kind.columns)
            rows = conn.execution_options(stream_results=True, yield_per=YIELD_PER).execute(
                _query(kind, tenant_id)
            )
            for n, row in enumerate(rows, 1):
                if writer is None:
                    record = {k: _plain(v) for k, v in zip(kind.columns, row, strict=True)}
                    text.write(orjson.dumps(record).decode())
                    text.write("\n")
                else:
                    writer.writerow([_csv_cell(v) for v in row])
                if n % YIELD_PER == 0:
                    text.flush()
                    yield out.take()
            text.flush()
            text.detach()
        yield out.take()
