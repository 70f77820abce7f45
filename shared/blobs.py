"""The blob store: file contents (attachments, thumbnails) by key, never on Kafka.

One small port, :class:`BlobStore` (``put``, ``get``, ``stream``, ``delete``,
``delete_prefix``, ``list_keys``: what backups copy), with two adapters chosen by
settings, never by code:

- :class:`LocalBlobStore` (default): files under ``DATA_DIR/blobs`` (``BLOB_DIR`` to move
  it); the embedded stack's services share ``DATA_DIR``, so what ingest stores the
  conversation service serves.
- :class:`S3BlobStore` (``BLOB_STORE=s3``): any S3-compatible object storage through
  boto3 (``BLOB_S3_BUCKET``, ``BLOB_S3_ENDPOINT_URL`` for a non-AWS store,
  ``BLOB_S3_REGION``; credentials from boto3's usual chain, or ``BLOB_S3_ACCESS_KEY_ID``
  and ``BLOB_S3_SECRET_ACCESS_KEY``).

Every key starts with the tenant (:func:`tenant_prefix`), so a tenant's files are one
prefix: the retention purge and erasure remove them with ``delete_prefix`` (a whole
tenant) or ``delete`` (one file and its thumbnail).
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal, Protocol

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

CHUNK_BYTES = 256 * 1024
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,511}$")


class BlobNotFound(KeyError):
    """No blob has this key (never stored, or deleted)."""


class BlobStore(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes: ...

    def stream(self, key: str) -> AsyncIterator[bytes]: ...

    async def delete(self, key: str) -> None: ...

    async def delete_prefix(self, prefix: str) -> int: ...

    def list_keys(self, prefix: str = "") -> AsyncIterator[str]: ...


def tenant_prefix(tenant_id: uuid.UUID | str) -> str:
    return f"tenants/{uuid.UUID(str(tenant_id))}/"


def attachment_key(tenant_id: uuid.UUID | str, attachment_id: uuid.UUID, part: str) -> str:
    """``tenants/{tenant}/attachments/{id}/{part}`` (``original`` or ``thumbnail``)."""
    return f"{tenant_prefix(tenant_id)}attachments/{attachment_id}/{part}"


def checked_key(key: str) -> str:
    """Keys are ours, but a key that could climb out of the folder is refused anyway."""
    if not _KEY.match(key) or ".." in key.split("/") or "//" in key:
        raise ValueError(f"not a blob key: {key!r}")
    return key


class LocalBlobStore:
    """Files under ``root``; a put is written to a temporary file and renamed (atomic)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        return self.root / checked_key(key)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._put, self._path(key), data)

    @staticmethod
    def _put(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError):
            raise BlobNotFound(key) from None

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except (FileNotFoundError, IsADirectoryError):
            raise BlobNotFound(key) from None
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
                yield chunk
        finally:
            handle.close()

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def delete_prefix(self, prefix: str) -> int:
        return await asyncio.to_thread(self._delete_prefix, checked_key(prefix))

    def _delete_prefix(self, prefix: str) -> int:
        removed = 0
        base = self.root / prefix.rstrip("/")
        if not base.exists():
            return 0
        for path in sorted(base.rglob("*"), reverse=True):  # files before their folders
            if path.is_file():
                path.unlink(missing_ok=True)
                removed += 1
            else:
                path.rmdir()
        base.rmdir()
        return removed

    async def list_keys(self, prefix: str = "") -> AsyncIterator[str]:
        """Every stored key under ``prefix``, sorted; a put still in progress (its hidden
        temporary file) is not one."""
        for key in await asyncio.to_thread(self._keys, prefix):
            yield key

    def _keys(self, prefix: str) -> list[str]:
        if not self.root.is_dir():
            return []
        found = (
            path.relative_to(self.root).as_posix()
            for path in self.root.rglob("*")
            if path.is_file() and not path.name.startswith(".")
        )
        return sorted(k for k in found if k.startswith(prefix))


class S3BlobStore:
    """An S3 bucket (AWS, MinIO, Ceph, ...) through boto3; calls run in a worker thread."""

    def __init__(self, client: object, bucket: str) -> None:
        self.client, self.bucket = client, bucket

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(
            self.client.put_object,  # type: ignore[attr-defined]
            Bucket=self.bucket,
            Key=checked_key(key),
            Body=data,
            ContentType=content_type,
        )

    def _body(self, key: str) -> object:
        errors = self.client.exceptions  # type: ignore[attr-defined]
        try:
            return self.client.get_object(Bucket=self.bucket, Key=checked_key(key))["Body"]  # type: ignore[attr-defined]
        except errors.NoSuchKey:
            raise BlobNotFound(key) from None

    async def get(self, key: str) -> bytes:
        body = await asyncio.to_thread(self._body, key)
        return await asyncio.to_thread(body.read)  # type: ignore[attr-defined]

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        body = await asyncio.to_thread(self._body, key)
        try:
            while chunk := await asyncio.to_thread(body.read, CHUNK_BYTES):  # type: ignore[attr-defined]
                yield chunk
        finally:
            body.close()  # type: ignore[attr-defined]

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(
            self.client.delete_object,  # type: ignore[attr-defined]
            Bucket=self.bucket,
            Key=checked_key(key),
        )

    async def delete_prefix(self, prefix: str) -> int:
        return await asyncio.to_thread(self._delete_prefix, checked_key(prefix))

    def _delete_prefix(self, prefix: str) -> int:
        removed = 0
        pages = self.client.get_paginator("list_objects_v2").paginate(  # type: ignore[attr-defined]
            Bucket=self.bucket, Prefix=prefix
        )
        for page in pages:
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:  # at most 1000 per page, the limit of one DeleteObjects call
                self.client.delete_objects(  # type: ignore[attr-defined]
                    Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True}
                )
                removed += len(keys)
        return removed

    async def list_keys(self, prefix: str = "") -> AsyncIterator[str]:
        """Every stored key under ``prefix`` (in the bucket's order: sorted)."""
        for key in await asyncio.to_thread(self._keys, prefix):
            yield key

    def _keys(self, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(  # type: ignore[attr-defined]
            Bucket=self.bucket, Prefix=prefix
        )
        return [o["Key"] for page in pages for o in page.get("Contents", [])]


class BlobSettings(BaseSettings):
    """``BLOB_*`` environment variables (and ``DATA_DIR`` for the local default)."""

    model_config = SettingsConfigDict(extra="ignore", hide_input_in_errors=True)

    data_dir: Path = Path("data")
    blob_store: Literal["local", "s3"] = "local"
    #: The local store's folder; empty: ``DATA_DIR/blobs``.
    blob_dir: str = ""
    blob_s3_bucket: str = ""
    blob_s3_endpoint_url: str = ""
    blob_s3_region: str = "us-east-1"
    blob_s3_access_key_id: str = ""
    blob_s3_secret_access_key: SecretStr | None = None


def blob_store_from_settings(settings: BlobSettings | None = None) -> BlobStore:
    settings = settings or BlobSettings()
    if settings.blob_store == "local":
        return LocalBlobStore(
            Path(settings.blob_dir) if settings.blob_dir else settings.data_dir / "blobs"
        )
    if not settings.blob_s3_bucket:
        raise ValueError("BLOB_STORE=s3 needs BLOB_S3_BUCKET")
    import boto3  # only where S3 is used

    secret = settings.blob_s3_secret_access_key
    client = boto3.client(
        "s3",
        endpoint_url=settings.blob_s3_endpoint_url or None,
        region_name=settings.blob_s3_region,
        aws_access_key_id=settings.blob_s3_access_key_id or None,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
    )
    return S3BlobStore(client, settings.blob_s3_bucket)
