"""The blob store's files in a backup (attachments and thumbnails, ``shared.blobs``).

Through the store's own port, so both backends are handled alike: every key is copied
into the backup's ``blobs/`` folder under its own name, with its size and SHA-256 in the
manifest (``blobs.files``). It runs after the databases are copied: a file is kept before
the event that names it, so every file a backed-up database names is there by then (a
file deleted in between, by an erasure, is simply not copied).

A restore writes every file of the backup back and deletes the files the backup does not
have (those of messages after it: the restored databases do not know them), so the store
is as it was, like the databases. Re-running a killed restore gives the same result.
Files of visitors erased after the backup come back with it, as their keys do; the
erasure log's ``reapply`` (run after every restore) deletes them again
(docs/data-lifecycle.md).
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from shared.blobs import BlobNotFound, BlobStore, checked_key

FOLDER = "blobs"


def back_up(store: BlobStore, work: Path) -> list[dict[str, Any]]:
    """Copy every blob into ``work/blobs``; the manifest entries (key, bytes, sha256)."""
    return asyncio.run(_copy_out(store, work / FOLDER))


async def _copy_out(store: BlobStore, target: Path) -> list[dict[str, Any]]:
    files = []
    async for key in store.list_keys():
        path = target / checked_key(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        try:
            with path.open("wb") as out:
                async for chunk in store.stream(key):
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
        except BlobNotFound:  # deleted since it was listed (an erasure): not in this backup
            path.unlink(missing_ok=True)
            continue
        files.append({"key": key, "bytes": size, "sha256": digest.hexdigest()})
    return files


def file_of(backup_path: Path, item: dict[str, Any]) -> Path:
    """Where a manifest's blob is in the backup (a key that would climb out is refused)."""
    return backup_path / FOLDER / checked_key(item["key"])


def restore(store: BlobStore, backup_path: Path, files: list[dict[str, Any]]) -> int:
    """The store as the backup has it; how many files were written."""
    return asyncio.run(_copy_in(store, backup_path, files))


async def _copy_in(store: BlobStore, backup_path: Path, files: list[dict[str, Any]]) -> int:
    wanted = {item["key"] for item in files}
    for item in files:
        data = await asyncio.to_thread(file_of(backup_path, item).read_bytes)
        # The type served comes from the databases (the attachments view), not the store.
        await store.put(item["key"], data, "application/octet-stream")
    extra = [key async for key in store.list_keys() if key not in wanted]
    for key in extra:
        await store.delete(key)
    return len(files)
