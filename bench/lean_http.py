"""A lean HTTP/1.1 keep-alive client for the load generators: one connection, one request
at a time, ``post`` and the status and body back.

Why: on this 2-core machine the load must not eat the cores it measures. httpx spent
~0.9 ms of CPU per request, as much as the conversation service spends on the message;
this client writes the request bytes and reads the status line, headers and body itself
(~0.1 ms). It speaks only what ingest answers: ``Content-Length`` bodies (and chunked,
for completeness), keep-alive, reconnecting when the server closed the connection.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit


class LeanTransportError(ConnectionError):
    """The connection broke before the whole response was read (retry with the same id)."""


@dataclass(frozen=True)
class LeanResponse:
    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class LeanClient:
    """One keep-alive connection to ``base_url``'s host; callers take turns (one in flight)."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http":
            raise ValueError("the lean client speaks plain http only")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._head = f"Host: {self.host}:{self.port}\r\n{extra}"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> LeanClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._reader = self._writer = None

    async def post(self, path: str, content: bytes) -> LeanResponse:
        """POST ``content`` to ``path`` (absolute URL or path); the whole response back."""
        if path.startswith("http"):
            path = urlsplit(path).path
        request = (
            f"POST {self.prefix}{path} HTTP/1.1\r\n{self._head}"
            f"Content-Length: {len(content)}\r\n\r\n"
        ).encode() + content
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None and self._writer is not None
        try:
            self._writer.write(request)
            return await self._response(self._reader)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            await self.aclose()
            raise LeanTransportError(str(exc) or type(exc).__name__) from exc

    async def _response(self, reader: asyncio.StreamReader) -> LeanResponse:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, chunked, close = None, False, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        if chunked:
            body = bytearray()
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                body += await reader.readexactly(size)
                await reader.readexactly(2)  # the chunk's CRLF
            await reader.readuntil(b"\r\n")  # no trailers are sent to us: the final CRLF
            content = bytes(body)
        else:
            content = await reader.readexactly(length or 0)
        if close:
            await self.aclose()
        return LeanResponse(status, content)
