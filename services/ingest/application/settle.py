"""Requests from the outbound topic that end in an outcome event: deliveries and bot turns.

A request's outcome is recorded before it is published, and the offsets are committed
only after the publish (the consumer commits after the handler returned): a crash at any
point redelivers the request, and a request whose outcome is already recorded publishes
that same event again (same ``event_id``) instead of calling out a second time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from faststream.kafka import KafkaBroker
from sqlalchemy import Engine

from services.ingest.store import channels as store
from shared import topics
from shared.events import Envelope
from shared.kafka import Delivery, publish

Work = Callable[[Delivery], Awaitable[tuple[Envelope, list[store.SentMessage]]]]


async def settle(
    engine: Engine,
    broker: KafkaBroker,
    batch: list[Delivery],
    request_id: Callable[[Delivery], str],
    work: Work,
    concurrency: int,
) -> None:
    """Do each new request at most ``concurrency`` at a time, record, publish the outcomes."""
    requests = {request_id(d): d for d in batch}  # a request twice in one batch is done once
    known = await asyncio.to_thread(store.recorded_outcomes, engine, list(requests))
    todo = [(rid, d) for rid, d in requests.items() if rid not in known]
    gate = asyncio.Semaphore(concurrency)

    async def one(d: Delivery) -> tuple[Envelope, list[store.SentMessage]]:
        async with gate:
            return await work(d)

    results = await asyncio.gather(*(one(d) for _, d in todo))
    fresh = {rid: envelope for (rid, _), (envelope, _) in zip(todo, results, strict=True)}
    sent = [s for _, ours in results for s in ours]
    if fresh:
        await asyncio.to_thread(store.record_outcomes, engine, fresh, sent)
    await publish(broker, topics.INBOUND_MESSAGES, [*known.values(), *fresh.values()])
