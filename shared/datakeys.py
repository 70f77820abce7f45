"""Data keys and sealed fields: crypto-shredding of personal data and content.

Every *subject* (a visitor, a conversation) has its own random AES-256-GCM key. A personal
or content field is stored and published as ``enc:v1:<key id>:<base64(nonce|ciphertext)>``;
destroying the subject's key makes every copy of the field unreadable at once (event
store, topics, backups). A field whose key is destroyed opens as :data:`ERASED`.

The key store is a port (:class:`KeyStore`); :class:`Sealer` caches keys in the process
for ``ttl`` seconds, so a message costs a dictionary lookup and one AES-GCM operation.
See docs/data-lifecycle.md.
"""

from __future__ import annotations

import base64
import os
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "enc:v1:"
#: What a field reads as once its key is destroyed.
ERASED = "[erased]"
NONCE_BYTES = 12


@dataclass(frozen=True, slots=True)
class DataKey:
    """One generation of a subject's key; ``secret`` None: destroyed."""

    key_id: str
    subject_id: uuid.UUID
    secret: bytes | None


class KeyStore(Protocol):
    """Where keys live (the conversation service's ``data_keys`` table)."""

    def live_key(self, tenant_id: uuid.UUID, subject_id: uuid.UUID) -> DataKey:
        """The subject's live key, made (once, whoever asks first) when it has none."""
        ...

    def key(self, key_id: str) -> DataKey | None:
        """A key by id, destroyed or not; None if unknown."""
        ...

    def destroy(self, subject_ids: list[uuid.UUID]) -> int:
        """Destroy every key of these subjects; returns how many were live."""
        ...

    def live_keys(self, subjects: dict[uuid.UUID, uuid.UUID]) -> list[DataKey]:
        """:meth:`live_key` of many subjects (subject -> tenant) in one round trip."""
        ...


def new_secret() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def key_id_of(subject_id: uuid.UUID, generation: int) -> str:
    return f"{subject_id.hex}.{generation}"


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


class _TtlCache:
    """A small LRU whose entries expire: another replica's erasure reaches us within ``ttl``."""

    def __init__(self, ttl: float, maxsize: int) -> None:
        self.ttl, self.maxsize = ttl, maxsize
        self._items: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[0] < time.monotonic():
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._items[key] = (time.monotonic() + self.ttl, value)
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def drop(self, predicate: Any) -> None:
        with self._lock:
            for key in [k for k, (_, v) in self._items.items() if predicate(k, v)]:
                del self._items[key]


class Sealer:
    """Seals and opens fields with subjects' keys, caching keys for ``ttl`` seconds."""

    def __init__(self, store: KeyStore, ttl: float = 60.0, maxsize: int = 50_000) -> None:
        self.store = store
        self._live = _TtlCache(ttl, maxsize)  # subject id -> live DataKey
        self._by_id = _TtlCache(ttl, maxsize)  # key id -> DataKey
        self._ciphers: dict[str, AESGCM] = {}  # key id -> its cipher, made once per key

    def _live_key(self, tenant_id: uuid.UUID, subject_id: uuid.UUID) -> DataKey:
        key = self._live.get(subject_id)
        if key is None:
            key = self.store.live_key(tenant_id, subject_id)
            self._live.put(subject_id, key)
            self._by_id.put(key.key_id, key)
        return key

    def _key(self, key_id: str) -> DataKey | None:
        key = self._by_id.get(key_id)
        if key is None:
            key = self.store.key(key_id)
            if key is not None:
                self._by_id.put(key_id, key)
        return key

    def prepare(self, subjects: dict[uuid.UUID, uuid.UUID]) -> None:
        """Have the live keys of these subjects (subject -> tenant) cached: a batch asks
        once for all the keys it will use, not once per new visitor or conversation."""
        missing = {s: t for s, t in subjects.items() if self._live.get(s) is None}
        if missing:
            for key in self.store.live_keys(missing):
                self._live.put(key.subject_id, key)
                self._by_id.put(key.key_id, key)

    def seal(self, tenant_id: uuid.UUID, subject_id: uuid.UUID, field: str, value: Any) -> Any:
        """``value`` (text) sealed with the subject's key; None, empty and sealed stay."""
        if not isinstance(value, str) or not value or value.startswith(PREFIX):
            return value
        key = self._live_key(tenant_id, subject_id)
        if key.secret is None:  # cannot happen for a live key; never store plaintext
            return ERASED
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._cipher(key).encrypt(nonce, value.encode(), _aad(subject_id, field))
        return f"{PREFIX}{key.key_id}:{base64.b64encode(nonce + sealed).decode()}"

    def open(self, field: str, value: Any) -> Any:
        """The plaintext of a sealed field; :data:`ERASED` if its key is gone. Anything
        not sealed (events written before sealing existed) is returned as it is."""
        if not isinstance(value, str) or not value.startswith(PREFIX):
            return value
        key_id, _, body = value[len(PREFIX) :].partition(":")
        key = self._key(key_id)
        if key is None or key.secret is None:
            return ERASED
        raw = base64.b64decode(body)
        try:
            plain = self._cipher(key).decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(key.subject_id, field)
            )
        except InvalidTag:
            return ERASED
        return plain.decode()

    def _cipher(self, key: DataKey) -> AESGCM:
        cipher = self._ciphers.get(key.key_id)
        if cipher is None:
            if len(self._ciphers) > self._by_id.maxsize:
                self._ciphers.clear()
            cipher = self._ciphers[key.key_id] = AESGCM(key.secret)  # type: ignore[arg-type]
        return cipher

    def destroy(self, subject_ids: list[uuid.UUID]) -> int:
        """Destroy the subjects' keys in the store and forget them here."""
        destroyed = self.store.destroy(subject_ids)
        self.forget(subject_ids)
        return destroyed

    def forget(self, subject_ids: list[uuid.UUID]) -> None:
        subjects = set(subject_ids)
        self._live.drop(lambda k, _v: k in subjects)
        self._by_id.drop(lambda _k, v: v.subject_id in subjects)
        prefixes = tuple(f"{s.hex}." for s in subjects)
        for key_id in [k for k in self._ciphers if k.startswith(prefixes)]:
            self._ciphers.pop(key_id, None)


def _aad(subject_id: uuid.UUID, field: str) -> bytes:
    """Associated data: a ciphertext opens only as the field and subject it was sealed for."""
    return f"{subject_id}/{field}".encode()


class MemoryKeyStore:
    """Keys in a dict: the unit tests' store (and a reference for the SQL one)."""

    def __init__(self) -> None:
        self.keys: dict[str, DataKey] = {}
        self.tenants: dict[str, uuid.UUID] = {}

    def live_key(self, tenant_id: uuid.UUID, subject_id: uuid.UUID) -> DataKey:
        mine = [k for k in self.keys.values() if k.subject_id == subject_id]
        for key in mine:
            if key.secret is not None:
                return key
        key = DataKey(key_id_of(subject_id, len(mine)), subject_id, new_secret())
        self.keys[key.key_id] = key
        self.tenants[key.key_id] = tenant_id
        return key

    def key(self, key_id: str) -> DataKey | None:
        return self.keys.get(key_id)

    def live_keys(self, subjects: dict[uuid.UUID, uuid.UUID]) -> list[DataKey]:
        return [self.live_key(t, s) for s, t in subjects.items()]

    def destroy(self, subject_ids: list[uuid.UUID]) -> int:
        subjects, destroyed = set(subject_ids), 0
        for key_id, key in list(self.keys.items()):
            if key.subject_id in subjects and key.secret is not None:
                self.keys[key_id] = DataKey(key.key_id, key.subject_id, None)
                destroyed += 1
        return destroyed
