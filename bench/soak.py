#!/usr/bin/env python
"""Soak under faults: 100,000 website-chat messages while the stack is killed four times.

    .venv/bin/python bench/soak.py                  # 100,000 messages, SQLite
    .venv/bin/python bench/soak.py -n 20000         # smaller
    .venv/bin/python bench/soak.py --postgres

The fault scenario of ``tests/e2e/test_faults.py`` (the same visitors, kills and audit, from
``tests/support/faults.py``) at scale: a fresh Kafka node and stack, visitors writing
``--messages-each`` messages each (the next only after the previous was accepted; refused
requests sent again with the same message id), and while they write, at even steps of the
stream: the broker SIGKILLed and restarted with its data, then ``--victims`` (conversation,
routing, stats) SIGKILLed and restarted, one after the other. When everything has settled it
prints how many accepted messages the conversation log lost, holds twice, or holds out of
order (all must be 0), the read models' counts against what was sent, and for each fault the
recovery time: from the kill to the victim delivering again, i.e. to the first rise of its
own output after its restart (broker: messages accepted, as a 202 needs its acknowledgement;
conversation: messages stored; routing: conversations it assigned; stats: messages counted),
sampled every 0.25 s.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from services.ingest.application.webchat_limits import lifted_environment  # noqa: E402
from services.stack import SERVICES, Stack, seed_demo  # noqa: E402
from shared.local_broker import LocalBroker, free_port  # noqa: E402
from tests.support.faults import (  # noqa: E402
    Visitors,
    add_agent,
    audit,
    engine,
    feed,
    kill_and_restart,
    login,
)

AGENT_CAPACITY = 1000  # the API's maximum
SAMPLE_S = 0.25

#: Each victim's own output: a count only it makes grow (a count further down the pipeline
#: would go on growing from the backlog while the victim is dead). The broker's is the
#: messages ingest accepted: a 202 needs the broker's acknowledgement.
OUTPUT = {
    "conversation": ("conversation", "SELECT count(*) FROM messages"),
    "routing": (
        "routing",
        "SELECT count(*) FROM routing_conversations WHERE assignee_id IS NOT NULL",
    ),
    "stats": ("stats", "SELECT coalesce(sum(messages_in), 0) FROM conversation_facts"),
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Outputs:
    """Samples every victim's output count in a thread: ``(monotonic time, {name: count})``."""

    def __init__(self, stack: Stack, accepted: Callable[[], int]) -> None:
        self.engines = {service: engine(stack, service) for service, _ in OUTPUT.values()}
        self.accepted = accepted
        self.samples: list[tuple[float, dict[str, int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Outputs:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        for db in self.engines.values():
            db.dispose()

    def read(self) -> dict[str, int]:
        values = {"broker": self.accepted()}
        for name, (service, query) in OUTPUT.items():
            try:
                with self.engines[service].connect() as conn:
                    values[name] = int(conn.scalar(text(query)) or 0)
            except Exception:  # a table not made yet, a database busy: no sample this time
                values[name] = -1
        return values

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), self.read()))
            self._stop.wait(SAMPLE_S)

    def recovery(self, name: str, killed_at: float, restarted: float) -> float | None:
        """Seconds from the kill to the first rise of ``name``'s output after its restart.

        What it shows until the restart is all work of before the kill (a sample may be up to
        one interval old), so the rise is counted against the highest value until then."""
        before = max((values[name] for at, values in self.samples if at <= restarted), default=-1)
        for at, values in self.samples:
            if at > restarted and values[name] > before >= 0:
                return round(at - killed_at, 2)
        return None


@dataclass
class Fault:
    victim: str
    at_accepted: int  # messages accepted when it struck
    restarted_s: float  # from the kill to the new process started
    ready_s: float  # ... to it serving (the broker: metadata; a service: /ready)
    recovery_s: float | None = None  # ... to its output rising again


def strike(
    stack: Stack, broker: LocalBroker, victim: str, args: argparse.Namespace
) -> tuple[float, float]:
    """Kill ``victim`` and start it again: (restarted, ready), monotonic."""
    if victim == "broker":
        broker.kill()
        time.sleep(args.broker_down)
        restarted = time.monotonic()
        broker.start()
        return restarted, time.monotonic()
    restarted = kill_and_restart(stack, victim, args.down)
    return restarted, time.monotonic()


def settle(stack: Stack, outputs: Outputs, visitors: Visitors, timeout: float) -> dict[str, int]:
    """Wait until every output reached what was sent, or stopped moving for ``timeout``."""
    want = {
        "conversation": visitors.expected,
        "routing": visitors.count,
        "stats": visitors.expected,
    }
    last, moved = None, time.monotonic()
    while True:
        now = outputs.read()
        if all(now[k] >= v for k, v in want.items()):
            return now
        if now != last:
            last, moved = now, time.monotonic()
        elif time.monotonic() - moved > timeout:
            log(f"gave up waiting: {now} of {want}")
            return now
        time.sleep(0.5)


def run(args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="interact-soak-"))
    pg, urls = None, {}
    if args.postgres:
        from tests.support.postgres import postgres_from_env_or_local

        pg = postgres_from_env_or_local()
        pg.start()
        suffix = uuid.uuid4().hex[:6]
        for name in SERVICES:
            pg.create_database(f"soak_{name}_{suffix}")
            urls[name] = pg.url(f"soak_{name}_{suffix}")
    broker = LocalBroker(data_dir / "kafka", log_file=data_dir / "broker.log")
    stack = Stack(
        data_dir / "stack",
        ports={name: free_port() for name in SERVICES},
        env={"KAFKA_BOOTSTRAP_SERVERS": "", **lifted_environment()},  # set below
        database_urls=urls,
    )
    outputs: Outputs | None = None
    try:
        broker.start()
        stack.env["KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap_servers
        log(f"starting the stack in {data_dir}")
        stack.start()
        demo = seed_demo(stack)
        admin = login(stack, "admin@demo.example")
        count = math.ceil(args.messages / args.messages_each)
        agents = math.ceil(count / AGENT_CAPACITY) + 1
        log(f"{agents} agents of capacity {AGENT_CAPACITY}")
        for n in range(agents):
            add_agent(stack, admin, demo["channel_id"], n, capacity=AGENT_CAPACITY)
        visitors = Visitors(
            stack,
            demo["webchat_key"],
            count,
            args.messages_each,
            threads=args.threads,
            window=args.window,
        )
        outputs = Outputs(stack, lambda: len(visitors.accepted)).start()
        expected = visitors.expected
        victims = ["broker", *args.victims]
        log(f"{count} visitors send {expected} messages; faults: {', '.join(victims)}")
        started = time.monotonic()
        visitors.start()
        faults: list[Fault] = []
        kills: list[float] = []  # monotonic time of each kill
        for step, victim in enumerate(victims, start=1):
            mark = expected * step // (len(victims) + 1)
            while len(visitors.accepted) < mark:
                time.sleep(0.1)
            accepted = len(visitors.accepted)
            killed_at = time.monotonic()
            kills.append(killed_at)
            restarted, ready = strike(stack, broker, victim, args)
            faults.append(
                Fault(
                    victim, accepted, round(restarted - killed_at, 2), round(ready - killed_at, 2)
                )
            )
            log(f"{victim} killed at {accepted} accepted, ready after {ready - killed_at:.1f} s")
        if not visitors.join(timeout=args.timeout):
            raise RuntimeError(f"the visitors did not finish in {args.timeout} s")
        sent_s = time.monotonic() - started
        log(f"all {expected} accepted in {sent_s:.0f} s; waiting for the pipeline to settle")
        final = settle(stack, outputs, visitors, args.settle_timeout)
        settled_s = time.monotonic() - started
        outputs.stop()
        for fault, killed_at in zip(faults, kills, strict=True):
            restarted = killed_at + fault.restarted_s
            fault.recovery_s = outputs.recovery(fault.victim, killed_at, restarted)
        log("reading the conversation log")
        found = audit(feed(stack, "conversations"), visitors.accepted)
        conversations_db = engine(stack, "conversation")
        with conversations_db.connect() as conn:
            conversations = conn.scalar(text("SELECT count(*) FROM conversations"))
            assigned = conn.scalar(
                text("SELECT count(*) FROM conversations WHERE status = 'assigned'")
            )
        conversations_db.dispose()
        return {
            "database": "postgresql" if args.postgres else "sqlite",
            "messages": expected,
            "visitors": count,
            "accepted": len(visitors.accepted),
            "accepted_distinct": len(set(visitors.accepted)),
            "slowest_accept_s": round(visitors.slowest, 2),
            "sent_s": round(sent_s, 1),
            "settled_s": round(settled_s, 1),
            "audit": asdict(found),
            "read_models": {
                "conversations": conversations,
                "messages_stored": final["conversation"],
                "conversations_assigned": assigned,
                "assigned_by_routing": final["routing"],
                "stats_messages_in": final["stats"],
            },
            "faults": [asdict(f) for f in faults],
        }
    finally:
        if outputs is not None:
            outputs.stop()
        stack.stop()
        broker.close()
        if pg is not None:
            pg.stop()
        if args.keep_data:
            log(f"data kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def report(result: dict[str, Any]) -> tuple[str, bool]:
    found = result["audit"]
    models = result["read_models"]
    n, visitors = result["messages"], result["visitors"]
    ok = (
        result["accepted_distinct"] == n
        and found["lost"] == found["duplicated"] == found["out_of_order"] == 0
        and found["misplaced"] == 0
        and found["received"] == found["distinct_events"] == n
        and models["conversations"] == models["conversations_assigned"] == visitors
        and models["assigned_by_routing"] == visitors
        and models["messages_stored"] == models["stats_messages_in"] == n
    )
    lines = [
        f"Soak, {result['database']}: {n} messages from {visitors} visitors, "
        f"accepted in {result['sent_s']:.0f} s ({n / result['sent_s']:.0f} msgs/s through four "
        f"faults), settled after {result['settled_s']:.0f} s; slowest 202 "
        f"{result['slowest_accept_s']:.1f} s",
        f"  conversation log  lost {found['lost']}  duplicated {found['duplicated']}  "
        f"out of order {found['out_of_order']}  misplaced {found['misplaced']}  "
        f"({found['received']} MessageReceived, {found['distinct_events']} distinct, "
        f"{found['conversations']} conversations)",
        f"  read models       messages {models['messages_stored']}/{n}  conversations "
        f"{models['conversations']}/{visitors}  assigned {models['conversations_assigned']}"
        f"/{visitors}  counted by stats {models['stats_messages_in']}/{n}",
        "  faults (SIGKILL; times from the kill)",
    ]
    for fault in result["faults"]:
        recovery = f"{fault['recovery_s']:.2f} s" if fault["recovery_s"] is not None else "never"
        lines.append(
            f"    {fault['victim']:<13} at {fault['at_accepted']:>7} accepted: restarted after "
            f"{fault['restarted_s']:4.1f} s, ready after {fault['ready_s']:5.1f} s, "
            f"delivering again after {recovery}"
        )
    lines.append(f"  {'ok: nothing lost, doubled or reordered' if ok else 'FAILED'}")
    return "\n".join(lines), ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--messages", type=int, default=100_000, help="(100000)")
    parser.add_argument("--messages-each", type=int, default=10, help="per visitor (10)")
    parser.add_argument("--threads", type=int, default=16, help="sending threads (16)")
    parser.add_argument(
        "--window", type=int, default=4, help="visitors each thread keeps writing at once (4)"
    )
    parser.add_argument(
        "--victims",
        default="conversation,routing,stats",
        help="services SIGKILLed after the broker (conversation,routing,stats)",
    )
    parser.add_argument("--down", type=float, default=1.0, help="seconds a service stays dead")
    parser.add_argument("--broker-down", type=float, default=2.0, help="seconds the broker does")
    parser.add_argument("--postgres", action="store_true", help="a PostgreSQL database each")
    parser.add_argument("--timeout", type=float, default=7200, help="for the sending (7200 s)")
    parser.add_argument(
        "--settle-timeout", type=float, default=120, help="give up after this long without progress"
    )
    parser.add_argument("--keep-data", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    args.victims = [v for v in args.victims.split(",") if v]
    unknown = set(args.victims) - set(OUTPUT)
    if unknown:
        parser.error(f"no output is watched for {sorted(unknown)}; choose from {sorted(OUTPUT)}")
    result = run(args)
    text_report, ok = report(result)
    print(text_report, flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
