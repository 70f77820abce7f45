"""The optional malware scan: ClamAV's ``clamd`` where the operator runs one.

``CLAMD_ADDRESS`` (``host:port``; empty, the default: no scan). Every file is streamed with
clamd's ``INSTREAM`` command (chunks prefixed by their 4-byte big-endian length, a zero
length ends it); the answer is ``stream: OK`` or ``stream: <signature> FOUND``. A scanner
that cannot be reached refuses the file (``scanner_unavailable``) rather than letting it
through unscanned: the operator asked for scanning.
"""

from __future__ import annotations

import asyncio
import struct

CHUNK = 64 * 1024


class ScannerUnavailable(RuntimeError):
    """clamd did not answer (down, or not clamd)."""


class Clamd:
    def __init__(self, address: str, timeout_s: float = 30.0) -> None:
        host, _, port = address.rpartition(":")
        self.host, self.port, self.timeout_s = host or "127.0.0.1", int(port), timeout_s

    async def __call__(self, data: bytes) -> str | None:
        """The signature found, or None when the file is clean."""
        try:
            async with asyncio.timeout(self.timeout_s):
                reader, writer = await asyncio.open_connection(self.host, self.port)
                try:
                    writer.write(b"zINSTREAM\0")
                    for start in range(0, len(data), CHUNK):
                        chunk = data[start : start + CHUNK]
                        writer.write(struct.pack(">I", len(chunk)) + chunk)
                    writer.write(struct.pack(">I", 0))
                    await writer.drain()
                    answer = (await reader.read(4096)).rstrip(b"\0\n").decode(errors="replace")
                finally:
                    writer.close()
        except (OSError, TimeoutError) as exc:
            raise ScannerUnavailable(f"clamd unreachable: {type(exc).__name__}") from None
        if answer.endswith("FOUND"):
            return answer.removeprefix("stream:").removesuffix("FOUND").strip() or "malware"
        if answer.endswith("OK"):
            return None
        raise ScannerUnavailable(f"clamd answered {answer[:100]!r}")


def scanner_from_address(address: str) -> Clamd | None:
    return Clamd(address) if address.strip() else None
