"""The tenant's export (SPEC §3.4, §7.2.2.2): all its content as one zip archive.

One JSON Lines file and one CSV file per kind (users, competences, topics, channels,
settings, visitors, conversations, messages, notes) and ``manifest.json`` with the
counts. Rows come from the Portal's views, read with a streaming cursor
(``yield_per``), and the archive is produced as it is sent (a zip with data descriptors
needs no seeking), so memory stays flat however large the tenant. Channel credentials
are never in the views, so they cannot be in an export. Each message carries its
``attachments`` (file name, type, size, SHA-256; a refused one with its code and reason),
never the bytes nor the blob keys: read per batch of messages on a second connection.

Progress: :func:`summary` gives the counts of each kind first (``GET /v1/export/summary``
and the ``X-Export-Rows`` header); :class:`Exports` records each download in ``exports``
(rows and bytes written so far, finished or aborted), which ``GET /v1/exports/{id}``
shows from any replica while the download runs.
"""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Engine, Table, func, insert, select, update

from services.conversation.store import tables as t
from services.conversation.store.exports import exports

Progress = Callable[[int, int], None]

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


#: What the export says of each file of a message (``attachments`` view; no blob keys).
ATTACHMENT_FIELDS = (
    "attachment_id",
    "kind",
    "file_name",
    "content_type",
    "size",
    "sha256",
    "refused_code",
    "refused_reason",
)


def _files_of(conn: Any, tenant_id: uuid.UUID, message_ids: list[str]) -> dict[str, list]:
    """The attachments of one batch of messages (at most ``YIELD_PER``), in their order."""
    a = t.attachments
    found: dict[str, list] = {}
    rows = conn.execute(
        select(a.c.message_id, *(a.c[n] for n in ATTACHMENT_FIELDS))
        .where(a.c.tenant_id == str(tenant_id), a.c.message_id.in_(message_ids))
        .order_by(a.c.message_id, a.c.position)
    )
    for row in rows:
        found.setdefault(row[0], []).append(dict(zip(ATTACHMENT_FIELDS, row[1:], strict=True)))
    return found


def _with_files(rows: Any, conn: Any, tenant_id: uuid.UUID) -> Iterator[list[Any]]:
    """Each message row with its ``attachments`` appended, a batch of rows at a time."""
    for batch in rows.partitions(YIELD_PER):
        files = _files_of(conn, tenant_id, [row.message_id for row in batch])
        for row in batch:
            yield [*row, files.get(row.message_id, [])]


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
    engine: Engine,
    tenant_id: uuid.UUID,
    counts: dict[str, int] | None = None,
    progress: Progress = lambda _rows, _bytes: None,
) -> Iterator[bytes]:
    """The zip archive, chunk by chunk (a few hundred kB at most in memory at any time);
    ``progress(rows, bytes)`` is told how far it got every ``YIELD_PER`` rows."""
    out = _Chunks()
    counts = counts if counts is not None else summary(engine, tenant_id)
    sent = [0, 0]  # rows, bytes

    def taken() -> bytes:
        data = out.take()
        sent[1] += len(data)
        return data

    with zipfile.ZipFile(out, mode="w", compression=zipfile.ZIP_DEFLATED) as zf:
        manifest = {"tenant_id": str(tenant_id), "format": 1, "counts": counts}
        zf.writestr("manifest.json", orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
        yield taken()
        with engine.connect() as conn:
            for kind in KINDS:
                for chunk, rows in _entries(zf, out, conn, kind, tenant_id):
                    sent[0] += rows
                    sent[1] += len(chunk)
                    progress(*sent)  # before the yield: what is handed to the client
                    yield chunk
    yield taken()
    progress(*sent)


def _entries(
    zf: zipfile.ZipFile, out: _Chunks, conn: Any, kind: Kind, tenant_id: uuid.UUID
) -> Iterator[tuple[bytes, int]]:
    """``<kind>.jsonl`` then ``<kind>.csv``, each read with a streaming cursor; yields
    (bytes, rows since the last yield), rows counted once (in the JSON Lines)."""
    with_files = kind.name == "messages"
    header = (*kind.columns, "attachments") if with_files else kind.columns
    for suffix in ("jsonl", "csv"):
        counts_rows = suffix == "jsonl"
        with (
            zf.open(f"{kind.name}.{suffix}", mode="w", force_zip64=True) as entry,
            conn.engine.connect() as files_conn,
        ):
            text = io.TextIOWrapper(entry, encoding="utf-8", newline="")
            writer = None if counts_rows else csv.writer(text)
            if writer is not None:
                writer.writerow(header)
            rows = conn.execution_options(stream_results=True, yield_per=YIELD_PER).execute(
                _query(kind, tenant_id)
            )
            pending = 0
            for values in _with_files(rows, files_conn, tenant_id) if with_files else rows:
                if writer is None:
                    record = {k: _plain(v) for k, v in zip(header, values, strict=True)}
                    text.write(orjson.dumps(record).decode())
                    text.write("\n")
                else:
                    writer.writerow([_csv_cell(v) for v in values])
                pending += 1
                if pending == YIELD_PER:
                    text.flush()
                    yield out.take(), pending if counts_rows else 0
                    pending = 0
            text.flush()
            text.detach()
        yield out.take(), pending if counts_rows else 0


class Exports:
    """Downloads of the archive, each recorded with its progress in ``exports``."""

    #: Progress is written at most this often (rows), not on every chunk.
    EVERY_ROWS = 5_000

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def start(self, tenant_id: uuid.UUID, requested_by: str) -> tuple[uuid.UUID, dict[str, int]]:
        counts = summary(self.engine, tenant_id)
        export_id = uuid.uuid4()
        with self.engine.begin() as conn:
            conn.execute(
                insert(exports).values(
                    export_id=str(export_id),
                    tenant_id=str(tenant_id),
                    requested_by=requested_by,
                    status="running",
                    total_rows=sum(counts.values()),
                    rows_written=0,
                    bytes_written=0,
                    started_at=datetime.now(UTC),
                )
            )
        return export_id, counts

    def stream(
        self, export_id: uuid.UUID, tenant_id: uuid.UUID, counts: dict[str, int]
    ) -> Iterator[bytes]:
        """The archive; the record says ``finished`` at its end, ``aborted`` if the client
        went away before (the generator is closed then)."""
        last = [0]

        def progress(rows: int, size: int) -> None:
            if rows - last[0] >= self.EVERY_ROWS:
                last[0] = rows
                self._set(export_id, rows_written=rows, bytes_written=size)

        status = "aborted"
        written = [0, 0]

        def track(rows: int, size: int) -> None:
            written[:] = [rows, size]
            progress(rows, size)

        try:
            yield from archive(self.engine, tenant_id, counts, track)
            status = "finished"
        finally:
            self._set(
                export_id,
                status=status,
                rows_written=written[0],
                bytes_written=written[1],
                finished_at=datetime.now(UTC),
            )

    def _set(self, export_id: uuid.UUID, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(exports).where(exports.c.export_id == str(export_id)).values(**values)
            )

    def get(self, tenant_id: uuid.UUID, export_id: uuid.UUID) -> dict[str, Any] | None:
        """The record, only to its own tenant (None otherwise, as if it did not exist)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(exports).where(
                    exports.c.export_id == str(export_id), exports.c.tenant_id == str(tenant_id)
                )
            ).first()
        return dict(row._mapping) if row else None
