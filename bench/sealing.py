#!/usr/bin/env python
"""What crypto-shredding costs the conversation log: inbound batches with and without sealing.

Drives ``Conversations.receive_inbound`` on a SQLite event store (the service's default)
with new visitors (every message needs two new data keys: visitor and conversation) and
then with the same visitors again (keys cached), once with the sealing mapper and key
store, once without, and prints messages per second and the ratio. Not a test: figures.

    .venv/bin/python bench/sealing.py -n 5000 --batch 500
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from services.conversation.application.conversations import Conversations, Inbound
from services.conversation.application.directory import ChannelContext
from services.conversation.store.datakeys import SqlKeyStore
from services.conversation.store.tables import metadata
from shared.datakeys import Sealer
from shared.events import InboundMessageReceived, MessageContent
from shared.readmodel import make_engine

TENANT, CHANNEL = uuid.uuid4(), uuid.uuid4()


def _batches(n: int, size: int, round_: int) -> list[list[Inbound]]:
    now = datetime.now(UTC)
    items = [
        Inbound(
            TENANT,
            InboundMessageReceived(
                channel_id=CHANNEL,
                channel_type="webchat",
                channel_message_id=f"m-{round_}-{i}",
                visitor_external_id=f"visitor-{i}",
                visitor_name=f"Visitor {i}",
                content=MessageContent(text=f"Hello, this is message {round_} of visitor {i}."),
                received_at=now,
            ),
        )
        for i in range(n)
    ]
    return [items[i : i + size] for i in range(0, n, size)]


def run(directory: Path, sealed: bool, n: int, size: int) -> tuple[float, float]:
    engine = make_engine(f"sqlite:///{directory / 'conversation.sqlite'}")
    metadata.create_all(engine)
    sealer = Sealer(SqlKeyStore(engine)) if sealed else None
    app = Conversations(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(directory / "events.sqlite"),
            "AGGREGATE_CACHE_MAXSIZE": "20000",
        },
        sealer=sealer,
    )
    context = lambda *_: ChannelContext("nl", bot_connected=False, out_of_office=None)  # noqa: E731
    rates = []
    for round_ in range(2):  # new visitors, then the same visitors again
        started = time.perf_counter()
        for batch in _batches(n, size, round_):
            app.receive_inbound(batch, context)
        rates.append(n / (time.perf_counter() - started))
    app.close()
    engine.dispose()
    return rates[0], rates[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    results = {}
    for sealed in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            results[sealed] = run(Path(tmp), sealed, args.n, args.batch)
    for label, index in (("new visitors", 0), ("known visitors", 1)):
        plain, sealed = results[False][index], results[True][index]
        print(
            f"{label:15s} plain {plain:8.0f} msg/s   sealed {sealed:8.0f} msg/s   "
            f"ratio {sealed / plain:.2f}"
        )


if __name__ == "__main__":
    main()
