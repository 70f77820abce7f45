"""The website chat's pure rules: which pages may open the widget, and what a frame may say.

No I/O here: the socket endpoint and the JSON endpoint ask these functions, and the
table-driven unit tests pin them down.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Literal
from urllib.parse import urlsplit

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

# --- close codes of the visitor socket (docs/webchat-sdk.md) ---------------------------
#: Standard: the server is shutting down; the widget reconnects.
CLOSE_GOING_AWAY = 1001
#: Standard: a frame larger than ``MAX_FRAME_CHARS``.
CLOSE_TOO_BIG = 1009
#: Standard: the broker could not take the message; the widget reconnects and resends.
CLOSE_TRY_AGAIN = 1013
#: Not JSON, not a known frame, or no ``hello`` first. The widget reconnects (after a pause).
CLOSE_BAD_FRAME = 4400
#: The page's origin is not in the channel's allowed origins. Final: the widget stops.
CLOSE_ORIGIN_REFUSED = 4403
#: No connected website chat has this key. Final: the widget stops.
CLOSE_UNKNOWN_CHANNEL = 4404

#: Close codes after which the widget must not reconnect.
FINAL_CLOSE_CODES = frozenset({CLOSE_ORIGIN_REFUSED, CLOSE_UNKNOWN_CHANNEL})

MAX_FRAME_CHARS = 16_384
MAX_TEXT_CHARS = 4000
_DEFAULT_PORTS = {"http": 80, "https": 443}

ClientId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{8,128}$")]
Locale = Annotated[str, Field(max_length=16, pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z]{2,4})?$")]


# --- origins ---------------------------------------------------------------------------


def normalise_origin(value: str | None) -> str | None:
    """``scheme://host[:port]`` in lower case without a default port, or None if it is not
    an http(s) origin (``null``, a path, a user name, garbage)."""
    if not value:
        return None
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.username or parts.password or parts.query or parts.fragment:
        return None
    if parts.path not in ("", "/"):
        return None
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def origin_allowed(origin: str | None, allowed: Iterable[str], own_origin: str | None) -> bool:
    """May a page of ``origin`` talk to this channel?

    Exact matches against the channel's list only (no wildcards). An empty list refuses
    every other website: a page served by ingest itself (``own_origin``, the demo page)
    is the only one let in. A missing or opaque (``null``) origin is refused.
    """
    page = normalise_origin(origin)
    if page is None:
        return False
    if own_origin is not None and page == normalise_origin(own_origin):
        return True
    return page in {o for o in map(normalise_origin, allowed) if o is not None}


# --- frames from the widget ------------------------------------------------------------


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class Hello(_Frame):
    """First frame of every connection: who the visitor is, and the last message seen."""

    type: Literal["hello"]
    visitor_id: ClientId
    last_seq: int = Field(default=0, ge=0, le=2**53)
    visitor_name: str | None = Field(default=None, max_length=200)
    locale: Locale | None = None


class Send(_Frame):
    """A visitor message; ``seq`` numbers the visitor's messages, ``client_id`` is stable
    across resends (it becomes the channel message id, so a resend is recorded once)."""

    type: Literal["message"]
    seq: int = Field(ge=1, le=2**53)
    client_id: ClientId
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)


class Seen(_Frame):
    """The visitor has read our messages up to ``seq`` (read receipts)."""

    type: Literal["seen"]
    seq: int = Field(ge=0, le=2**53)


class Ping(_Frame):
    type: Literal["ping"]


Frame = Hello | Send | Seen | Ping
_FRAMES: TypeAdapter[Frame] = TypeAdapter(
    Annotated[Frame, Field(discriminator="type")]  # type: ignore[arg-type]
)


class BadFrame(ValueError):
    """A frame the server cannot take; ``code`` is sent to the widget before closing."""

    def __init__(self, close_code: int, code: str, message: str) -> None:
        super().__init__(message)
        self.close_code, self.code, self.message = close_code, code, message


def parse_frame(raw: str | bytes | None) -> Frame:
    """Text from the socket -> a frame, or :class:`BadFrame` saying why not."""
    if raw is None or isinstance(raw, bytes):
        raise BadFrame(CLOSE_BAD_FRAME, "text_frames_only", "Send JSON in text frames.")
    if len(raw) > MAX_FRAME_CHARS:
        raise BadFrame(
            CLOSE_TOO_BIG, "frame_too_big", f"A frame may hold {MAX_FRAME_CHARS} characters."
        )
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadFrame(CLOSE_BAD_FRAME, "bad_json", "The frame is not JSON.") from None
    try:
        return _FRAMES.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise BadFrame(
            CLOSE_BAD_FRAME, "bad_frame", f"Invalid frame: {where}: {first.get('msg')}"
        ) from None
