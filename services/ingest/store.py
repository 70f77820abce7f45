"""Ingest's view of the connected channels, from the directory events."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    MetaData,
    String,
    Table,
    insert,
    select,
    update,
)

from shared import events as ev
from shared.kafka import Delivery

metadata = MetaData()

channels = Table(
    "channels",
    metadata,
    Column("channel_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("channel_type", String(20), nullable=False),
    Column("public_key", String(64), nullable=False, unique=True),
    Column("connected", Boolean, nullable=False),
)

WANTED = {"ChannelConnected", "ChannelDisconnected"}


def apply(conn: Connection, batch: list[Delivery]) -> None:
    for d in batch:
        p = d.payload
        if isinstance(p, ev.ChannelConnected):
            conn.execute(
                insert(channels).values(
                    channel_id=str(p.channel_id),
                    tenant_id=str(d.envelope.tenant_id),
                    channel_type=p.channel_type,
                    public_key=p.public_key,
                    connected=True,
                )
            )
        elif isinstance(p, ev.ChannelDisconnected):
            conn.execute(
                update(channels)
                .where(channels.c.channel_id == str(p.channel_id))
                .values(connected=False)
            )


class ChannelLookup:
    """Channels by public key, cached for ``ttl`` seconds: the hot path of every inbound
    message needs no database round trip, and a disconnection applies within ``ttl``."""

    def __init__(self, engine: Engine, ttl: float = 2.0) -> None:
        self.engine, self.ttl = engine, ttl
        self._cache: dict[str, tuple[float, Any]] = {}

    def get(self, public_key: str):  # type: ignore[no-untyped-def]
        now = time.monotonic()
        hit = self._cache.get(public_key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        with self.engine.connect() as conn:
            row = channel_by_key(conn, public_key)
        if len(self._cache) > 50_000:  # bounded under a spray of made-up keys
            self._cache.clear()
        self._cache[public_key] = (now, row)
        return row


def channel_by_key(conn: Connection, public_key: str):  # type: ignore[no-untyped-def]
    return conn.execute(
        select(channels).where(channels.c.public_key == public_key, channels.c.connected.is_(True))
    ).first()
