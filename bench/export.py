#!/usr/bin/env python
"""Benchmark of the tenant export: memory while a tenant with 100,000 messages is exported.

Fills the conversation service's views (SQLite by default, or ``--database-url``) with one
tenant of ``--messages`` messages (default 100,000; 20 per conversation, a note per
conversation, a visitor per conversation) plus a second tenant, then runs the very
generator ``GET /v1/export`` streams (``services.conversation.application.export``),
throwing the chunks away as a client socket would, and prints the archive's size, the
time, and the peak RSS of the process before and after.

Target: the peak stays under 200 MB (the archive is streamed, the rows read with a
streaming cursor), however many messages the tenant has.

    .venv/bin/python bench/export.py
    .venv/bin/python bench/export.py --messages 300000
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert

from services.conversation.application.export import Exports
from services.conversation.store import tables as t
from shared.readmodel import make_engine

PER_CONVERSATION = 20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def fill(engine, tenant_id: str, messages: int) -> None:  # type: ignore[no-untyped-def]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    channel_id = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(
            insert(t.tenants).values(
                tenant_id=tenant_id,
                name="Big",
                plan="pro",
                sdk_option=True,
                time_zone="Europe/Brussels",
                default_language="nl",
                routing_enabled=True,
                default_capacity=5,
                minimum_end_users=0,
                languages=["nl"],
            )
        )
        conn.execute(
            insert(t.channels).values(
                channel_id=channel_id,
                tenant_id=tenant_id,
                channel_type="webchat",
                name="Site",
                public_key=uuid.uuid4().hex,
                connected=True,
                allowed_origins=[],
            )
        )
    conversations = messages // PER_CONVERSATION
    batch = 500
    for first in range(0, conversations, batch):
        convs, visitors, msgs, notes = [], [], [], []
        for n in range(first, min(first + batch, conversations)):
            conversation_id, visitor_id = str(uuid.uuid4()), str(uuid.uuid4())
            at = start + timedelta(minutes=n)
            visitors.append(
                dict(
                    visitor_id=visitor_id,
                    tenant_id=tenant_id,
                    channel_id=channel_id,
                    external_id=f"visitor-{n}",
                    name=f"Visitor {n}",
                    bot_paused=False,
                )
            )
            convs.append(
                dict(
                    conversation_id=conversation_id,
                    tenant_id=tenant_id,
                    channel_id=channel_id,
                    channel_type="webchat",
                    visitor_id=visitor_id,
                    language="nl",
                    status="closed",
                    opened_at=at,
                    message_count=PER_CONVERSATION,
                    required_competences=[],
                    topics=["orders"],
                    dispatched=False,
                )
            )
            for m in range(PER_CONVERSATION):
                msgs.append(
                    dict(
                        message_id=str(uuid.uuid4()),
                        conversation_id=conversation_id,
                        tenant_id=tenant_id,
                        direction="in" if m % 2 == 0 else "out",
                        author="visitor" if m % 2 == 0 else "agent",
                        kind="text",
                        text=f"Message {m} of conversation {n}: where is my order? " * 3,
                        at=at + timedelta(seconds=m),
                        delivery_status=None if m % 2 == 0 else "read",
                    )
                )
            notes.append(
                dict(
                    note_id=str(uuid.uuid4()),
                    conversation_id=conversation_id,
                    tenant_id=tenant_id,
                    author_id=str(uuid.uuid4()),
                    text="Called back",
                    at=at,
                )
            )
        with engine.begin() as conn:
            conn.execute(insert(t.visitors), visitors)
            conn.execute(insert(t.conversations), convs)
            conn.execute(insert(t.messages), msgs)
            conn.execute(insert(t.notes), notes)


def export_only(url: str, tenant_id: uuid.UUID) -> None:
    """The export in a fresh process, so its peak RSS is the export's alone."""
    engine = make_engine(url)
    exports = Exports(engine)
    before = peak_rss_mb()
    export_id, counts = exports.start(tenant_id, "bench")
    began = time.perf_counter()
    size = sum(len(chunk) for chunk in exports.stream(export_id, tenant_id, counts))
    took = time.perf_counter() - began
    after = peak_rss_mb()
    print(f"exported rows: {counts}")
    print(
        f"archive: {size / 1e6:.1f} MB in {took:.1f} s "
        f"({counts['messages'] / took:,.0f} messages/s)"
    )
    print(f"peak RSS of the exporting process: {before:.0f} MB at start, {after:.0f} MB at the end")
    print(f"target < 200 MB: {'met' if after < 200 else 'MISSED'}")
    engine.dispose()
    if after >= 200:
        sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--export-only", nargs=2, metavar=("URL", "TENANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_only:
        export_only(args.export_only[0], uuid.UUID(args.export_only[1]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'conversation.sqlite'}"
        engine = make_engine(url)
        t.metadata.create_all(engine)
        big, small = str(uuid.uuid4()), str(uuid.uuid4())
        began = time.perf_counter()
        fill(engine, big, args.messages)
        fill(engine, small, 2_000)
        engine.dispose()
        print(f"filled {args.messages:,} messages in {time.perf_counter() - began:.1f} s")
        done = subprocess.run([sys.executable, __file__, "--export-only", url, big], check=False)
        sys.exit(done.returncode)


if __name__ == "__main__":
    main()
