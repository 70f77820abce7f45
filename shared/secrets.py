"""Sealing channel credentials (app secrets, access tokens) so they are never stored or sent in clear.

Fernet (AES-128-CBC + HMAC-SHA256) with a key derived from ``CHANNEL_SECRETS_KEY``; the
conversation service seals, ingest (which calls the channels' APIs) opens.
"""

from __future__ import annotations

import base64
import hashlib

import orjson
from cryptography.fernet import Fernet, InvalidToken


class SealError(ValueError):
    """The sealed value was made with another key or was tampered with."""


def _fernet(secret: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))


def seal(values: dict[str, str], secret: str) -> str:
    return _fernet(secret).encrypt(orjson.dumps(values)).decode()


def unseal(sealed: str, secret: str) -> dict[str, str]:
    try:
        return orjson.loads(_fernet(secret).decrypt(sealed.encode()))
    except InvalidToken as exc:
        raise SealError("channel credentials cannot be opened with this key") from exc
