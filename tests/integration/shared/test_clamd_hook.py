"""The optional malware scan speaks clamd's INSTREAM protocol over a real socket; a local
server that reads the stream as clamd does plays ClamAV (its signature database cannot be
fetched here) and finds the EICAR test file."""

from __future__ import annotations

import asyncio
import struct
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from shared.attachments import AttachmentRefused, Limits, keep
from shared.blobs import LocalBlobStore
from shared.clamd import Clamd, scanner_from_address
from shared.local_broker import free_port
from tests.support import files

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@pytest_asyncio.fixture
async def clamd() -> AsyncIterator[tuple[str, list[bytes]]]:
    scanned: list[bytes] = []

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert await reader.readexactly(10) == b"zINSTREAM\0"
        data = bytearray()
        while size := struct.unpack(">I", await reader.readexactly(4))[0]:
            data += await reader.readexactly(size)
        scanned.append(bytes(data))
        found = EICAR in data
        writer.write(b"stream: Eicar-Test-Signature FOUND\0" if found else b"stream: OK\0")
        await writer.drain()
        writer.close()

    port = free_port()
    server = await asyncio.start_server(session, "127.0.0.1", port)
    async with server:
        yield f"127.0.0.1:{port}", scanned


async def test_a_clean_file_is_kept_and_an_infected_one_refused(clamd, tmp_path: Path) -> None:
    address, scanned = clamd
    scan = scanner_from_address(address)
    blobs = LocalBlobStore(tmp_path)
    big_pdf = files.pdf() + b"%" * 200_000  # more than one INSTREAM chunk
    kept = await keep(
        blobs,
        uuid.uuid4(),
        big_pdf,
        file_name="a.pdf",
        claimed_type=None,
        limits=Limits("webchat"),
        scan=scan,
    )
    assert await blobs.get(kept.key) == big_pdf
    with pytest.raises(AttachmentRefused) as refused:
        await keep(
            blobs,
            uuid.uuid4(),
            EICAR,
            file_name="eicar.txt",
            claimed_type=None,
            limits=Limits("webchat"),
            scan=scan,
        )
    assert (refused.value.status, refused.value.code) == (422, "malware_found")
    assert "Eicar-Test-Signature" in refused.value.message
    assert scanned == [big_pdf, EICAR]
    assert scanner_from_address("") is None  # off by default


async def test_an_unreachable_scanner_refuses_rather_than_lets_through(tmp_path: Path) -> None:
    scan = Clamd(f"127.0.0.1:{free_port()}", timeout_s=2)
    with pytest.raises(AttachmentRefused) as refused:
        await keep(
            LocalBlobStore(tmp_path),
            uuid.uuid4(),
            files.pdf(),
            file_name="a.pdf",
            claimed_type=None,
            limits=Limits("webchat"),
            scan=scan,
        )
    assert (refused.value.status, refused.value.code) == (503, "scanner_unavailable")
    assert not list(tmp_path.rglob("original"))
