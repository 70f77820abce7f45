"""Files in conversations: what is accepted, and how an accepted file is kept.

One place for the rules (docs/attachments.md):

- **Type from the bytes**, never the sender's claim: libmagic (``python-magic``) names it.
  Only :data:`ALLOWED_TYPES` are kept; an executable or script is refused as
  ``disguised_executable`` when its name or claimed type says otherwise, as
  ``type_not_allowed`` when it does not hide (both 415).
- **Size**: the channel's own limit (:data:`CHANNEL_LIMITS`, by kind), the operator's
  ``ATTACHMENT_MAX_BYTES`` and the tenant's setting (:meth:`Limits.of`), the smallest wins: ``too_large`` (413). Empty: ``empty_file`` (422).
- **Images** must decode (Pillow): ``broken_image`` (422) otherwise; a thumbnail (at most
  :data:`THUMBNAIL_PX` on a side, JPEG) is kept beside the original.
- **Malware**: when ``CLAMD_ADDRESS`` is set every file is scanned by clamd first
  (:mod:`shared.clamd`); a finding is ``malware_found`` (422).

:func:`keep` stores an accepted file in the blob store under the tenant's prefix and returns
the :class:`~shared.events.Attachment` that events carry (the reference, never the bytes).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import mimetypes
import re
import uuid
from dataclasses import dataclass
from typing import Literal

import magic
from PIL import Image, UnidentifiedImageError

from shared.blobs import BlobStore, attachment_key
from shared.clamd import ScannerUnavailable
from shared.events import Attachment, AttachmentKind, RefusedAttachment

MB = 1024 * 1024

#: The OpenAPI of an upload route: the file's bytes are the whole body (its name comes in a
#: header), and the refusals every upload can meet besides its own size limit (413).
BINARY_UPLOAD = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
UPLOAD_REFUSALS: dict[int | str, dict[str, str]] = {
    415: {"description": "A type not accepted, or a program under another name"},
    422: {"description": "Empty, a damaged image, or malware found"},
}
THUMBNAIL_PX = 320
#: Pillow refuses images above this many pixels (decompression bombs).
MAX_PIXELS = 50_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
AUDIO_TYPES = frozenset(
    {
        "audio/ogg",
        "audio/mpeg",
        "audio/mp4",
        "audio/aac",
        "audio/amr",
        "audio/x-wav",
        "audio/wav",
        "audio/webm",
        "audio/x-m4a",
    }
)
VIDEO_TYPES = frozenset({"video/mp4", "video/3gpp", "video/quicktime", "video/webm"})
DOCUMENT_TYPES = frozenset(
    {
        "application/pdf",
        "text/plain",
        "text/csv",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
    }
)
ALLOWED_TYPES = IMAGE_TYPES | AUDIO_TYPES | VIDEO_TYPES | DOCUMENT_TYPES
#: What runs when opened: refused whatever it is called.
EXECUTABLE_TYPES = frozenset(
    {
        "application/x-dosexec",
        "application/vnd.microsoft.portable-executable",
        "application/x-msdownload",
        "application/x-executable",
        "application/x-sharedlib",
        "application/x-pie-executable",
        "application/x-mach-binary",
        "application/x-elf",
        "application/java-archive",
        "application/x-msi",
        "text/x-shellscript",
        "text/x-msdos-batch",
        "application/x-bat",
    }
)
_EXECUTABLE_NAMES = re.compile(
    r"\.(exe|dll|com|scr|msi|bat|cmd|sh|ps1|jar|vbs|js|elf|bin|app)$", re.I
)

ChannelKind = Literal["messenger", "page_comments", "whatsapp", "webchat"]
#: The channels' own limits in bytes, by kind ("*": any other kind). WhatsApp Cloud API:
#: image 5 MB, audio/video 16 MB, document 100 MB, sticker 500 KB; Messenger: 25 MB.
CHANNEL_LIMITS: dict[str, dict[str, int]] = {
    "whatsapp": {
        "image": 5 * MB,
        "audio": 16 * MB,
        "video": 16 * MB,
        "sticker": MB // 2,
        "*": 100 * MB,
    },
    "messenger": {"*": 25 * MB},
    "page_comments": {"*": 25 * MB},
    "webchat": {"*": 25 * MB},
}
DEFAULT_MAX_BYTES = 25 * MB


class AttachmentRefused(ValueError):
    """Not kept; ``status`` is the HTTP answer where a person sent it (413, 415, 422)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def as_refusal(self, kind: str, file_name: str | None) -> RefusedAttachment:
        return RefusedAttachment(
            kind=kind, file_name=file_name, code=self.code, reason=self.message
        )


@dataclass(frozen=True, slots=True)
class Limits:
    """Where a file comes from and what it may weigh there."""

    channel_type: str
    max_bytes: int = DEFAULT_MAX_BYTES

    @classmethod
    def of(cls, channel_type: str, operator_max: int, tenant_max: int | None) -> Limits:
        """The tenant's own limit applies only below the operator's (never raises it)."""
        if tenant_max is None:
            return cls(channel_type, operator_max)
        return cls(channel_type, min(operator_max, tenant_max))

    def for_kind(self, kind: str) -> int:
        own = CHANNEL_LIMITS.get(self.channel_type, {})
        return min(own.get(kind, own.get("*", self.max_bytes)), self.max_bytes)


@dataclass(frozen=True, slots=True)
class Inspected:
    content_type: str
    kind: AttachmentKind
    sha256: str
    thumbnail: bytes | None
    width: int | None
    height: int | None


def kind_of(content_type: str) -> AttachmentKind:
    if content_type in IMAGE_TYPES:
        return "image"
    if content_type in AUDIO_TYPES:
        return "audio"
    if content_type in VIDEO_TYPES:
        return "video"
    return "file"


def safe_file_name(name: str | None, content_type: str) -> str:
    """A name to show and to put in ``Content-Disposition``: no folders, no control
    characters, at most 200 characters; a missing one is made from the type."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = re.sub(r"[\x00-\x1f\x7f\"]", "", base).strip().strip(".")[:200]
    if base:
        return base
    return f"file{mimetypes.guess_extension(content_type) or ''}"


def inspect(
    data: bytes,
    *,
    file_name: str | None,
    claimed_type: str | None,
    limits: Limits,
    claimed_kind: str | None = None,
) -> Inspected:
    """Accept or refuse one file (raises :class:`AttachmentRefused`). Pure but for CPU."""
    if not data:
        raise AttachmentRefused(422, "empty_file", "The file is empty.")
    content_type = magic.from_buffer(data[:65536], mime=True) or "application/octet-stream"
    kind = kind_of(content_type)
    limit = limits.for_kind(claimed_kind if claimed_kind == "sticker" else kind)
    if len(data) > limit:
        raise AttachmentRefused(
            413, "too_large", f"The file is {len(data)} bytes; {limit} bytes at most here."
        )
    if content_type in EXECUTABLE_TYPES or content_type not in ALLOWED_TYPES:
        claimed = (claimed_type or "").split(";")[0].strip().lower()
        hides = (claimed and claimed != content_type) or (
            file_name is not None and not _EXECUTABLE_NAMES.search(file_name)
        )
        if content_type in EXECUTABLE_TYPES and hides:
            raise AttachmentRefused(
                415,
                "disguised_executable",
                f"The file is a program ({content_type}) under another name or type.",
            )
        raise AttachmentRefused(
            415, "type_not_allowed", f"Files of type {content_type} are not accepted."
        )
    thumbnail = width = height = None
    if kind == "image":
        thumbnail, width, height = _thumbnail(data)
    return Inspected(content_type, kind, hashlib.sha256(data).hexdigest(), thumbnail, width, height)


def _thumbnail(data: bytes) -> tuple[bytes, int, int]:
    try:
        with Image.open(io.BytesIO(data)) as probe:
            probe.verify()  # structure and checksums
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # every pixel: a truncated file fails here
            width, height = image.size
            image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
            out = io.BytesIO()
            image.convert("RGB").save(out, "JPEG", quality=80)
    except Image.DecompressionBombError:
        raise AttachmentRefused(
            422, "image_too_large", f"The image has more than {MAX_PIXELS} pixels."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise AttachmentRefused(
            422, "broken_image", "The image cannot be read (damaged or cut off)."
        ) from None
    return out.getvalue(), width, height


async def keep(
    blobs: BlobStore,
    tenant_id: uuid.UUID,
    data: bytes,
    *,
    file_name: str | None,
    claimed_type: str | None,
    limits: Limits,
    attachment_id: uuid.UUID | None = None,
    claimed_kind: str | None = None,
    scan: object | None = None,
) -> Attachment:
    """Inspect, scan (when a scanner is given), store original and thumbnail; the reference.

    ``attachment_id``: derive it from the channel's ids where a redelivery must land on
    the same key (a webhook Meta retries)."""
    inspected = await asyncio.to_thread(
        inspect,
        data,
        file_name=file_name,
        claimed_type=claimed_type,
        limits=limits,
        claimed_kind=claimed_kind,
    )
    if scan is not None:
        try:
            finding = await scan(data)  # type: ignore[operator]
        except ScannerUnavailable:
            raise AttachmentRefused(
                503, "scanner_unavailable", "The malware scanner is unavailable; try again later."
            ) from None
        if finding:
            raise AttachmentRefused(422, "malware_found", f"The file carries malware ({finding}).")
    attachment_id = attachment_id or uuid.uuid4()
    key = attachment_key(tenant_id, attachment_id, "original")
    await blobs.put(key, data, inspected.content_type)
    thumbnail_key = None
    if inspected.thumbnail is not None:
        thumbnail_key = attachment_key(tenant_id, attachment_id, "thumbnail")
        await blobs.put(thumbnail_key, inspected.thumbnail, "image/jpeg")
    return Attachment(
        attachment_id=attachment_id,
        kind=inspected.kind,
        file_name=safe_file_name(file_name, inspected.content_type),
        content_type=inspected.content_type,
        size=len(data),
        sha256=inspected.sha256,
        key=key,
        thumbnail_key=thumbnail_key,
        width=inspected.width,
        height=inspected.height,
    )
