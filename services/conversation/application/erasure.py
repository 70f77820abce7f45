"""Visitor erasure (GDPR art. 17): every copy of a person's name, contact fields and texts.

The steps, each idempotent, so an erasure killed half-way and run again finishes
(docs/data-lifecycle.md):

1. ``Visitor.Erased`` is recorded (audit: who, when; no personal data) and the visitor's
   open conversation closed; the relay publishes ``VisitorErased`` (ingest forgets).
2. The erasure log outside the databases gets a line (ids only), so a restore of an older
   backup erases again (:func:`reapply`).
3. The data keys of the visitor and their conversations are destroyed: every sealed copy
   (event store, event topic, feed, backups) reads ``[erased]``.
4. The projector overwrites the views (``Visitor.Erased``).
5. Once the relay has published past the erasure, the transit topics are truncated up to
   what every consumer has read (:mod:`shared.transit`).

The files of the visitor's conversations leave the blob store once the views caught up
(``forget_files``). After a restore, :func:`reapply` and :func:`forget_files_again` do
steps 1, 3 and the files again for every visitor in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from services.conversation.application.conversations import Conversations
from shared.datakeys import Sealer

Truncate = Callable[[], Awaitable[bool]]
#: Deletes the files of these conversations (of this tenant) from the blob store.
ForgetFiles = Callable[[uuid.UUID, list[uuid.UUID]], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class ErasureOutcome:
    visitor_id: uuid.UUID
    subjects: list[uuid.UUID]
    keys_destroyed: int
    #: False: the transit topics still hold unconsumed records; erase again to finish.
    transit_truncated: bool


class ErasureLog:
    """Append-only JSON lines of erasures, kept outside the databases and their backups.

    ``path`` is a file, or an existing folder that replicas share (a ReadWriteMany volume
    in Kubernetes): then each writer appends to a file of its own in it (``<host>.jsonl``,
    as appends from several hosts to one file on a network volume may interleave) and
    :meth:`entries` reads them all.
    """

    def __init__(self, path: Path, writer: str | None = None) -> None:
        self.folder = path if path.is_dir() else None
        own = f"{writer or socket.gethostname()}.jsonl"
        self.path = path / own if self.folder is not None else path
        self._lock = threading.Lock()

    def append(
        self, tenant_id: uuid.UUID, visitor_id: uuid.UUID, subjects: list[uuid.UUID], by: uuid.UUID
    ) -> None:
        line = {
            "tenant_id": str(tenant_id),
            "visitor_id": str(visitor_id),
            "subjects": [str(s) for s in subjects],
            "by": str(by),
            "at": datetime.now(UTC).isoformat(),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")
            out.flush()
            os.fsync(out.fileno())

    def entries(self) -> Iterator[dict]:
        files = sorted(self.folder.glob("*.jsonl")) if self.folder is not None else [self.path]
        for file in files:
            if not file.exists():
                continue
            with file.open(encoding="utf-8") as lines:
                for line in lines:
                    if line.strip():
                        yield json.loads(line)


class Erasure:
    """The use case; ``published_past(n)`` tells when the relay has published notification
    ``n``, ``truncate`` cuts the transit topics, ``project`` brings the views up to date,
    ``scrub`` leaves no old copy of the overwritten rows in the database files."""

    def __init__(
        self,
        conversations: Conversations,
        sealer: Sealer,
        log: ErasureLog,
        project: Callable[[], Awaitable[object]],
        published_past: Callable[[int], bool],
        truncate: Truncate | None,
        publish_wait_seconds: float = 30.0,
        scrub: Callable[[], None] = lambda: None,
        forget_files: Callable[[uuid.UUID, list[uuid.UUID]], Awaitable[object]] | None = None,
    ) -> None:
        #: Deletes the files (attachments) of the erased conversations from the blob store,
        #: once the views have caught up (they know which files a conversation has).
        self.forget_files = forget_files
        self.conversations = conversations
        self.sealer = sealer
        self.log = log
        self.project = project
        self.published_past = published_past
        self.truncate = truncate
        self.publish_wait_seconds = publish_wait_seconds
        self.scrub = scrub

    def erase_now(self, tenant_id: uuid.UUID, visitor_id: uuid.UUID, by: uuid.UUID) -> tuple:
        """Steps 1 to 3 (blocking); LookupError for an unknown or another tenant's visitor."""
        subjects = self.conversations.erase_visitor(tenant_id, visitor_id, by, datetime.now(UTC))
        self.log.append(tenant_id, visitor_id, subjects, by)
        destroyed = self.sealer.destroy(subjects)
        head = self.conversations.recorder.max_notification_id() or 0
        return subjects, destroyed, head

    async def erase(
        self, tenant_id: uuid.UUID, visitor_id: uuid.UUID, by: uuid.UUID
    ) -> ErasureOutcome:
        subjects, destroyed, head = await asyncio.to_thread(
            self.erase_now, tenant_id, visitor_id, by
        )
        await self.project()
        if self.forget_files is not None:
            await self.forget_files(tenant_id, list(subjects))
        await asyncio.to_thread(self.scrub)
        truncated = await self._truncate_after(head)
        return ErasureOutcome(visitor_id, subjects, destroyed, truncated)

    async def _truncate_after(self, head: int) -> bool:
        if self.truncate is None:
            return True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.publish_wait_seconds
        while not await asyncio.to_thread(self.published_past, head):
            if loop.time() > deadline:
                return False
            await asyncio.sleep(0.1)
        return await self.truncate()


def reapply(conversations: Conversations, sealer: Sealer, log: ErasureLog) -> int:
    """After a restore: erase again every visitor in the log (their keys may be back with
    the restored database); returns how many entries were applied. Idempotent."""
    applied = 0
    for entry in log.entries():
        tenant_id, visitor_id = uuid.UUID(entry["tenant_id"]), uuid.UUID(entry["visitor_id"])
        subjects = {uuid.UUID(s) for s in entry["subjects"]}
        with contextlib.suppress(LookupError):  # not in this backup: only its keys, if any
            subjects.update(
                conversations.erase_visitor(
                    tenant_id, visitor_id, uuid.UUID(entry["by"]), datetime.now(UTC)
                )
            )
        sealer.destroy(sorted(subjects))
        applied += 1
    return applied


async def forget_files_again(log: ErasureLog, forget_files: ForgetFiles) -> int:
    """After a restore, once :func:`reapply` ran and the views caught up: the files of every
    logged visitor's conversations leave the blob store again (a backup made before the
    erasure brought them back, unsealed: files are not encrypted). How many attachments."""
    forgotten = 0
    for entry in log.entries():
        subjects = [uuid.UUID(s) for s in entry["subjects"]]
        forgotten += await forget_files(uuid.UUID(entry["tenant_id"]), subjects)
    return forgotten
