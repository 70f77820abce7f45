"""Meta signs every webhook POST: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw
body keyed by the app secret>``. Only that header counts; the older SHA-1 one is refused."""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def sign(raw: bytes, app_secret: str) -> str:
    """The header value Meta sends for ``raw`` (also what tests sign with)."""
    return PREFIX + hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()


def signature_valid(raw: bytes, header: str | None, app_secret: str) -> bool:
    """Constant-time comparison over the raw bytes exactly as received."""
    if not header or not app_secret or not header.startswith(PREFIX):
        return False
    given = header[len(PREFIX) :].strip().lower()
    expected = hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given.encode(), expected.encode())
