"""Rebuild the statistics view from position 0 through the conversation service's event feed.

``python -m services.stats.rebuild`` reads ``GET /v1/feed/directory`` and then
``GET /v1/feed/conversations`` (operator token) page by page and applies each page as one
batch, exactly as the Kafka consumer would: same envelopes, same event ids, same applier.
The directory comes first so tenants' time zones are known before their conversations.

Procedure: stop the stats service, rebuild into an empty database (this command refuses a
database that has applied events), point ``DATABASE_URL`` at it and start the service.
It resumes from its consumer group's offsets; what the feed already gave is recognised by
event id and skipped, so nothing is counted twice or lost.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import func, select

from services.stats import consumers
from services.stats.settings import StatsSettings
from services.stats.store import metadata
from shared.consumer_service import ConsumerService
from shared.events import Envelope, UnreadableEvent
from shared.hardening import operator_token_for
from shared.kafka import Delivery

log = logging.getLogger(__name__)
LOGS = ("directory", "conversations")


class FeedClient(Protocol):
    def get(self, url: str, *, params: dict, headers: dict):  # type: ignore[no-untyped-def]
        ...


def replay_feed(
    client: FeedClient,
    operator_token: str,
    apply_batch: Callable[[list[Delivery]], object],
    page_size: int = 1000,
) -> dict[str, int]:
    """Apply every event of both logs from position 0; returns counts per log (and unreadable)."""
    counts = {"unreadable": 0}
    headers = {"Authorization": f"Bearer {operator_token}"}
    for name in LOGS:
        after, counts[name] = 0, 0
        while True:
            response = client.get(
                f"/v1/feed/{name}", params={"after": after, "limit": page_size}, headers=headers
            )
            response.raise_for_status()
            page = response.json()
            batch: list[Delivery] = []
            for item in page["items"]:
                try:
                    envelope = Envelope.model_validate(item["event"])
                    payload = envelope.parsed()
                except (UnreadableEvent, ValueError) as exc:
                    counts["unreadable"] += 1
                    log.warning(
                        "unreadable feed item",
                        extra={"position": item.get("position"), "reason": str(exc)[:500]},
                    )
                    continue
                if envelope.type in consumers.handlers.types:
                    batch.append(Delivery(envelope, payload, f"feed:{name}:{item['position']}"))
            if batch:
                apply_batch(batch)
                counts[name] += len(batch)
            if page["next_after"] == after or not page["items"]:
                break
            after = page["next_after"]
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--into", required=True, help="SQLAlchemy URL of an empty database")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    settings = StatsSettings(database_url=args.into)
    service = ConsumerService(settings, metadata)
    with service.engine.connect() as conn:
        if conn.scalar(select(func.count()).select_from(service.applied)):
            print("refused: the target database already has applied events", file=sys.stderr)
            return 2
    import httpx

    with httpx.Client(base_url=settings.conversation_url, timeout=60) as client:
        counts = replay_feed(
            client,
            operator_token_for(settings, "feed"),
            lambda batch: service.apply_batch_now(consumers.apply, batch),
        )
    print(counts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
