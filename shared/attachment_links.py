"""Short-lived signed links to attachments: how a file leaves the blob store for a browser.

A link is handed out only by an authorised read (the Portal's conversation view for a
tenant's staff, the visitor's own mailbox for the widget) and names what it may open: the
tenant, the attachment, the part (``original`` or ``thumbnail``) and, for the widget, the
visitor (``scope``). The HMAC-SHA256 over those and the expiry is the whole check, so an
``<img src>`` works without a session; a link of one tenant opens nothing of another, and
an expired or altered one answers 403.

The key is derived from ``CHANNEL_SECRETS_KEY`` (already a production secret of both the
conversation service and ingest) with a purpose label, so no new secret is needed and the
sealing key itself never signs anything.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from urllib.parse import urlencode

DEFAULT_TTL_S = 300
PARTS = ("original", "thumbnail")


def link_key(channel_secrets_key: str) -> bytes:
    return hmac.new(
        channel_secrets_key.encode(), b"interact attachment links v1", hashlib.sha256
    ).digest()


def _mac(
    key: bytes, tenant_id: str, attachment_id: str, part: str, scope: str, expires: int
) -> str:
    message = "\n".join((tenant_id, attachment_id, part, scope, str(expires))).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signed_query(
    key: bytes,
    tenant_id: uuid.UUID | str,
    attachment_id: uuid.UUID | str,
    part: str = "original",
    scope: str = "",
    ttl_s: int = DEFAULT_TTL_S,
    now: float | None = None,
) -> str:
    """The query string of a link (``tenant``, ``part``, ``expires``, ``signature``)."""
    expires = int((now if now is not None else time.time()) + ttl_s)
    signature = _mac(key, str(tenant_id), str(attachment_id), part, scope, expires)
    return urlencode(
        {"tenant": str(tenant_id), "part": part, "expires": expires, "signature": signature}
    )


def valid(
    key: bytes,
    tenant_id: str,
    attachment_id: str,
    part: str,
    scope: str,
    expires: int,
    signature: str,
    now: float | None = None,
) -> bool:
    if part not in PARTS or expires < (now if now is not None else time.time()):
        return False
    expected = _mac(key, tenant_id, attachment_id, part, scope, expires)
    # As bytes: compare_digest refuses str with non-ASCII characters (a forged link may have them).
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


#: Headers of every file served: shown or saved, never run as a page of our origin.
def file_headers(
    file_name: str, content_type: str, inline: bool, cross_origin: bool = False
) -> dict[str, str]:
    """``cross_origin``: the widget shows files on the tenant's own website."""
    from urllib.parse import quote

    ascii_name = file_name.encode("ascii", "replace").decode().replace("?", "_")
    disposition = "inline" if inline else "attachment"
    return {
        "Content-Type": content_type,
        "Content-Disposition": f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(file_name)}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox",
        "Cross-Origin-Resource-Policy": "cross-origin" if cross_origin else "same-site",
        "Cache-Control": "private, max-age=300",
        "Referrer-Policy": "no-referrer",
    }


#: Shown in the page (images, sound, video); everything else is downloaded.
INLINE_KINDS = frozenset({"image", "audio", "video"})
