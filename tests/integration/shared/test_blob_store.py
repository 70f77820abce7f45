"""Both blob stores behind the one port: the local folder and S3 (a moto S3 server process
started here, spoken to over HTTP by boto3 exactly as production speaks to its bucket)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from shared.blobs import (
    BlobNotFound,
    BlobSettings,
    BlobStore,
    LocalBlobStore,
    S3BlobStore,
    attachment_key,
    blob_store_from_settings,
    tenant_prefix,
)
from shared.local_broker import free_port


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the S3 server did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def s3_store(endpoint: str) -> S3BlobStore:
    bucket = f"interact-{uuid.uuid4().hex[:12]}"
    settings = BlobSettings(
        blob_store="s3",
        blob_s3_bucket=bucket,
        blob_s3_endpoint_url=endpoint,
        blob_s3_access_key_id="test",
        blob_s3_secret_access_key="test",  # type: ignore[arg-type]
    )
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).create_bucket(Bucket=bucket)
    store = blob_store_from_settings(settings)
    assert isinstance(store, S3BlobStore)
    return store


@pytest.fixture(params=["local", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        store = blob_store_from_settings(BlobSettings(data_dir=tmp_path))
        assert isinstance(store, LocalBlobStore)
        assert store.root == (tmp_path / "blobs").resolve()
        return store
    return s3_store(request.getfixturevalue("s3_endpoint"))


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in chunks])


async def test_put_get_stream_delete(blobs: BlobStore) -> None:
    tenant = uuid.uuid4()
    key = attachment_key(tenant, uuid.uuid4(), "original")
    data = os.urandom(700_000)  # more than one stream chunk, with NUL bytes in it
    await blobs.put(key, data, "application/octet-stream")
    assert await blobs.get(key) == data
    assert await collect(blobs.stream(key)) == data
    await blobs.put(key, b"second", "text/plain")  # a put replaces
    assert await blobs.get(key) == b"second"
    await blobs.delete(key)
    with pytest.raises(BlobNotFound):
        await blobs.get(key)
    with pytest.raises(BlobNotFound):
        await collect(blobs.stream(key))
    await blobs.delete(key)  # deleting what is gone is fine (erasure may run twice)


async def test_delete_prefix_removes_one_tenant_only(blobs: BlobStore) -> None:
    gone, kept = uuid.uuid4(), uuid.uuid4()
    gone_keys = [attachment_key(gone, uuid.uuid4(), p) for p in ("original", "thumbnail")]
    gone_keys += [attachment_key(gone, uuid.uuid4(), "original") for _ in range(3)]
    kept_key = attachment_key(kept, uuid.uuid4(), "original")
    for key in [*gone_keys, kept_key]:
        await blobs.put(key, key.encode(), "text/plain")
    assert await blobs.delete_prefix(tenant_prefix(gone)) == len(gone_keys)
    for key in gone_keys:
        with pytest.raises(BlobNotFound):
            await blobs.get(key)
    assert await blobs.get(kept_key) == kept_key.encode()
    assert await blobs.delete_prefix(tenant_prefix(gone)) == 0


async def test_keys_lists_what_is_stored_under_a_prefix(blobs: BlobStore) -> None:
    """What a backup copies: every stored key (sorted), one tenant's with its prefix."""
    one, two = uuid.uuid4(), uuid.uuid4()
    stored = sorted(
        attachment_key(tenant, uuid.uuid4(), part)
        for tenant in (one, two)
        for part in ("original", "thumbnail")
    )
    for key in stored:
        await blobs.put(key, b"x", "text/plain")
    assert [k async for k in blobs.list_keys()] == stored
    assert [k async for k in blobs.list_keys(tenant_prefix(one))] == [
        k for k in stored if k.startswith(tenant_prefix(one))
    ]
    await blobs.delete(stored[0])
    assert [k async for k in blobs.list_keys()] == stored[1:]


async def test_a_put_in_progress_is_not_listed(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    key = attachment_key(uuid.uuid4(), uuid.uuid4(), "original")
    await store.put(key, b"done", "text/plain")
    (tmp_path / key).with_name(".original.abc.tmp").write_bytes(b"half")  # what _put writes first
    assert [k async for k in store.list_keys()] == [key]


async def test_keys_that_climb_out_are_refused(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    for key in ("../etc/passwd", "tenants/../../x", "/abs", "tenants//x", ""):
        with pytest.raises(ValueError):
            await store.put(key, b"x", "text/plain")
