#!/usr/bin/env python
"""The conversation service's per-message path in one process, CPU time per message.

No broker, no HTTP, no other process: the same code the service runs for a batch of
website-chat messages that each open a conversation - decode the Kafka records, the
inbound use case (one event-store transaction), the outbox relay's page (domain events ->
sealed envelopes -> bytes), the view projector, then routing's decisions (decode,
``apply_routing``, relay, projector) - timed with ``time.process_time`` per stage. On a
machine shared with other work this is steadier than ``bench/e2e.py``'s wall-clock figures,
and ``--profile`` names the functions (cProfile) without py-spy's sampling of a loaded
machine.

    .venv/bin/python bench/conversation_path.py                 # 5 x 500 messages, SQLite
    .venv/bin/python bench/conversation_path.py --gc default    # Python's own GC thresholds
    .venv/bin/python bench/conversation_path.py --profile
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from services.conversation.application.conversations import (  # noqa: E402
    Conversations,
    Inbound,
    Routed,
)
from services.conversation.application.directory import ChannelContext  # noqa: E402
from services.conversation.application.eventstore import event_store_env  # noqa: E402
from services.conversation.consumers.outbox import NotificationLogSource  # noqa: E402
from services.conversation.domain.conversation import Conversation, Visitor  # noqa: E402
from services.conversation.store.datakeys import SqlKeyStore  # noqa: E402
from services.conversation.store.projection import Projector, ensure_views_current  # noqa: E402
from services.conversation.store.tables import metadata  # noqa: E402
from shared import events as ev  # noqa: E402
from shared import topics  # noqa: E402
from shared.datakeys import Sealer  # noqa: E402
from shared.migrations import prepare  # noqa: E402
from shared.readmodel import make_engine  # noqa: E402
from shared.service import GC_THRESHOLDS  # noqa: E402

TEXT = "Hallo, ik heb een vraag over mijn bestelling van gisteren."
AGENTS = 9  # candidates in each routing decision (the e2e bench's tenant has about as many)


class ConversationPath:
    """One conversation service's stores, on SQLite in a temp dir."""

    def __init__(self, data_dir: Path) -> None:
        self.engine = make_engine(f"sqlite:///{data_dir}/conversation.sqlite")
        prepare(self.engine, metadata)
        ensure_views_current(self.engine)
        self.app = Conversations(
            env=event_store_env("", data_dir, "conversations"),
            sealer=Sealer(SqlKeyStore(self.engine), ttl=300),
        )
        self.projector = Projector(self.engine, [self.app])
        self.source = NotificationLogSource(self.app, topics.CONVERSATION_EVENTS, self.engine)
        self.tenant, self.channel = uuid.uuid4(), uuid.uuid4()
        self.agents = [uuid.uuid4() for _ in range(AGENTS)]
        self.seconds: dict[str, float] = {}

    def context(self, _tenant: uuid.UUID, _channel: uuid.UUID, _at: datetime) -> ChannelContext:
        return ChannelContext("nl", bot_connected=False, out_of_office=None)

    def inbound_record(self, i: int) -> bytes:
        now = datetime.now(UTC)
        message = ev.InboundMessageReceived(
            channel_id=self.channel,
            channel_type="webchat",
            channel_message_id=f"m{i}",
            visitor_external_id=f"bench-v{i}",
            content=ev.MessageContent(kind="text", text=TEXT),
            received_at=now,
        )
        return ev.Envelope.wrap(message, tenant_id=self.tenant, occurred_at=now).to_bytes()

    def routed_record(self, conversation_id: uuid.UUID, k: int) -> bytes:
        now = datetime.now(UTC)
        decision = ev.ConversationRouted(
            conversation_id=conversation_id,
            assignee_id=self.agents[k % AGENTS],
            tie_break="least_loaded",
            candidates=[ev.CandidateVerdict(user_id=a, load=k) for a in self.agents],
            decided_at=now,
        )
        return ev.Envelope.wrap(decision, tenant_id=self.tenant, occurred_at=now).to_bytes()

    def relay(self) -> int:
        """What the relay does per page, less the producer: read, translate, seal, encode."""
        sent = 0
        while True:
            page = self.source.read_page(None, 500)
            sent += len([envelope.to_bytes() for _topic, envelope in page.records])
            if page.read:
                self.source.record(page)
            if page.read < 500:
                return sent

    def timed(self, stage: str, work: Callable[[], Any]) -> Any:
        started = time.process_time()
        result = work()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.process_time() - started
        return result

    def batch(self, first: int, size: int) -> None:
        inbound = [self.inbound_record(first + i) for i in range(size)]
        decoded = self.timed("decode inbound", lambda: [ev.decode(r) for r in inbound])
        items = [Inbound(e.tenant_id, p) for e, p in decoded]  # type: ignore[arg-type]
        self.timed("receive_inbound", lambda: self.app.receive_inbound(items, self.context))
        self.timed("relay (opened)", self.relay)
        self.timed("projector (opened)", self.projector.catch_up_now)
        conversations = [
            Conversation.create_id(Visitor.create_id(self.tenant, self.channel, f"bench-v{i}"), 1)
            for i in range(first, first + size)
        ]
        routed = [self.routed_record(c, k) for k, c in enumerate(conversations)]
        decoded = self.timed("decode routed", lambda: [ev.decode(r) for r in routed])
        decisions = [Routed(e.tenant_id, p, e.event_id) for e, p in decoded]  # type: ignore[arg-type]
        self.timed("apply_routing", lambda: self.app.apply_routing(decisions))
        self.timed("relay (assigned)", self.relay)
        self.timed("projector (assigned)", self.projector.catch_up_now)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=500, help="messages per batch (500)")
    parser.add_argument("--batches", type=int, default=5, help="measured batches (5)")
    parser.add_argument(
        "--gc",
        choices=("service", "default", "off"),
        default="service",
        help="collector thresholds: the services' (shared.service), Python's, or none",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile, top functions")
    args = parser.parse_args()
    path = ConversationPath(Path(tempfile.mkdtemp(prefix="interact-conversation-path-")))
    path.batch(0, args.batch)  # warm: caches, compiled statements
    path.seconds.clear()
    if args.gc == "service":
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
    elif args.gc == "off":
        gc.disable()
    profile = cProfile.Profile() if args.profile else None
    if profile is not None:
        profile.enable()
    for b in range(1, args.batches + 1):
        path.batch(b * args.batch, args.batch)
    if profile is not None:
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)
    n = args.batches * args.batch
    print(f"conversation path, {n} messages in batches of {args.batch}, gc {args.gc}")
    for stage, seconds in path.seconds.items():
        print(f"  {stage:22s} {seconds / n * 1e6:8.1f} us CPU per message")
    print(f"  {'total':22s} {sum(path.seconds.values()) / n * 1e6:8.1f} us CPU per message")


if __name__ == "__main__":
    main()
