#!/usr/bin/env python
"""End-to-end benchmark of Interact: website-chat messages in, conversations assigned out.

Starts a fresh stack (an Apache Kafka node + the six services, SQLite in a temp dir, or PostgreSQL with
``--postgres``), or attaches to a running one (``--attach``), adds bench agents with a high
capacity, then drives N inbound messages through ingest's HTTP endpoint and measures, per
conversation, the time from ingest's 202 to the moment the ``ConversationAssigned`` event for
that conversation is seen on ``interact.conversation-events.v1`` (by a consumer in a separate
process, started and positioned at the end of the topic before the first send). Finally it
waits for the stats service's assigned count to reach the number of conversations.

Examples::

    .venv/bin/python bench/e2e.py -n 3000                 # closed loop, 64 in flight, SQLite
    .venv/bin/python bench/e2e.py --rate 1000 -n 5000     # open loop at 1,000 msgs/s
    .venv/bin/python bench/e2e.py --postgres -n 3000      # each service on its own PG database
    .venv/bin/python bench/e2e.py --profile conversation,routing -n 5000   # + py-spy profiles
    .venv/bin/python bench/e2e.py --idle 60               # only: CPU of the idle stack, 60 s

Figures are printed and written to bench/results/e2e-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing as mp
import os
import platform
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Targets of the project's guide.
TARGET_E2E_SQLITE = 4000.0  # conversations (msgs) per second end to end, SQLite
TARGET_E2E_POSTGRES = 2500.0  # same, PostgreSQL
TARGET_P99_MS = 150.0  # acceptance -> assignment, p99 ...
TARGET_P99_AT_RATE = 1000.0  # ... at 1,000 msgs/s

BENCH_PASSWORD = "bench-password-1"
AGENT_CAPACITY = 1000  # the API's maximum
CONVERSATION_EVENTS = "interact.conversation-events.v1"
ROUTING_DECISIONS = "interact.routing-decisions.v1"  # watched too, for the per-stage breakdown
PROCESS_TREES = frozenset({"postgres"})  # CPU groups that include their children
SERVICE_NAMES = ("conversation", "ingest", "routing", "stats", "billing", "sla")
DEFAULT_TEXT = "Hallo, ik heb een vraag over mijn bestelling van gisteren."


def run_async(coroutine: Any) -> Any:
    """uvloop when installed (the services run on it too): less CPU for the bench itself."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def code_version() -> dict[str, Any]:
    """The commit measured, and which service files differed from it (read-only git)."""

    def git(*cmd: str) -> str:
        try:
            return subprocess.run(
                ["git", "--no-optional-locks", *cmd], cwd=ROOT, capture_output=True,
                text=True, timeout=20, check=False,
            ).stdout  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            return ""

    dirty = git("status", "--porcelain", "--", "services", "shared")
    return {
        "head": git("rev-parse", "HEAD").strip(),
        "uncommitted_service_files": [line[3:] for line in dirty.splitlines()],
    }


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# The watcher: a separate process that consumes conversation-events and timestamps the
# ConversationAssigned / ConversationQueued events of our conversations.
# time.monotonic() is CLOCK_MONOTONIC, shared by all processes of the machine.
# --------------------------------------------------------------------------------------

WATCHED_TYPES = {
    b"ConversationOpened": "opened",  # conversation service -> conversation-events
    b"ConversationRouted": "routed",  # routing -> routing-decisions
    b"ConversationAssigned": "assigned",  # conversation service -> conversation-events
    b"ConversationQueued": "queued",
}


def watcher_main(
    bootstrap: str, topics: list[str], expected: list[str], out: Any, ready: Any, stop: Any
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    try:
        run_async(_watch(bootstrap, topics, set(expected), out, ready, stop))
    except Exception as exc:  # report, so the parent does not wait forever
        out.put(("error", repr(exc)))


async def _watch(
    bootstrap: str, topics: list[str], expected: set[str], out: Any, ready: Any, stop: Any
) -> None:
    import orjson
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from shared.kafka import fetch_partitions_together

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="latest",
        enable_auto_commit=False,
        fetch_max_wait_ms=100,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    fetch_partitions_together(consumer)  # no stall behind a lone fetch of quiet partitions
    try:
        tps = []
        for topic in topics:
            partitions: set[int] = set()
            for _ in range(200):
                # the whole cluster's metadata (the consumer's own only covers its topics)
                cluster = await consumer._client.fetch_all_metadata()
                partitions = cluster.partitions_for_topic(topic) or set()
                if partitions:
                    break
                await asyncio.sleep(0.1)
            if not partitions:
                raise RuntimeError(f"topic {topic} has no partitions")
            tps.extend(TopicPartition(topic, p) for p in sorted(partitions))
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)  # resolve now: only events after this point count
        out.put(("ready", len(tps)))
        ready.set()
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=50, max_records=10_000)
            seen_at = time.monotonic()
            found = []
            for records in batch.values():
                for record in records:
                    kind = None
                    for key, value in record.headers or ():
                        if key == "event-type":
                            kind = WATCHED_TYPES.get(value)
                            break
                    if kind is None:
                        continue
                    payload = orjson.loads(record.value)["payload"]
                    conversation_id = payload["conversation_id"]
                    if conversation_id in expected:
                        found.append((conversation_id, kind, payload.get("assignee_id"), seen_at))
            if found:
                out.put(("events", found))
    finally:
        await consumer.stop()


@dataclass
class Seen:
    assigned: dict[str, tuple[float, str | None]] = field(default_factory=dict)  # first seen
    queued: dict[str, float] = field(default_factory=dict)
    opened: dict[str, float] = field(default_factory=dict)
    routed: dict[str, float] = field(default_factory=dict)
    duplicates: int = 0
    error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class Watcher:
    """Owns the watcher process and a thread that drains its queue into :class:`Seen`."""

    def __init__(self, bootstrap: str, expected: list[str]) -> None:
        ctx = mp.get_context("spawn")
        self.out = ctx.Queue()
        self.ready = ctx.Event()
        self.stop_event = ctx.Event()
        self.seen = Seen()
        self.process = ctx.Process(
            target=watcher_main,
            args=(
                bootstrap,
                [CONVERSATION_EVENTS, ROUTING_DECISIONS],
                expected,
                self.out,
                self.ready,
                self.stop_event,
            ),
            name="bench-watcher",
            daemon=True,
        )
        self._drain_thread = threading.Thread(target=self._drain, daemon=True)
        self._draining = True

    def start(self, timeout: float) -> None:
        self.process.start()
        self._drain_thread.start()
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.1):
            if self.seen.error:
                raise RuntimeError(f"watcher failed: {self.seen.error}")
            if not self.process.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the conversation-events watcher did not get ready")

    def _drain(self) -> None:
        while self._draining or not self.out.empty():
            try:
                kind, data = self.out.get(timeout=0.1)
            except queue.Empty:
                continue
            except (EOFError, OSError):
                return
            with self.seen.lock:
                if kind == "events":
                    for conversation_id, what, assignee, at in data:
                        if what == "assigned":
                            if conversation_id in self.seen.assigned:
                                self.seen.duplicates += 1
                            else:
                                self.seen.assigned[conversation_id] = (at, assignee)
                        else:
                            getattr(self.seen, what).setdefault(conversation_id, at)
                elif kind == "error":
                    self.seen.error = data

    def assigned_count(self, ids: set[str] | None = None) -> int:
        with self.seen.lock:
            if ids is None:
                return len(self.seen.assigned)
            return sum(1 for i in ids if i in self.seen.assigned)

    def get(self, conversation_id: str) -> tuple[float, str | None] | None:
        with self.seen.lock:
            return self.seen.assigned.get(conversation_id)

    def close(self) -> None:
        self.stop_event.set()
        self.process.join(5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(2)
        self._draining = False
        if self._drain_thread.is_alive():
            self._drain_thread.join(2)


# --------------------------------------------------------------------------------------
# CPU accounting from /proc (who burns the machine's cores during the run)
# --------------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def system_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all cores from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class CpuMeter:
    """CPU seconds per group of processes; groups named in ``trees`` include the children
    alive at each sample (PostgreSQL backends come and go: a backend born during the window
    counts whole, one that ended in it is missed)."""

    def __init__(self, groups: dict[str, list[int]], trees: frozenset[str] = frozenset()) -> None:
        self.groups = groups
        self.trees = trees
        self.start_values: dict[str, dict[int, float]] = {}
        self.start_system = (0.0, 0.0)
        self.started = 0.0

    def _sample_pids(self) -> dict[str, dict[int, float]]:
        sample: dict[str, dict[int, float]] = {}
        for name, pids in self.groups.items():
            members = list(pids)
            if name in self.trees:
                for pid in pids:
                    members.extend(children_of(pid))
            values = {pid: process_cpu_seconds(pid) for pid in members}
            sample[name] = {pid: v for pid, v in values.items() if v is not None}
        return sample

    def _sample(self) -> dict[str, float]:
        end = self._sample_pids()
        return {
            name: sum(v - self.start_values.get(name, {}).get(pid, 0.0) for pid, v in pids.items())
            for name, pids in end.items()
        }

    def start(self) -> None:
        self.start_values = self._sample_pids()
        self.start_system = system_cpu()
        self.started = time.monotonic()

    def stop(self) -> dict[str, Any]:
        wall = time.monotonic() - self.started
        used = self._sample()
        busy, total = system_cpu()
        per = {
            name: {
                "cpu_s": round(used[name], 2),
                "cores": round(used[name] / wall, 2) if wall > 0 else None,
            }
            for name in used
        }
        d_total = total - self.start_system[1]
        cores = os.cpu_count() or 1
        machine_busy = (busy - self.start_system[0]) / d_total if d_total else 0.0
        ours = sum(v["cores"] or 0.0 for v in per.values())
        return {
            "wall_s": round(wall, 2),
            "machine_cores": cores,
            "machine_busy": round(machine_busy, 3),
            "ours_cores": round(ours, 2),
            # whatever else ran on the machine meanwhile (other users' tests, builds...)
            "others_cores": round(max(0.0, machine_busy * cores - ours), 2),
            "processes": per,
        }


# --------------------------------------------------------------------------------------
# py-spy, optional
# --------------------------------------------------------------------------------------


class Profilers:
    def __init__(
        self, targets: dict[str, int], out_dir: Path, stamp: str, rate: int, idle: bool = False
    ) -> None:
        self.targets, self.out_dir, self.stamp, self.rate = targets, out_dir, stamp, rate
        self.idle = idle
        self.running: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}

    def start(self) -> None:
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(py_spy).exists():
            log("py-spy not found (pip install py-spy); not profiling")
            return
        for name, pid in self.targets.items():
            path = self.out_dir / f"profile-{name}-{self.stamp}.txt"
            process = subprocess.Popen(
                [
                    py_spy, "record", "--pid", str(pid), "--format", "raw", "--rate",
                    str(self.rate), "--nonblocking", "--threads", "-o", str(path),
                    *(["--idle"] if self.idle else []),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )  # fmt: skip
            self.running[name] = (process, path)

    def stop(self) -> dict[str, str]:
        written = {}
        for process, _path in self.running.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for name, (process, path) in self.running.items():
            try:
                _, err = process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                _, err = process.communicate()
            if path.exists():
                written[name] = str(path)
            else:
                log(f"py-spy for {name} wrote nothing: {err.decode(errors='replace')[-300:]}")
        self.running.clear()
        return written


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def distribution_ms(values_s: list[float]) -> dict[str, float | int | None]:
    values = sorted(v * 1000 for v in values_s)
    if not values:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    return {
        "count": len(values),
        "min": round(values[0], 2),
        "p50": round(percentile(values, 50), 2),  # type: ignore[arg-type]
        "p95": round(percentile(values, 95), 2),  # type: ignore[arg-type]
        "p99": round(percentile(values, 99), 2),  # type: ignore[arg-type]
        "max": round(values[-1], 2),
        "mean": round(sum(values) / len(values), 2),
    }


@dataclass
class Target:
    """Where the stack under test is."""

    conversation_url: str
    ingest_url: str
    stats_url: str
    bootstrap: str
    webchat_key: str
    admin_email: str
    admin_password: str
    channel_id: str | None = None
    tenant_id: str | None = None
    pids: dict[str, list[int]] = field(default_factory=dict)
    database: str = "sqlite"
    data_dir: str | None = None
    floor_database_urls: dict[str, str] = field(default_factory=dict)
    service_urls: dict[str, str] = field(default_factory=dict)


class Cleanup:
    """Callbacks run in reverse order, once, with Ctrl-C ignored while they run."""

    def __init__(self) -> None:
        self._callbacks: list[tuple[str, Any]] = []

    def push(self, name: str, callback: Any) -> None:
        self._callbacks.append((name, callback))

    def run(self) -> None:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            while self._callbacks:
                name, callback = self._callbacks.pop()
                try:
                    callback()
                except Exception as exc:
                    log(f"cleanup of {name} failed: {exc!r}")
        finally:
            signal.signal(signal.SIGINT, previous)


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        return self.at - time.monotonic()

    def passed(self) -> bool:
        return self.left() <= 0


# --------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------


async def login(http: Any, base: str, email: str, password: str) -> dict[str, Any]:
    response = await http.post(f"{base}/v1/auth/login", json={"email": email, "password": password})
    response.raise_for_status()
    return response.json()


async def consumer_groups(http: Any, urls: dict[str, str]) -> dict[str, dict[str, float]]:
    """Per consumer group, from the services' /metrics: batches applied, records taken, and
    seconds spent applying and committing them, to see whether a stage waits or works."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    groups: dict[str, dict[str, float]] = {}
    for url in urls.values():
        try:
            text = (await http.get(f"{url}/metrics")).text
        except httpx.HTTPError:
            continue
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                group = sample.labels.get("group")
                if group is None:
                    continue
                figures = groups.setdefault(group, {"batches": 0, "seconds": 0.0, "records": 0})
                if sample.name == "interact_consumer_batch_seconds_count":
                    figures["batches"] += sample.value
                elif sample.name == "interact_consumer_batch_seconds_sum":
                    figures["seconds"] += sample.value
                elif sample.name == "interact_events_consumed_total":
                    figures["records"] += sample.value
    return {g: f for g, f in sorted(groups.items()) if f["batches"]}


async def stats_assigned(http: Any, target: Target, token: str) -> tuple[int, int]:
    response = await http.get(
        f"{target.stats_url}/v1/stats/conversations/per-channel",
        headers={"Authorization": f"Bearer {token}"},
    )
    response.raise_for_status()
    body = response.json()
    return int(body["total"]), sum(int(c["assigned"]) for c in body["channels"])


async def prepare_agents(
    http: Any, target: Target, admin_token: str, run_id: str, count: int
) -> list[str]:
    admin = {"Authorization": f"Bearer {admin_token}"}
    user_ids = []
    for k in range(count):
        email = f"bench-{run_id}-{k}@bench.example"
        created = await http.post(
            f"{target.conversation_url}/v1/users",
            headers=admin,
            json={
                "first_name": "Bench",
                "last_name": f"Agent {k}",
                "email": email,
                "role": "agent",
                "mother_tongue": "nl",
                "languages": ["nl"],
                "channel_ids": [target.channel_id],
                "capacity": AGENT_CAPACITY,
                "password": BENCH_PASSWORD,
            },
        )
        if created.status_code != 201:
            raise RuntimeError(f"creating {email}: {created.status_code} {created.text[:300]}")
        user_ids.append(created.json()["user_id"])
        token = (await login(http, target.conversation_url, email, BENCH_PASSWORD))["token"]
        presence = await http.put(
            f"{target.conversation_url}/v1/me/presence",
            headers={"Authorization": f"Bearer {token}"},
            json={"presence": "online"},
        )
        if presence.status_code != 204:
            raise RuntimeError(f"presence of {email}: {presence.status_code} {presence.text[:300]}")
    return user_ids


def conversation_id_for(tenant_id: str, channel_id: str, visitor_external_id: str) -> str:
    from services.conversation.domain.conversation import Conversation, Visitor

    visitor = Visitor.create_id(uuid.UUID(tenant_id), uuid.UUID(channel_id), visitor_external_id)
    return str(Conversation.create_id(visitor, 1))


async def run_bench(args: argparse.Namespace, target: Target, deadline: Deadline, cleanup: Cleanup,
                    stamp: str) -> dict[str, Any]:  # fmt: skip
    import httpx
    import orjson

    sys.path.insert(0, str(ROOT / "bench"))
    from lean_http import LeanClient, LeanTransportError

    run_id = uuid.uuid4().hex[:8]
    n = args.messages
    mpv = max(1, args.messages_per_visitor)
    visitors = [f"bench-{run_id}-v{j}" for j in range(math.ceil(n / mpv))]
    warmups = [f"bench-{run_id}-warmup-{k}" for k in range(args.warmup)]
    result: dict[str, Any] = {"run_id": run_id, "timed_out": False}

    async with httpx.AsyncClient(timeout=60) as http:
        admin = await login(
            http, target.conversation_url, target.admin_email, target.admin_password
        )
        admin_token = admin["token"]
        target.tenant_id = admin["tenant_id"]
        if target.channel_id is None:
            channels = await http.get(
                f"{target.conversation_url}/v1/channels",
                headers={"Authorization": f"Bearer {admin_token}"},
            )
            channels.raise_for_status()
            match = [c for c in channels.json() if c.get("public_key") == target.webchat_key]
            if not match:
                raise RuntimeError("no channel of the admin's tenant has that --webchat-key")
            target.channel_id = match[0]["channel_id"]
        agent_count = args.agents or max(
            4, math.ceil((len(visitors) + len(warmups)) / AGENT_CAPACITY)
        )
        log(f"creating {agent_count} bench agents (capacity {AGENT_CAPACITY}, nl, online)")
        agent_ids = set(await prepare_agents(http, target, admin_token, run_id, agent_count))
        _stats_base_total, stats_base_assigned = await stats_assigned(http, target, admin_token)

    assert target.tenant_id and target.channel_id
    conv_of_visitor = {
        v: conversation_id_for(target.tenant_id, target.channel_id, v) for v in visitors + warmups
    }
    watcher = Watcher(target.bootstrap, list(conv_of_visitor.values()))
    cleanup.push("watcher", watcher.close)
    watcher.start(timeout=min(60.0, max(5.0, deadline.left())))
    target.pids["bench-watcher"] = [watcher.process.pid]  # type: ignore[list-item]

    # httpx's connection pool costs O(connections) CPU per request (64 connections in one
    # pool: ~3x the client CPU of 64 one-connection pools), so the connections are spread
    # over several clients.
    per_client = max(1, min(args.connections_per_client, args.concurrency))
    n_clients = math.ceil(args.concurrency / per_client)
    limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
    timeout = httpx.Timeout(30.0, pool=None)
    path = f"{target.ingest_url}/v1/webchat/{target.webchat_key}/messages"
    headers = {"content-type": "application/json"}
    text = args.text

    def new_client() -> Any:
        if args.http_client == "lean":
            return LeanClient(target.ingest_url, headers=headers)
        return httpx.AsyncClient(limits=limits, timeout=timeout, headers=headers)

    async with contextlib.AsyncExitStack() as clients_stack:
        clients = [await clients_stack.enter_async_context(new_client()) for _ in range(n_clients)]
        client = clients[0]
        # -- warm-up: one conversation at a time until a bench agent gets one, which shows
        #    that ingest knows the channel and routing knows the bench agents are online.
        warm_used = 0
        warm_ok = False
        for visitor in warmups:
            if deadline.left() < 30:
                break
            warm_used += 1
            body = orjson.dumps({"visitor_id": visitor, "text": text})
            for _attempt in range(100):  # ingest may not know the new channel yet
                response = await client.post(path, content=body)
                if response.status_code == 202:
                    break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(
                    f"warm-up message refused: {response.status_code} {response.text}"
                )
            conversation = conv_of_visitor[visitor]
            until = time.monotonic() + 15
            while time.monotonic() < until and watcher.get(conversation) is None:
                await asyncio.sleep(0.01)
            got = watcher.get(conversation)
            if got is not None and got[1] in agent_ids:
                warm_ok = True
                break
        if not warm_ok:
            log(
                "warning: no warm-up conversation went to a bench agent; numbers may include queueing"
            )
        result["warmup_conversations"] = warm_used
        await asyncio.sleep(0.5)  # let the warm-up's tail (stats, relays) settle
        if args.idle_sample > 0:
            idle = CpuMeter(target.pids, PROCESS_TREES)
            idle.start()
            await asyncio.sleep(args.idle_sample)
            result["cpu_idle"] = idle.stop()

        # -- load --
        send_at = [0.0] * n  # when the request was started (open loop: scheduled time)
        started_at = [0.0] * n
        accepted_at: list[float | None] = [None] * n
        failures: Counter[str] = Counter()
        meter = CpuMeter(target.pids, PROCESS_TREES)
        profilers = Profilers(
            {s: target.pids[s][0] for s in args.profile if s in target.pids},
            args.results_dir, stamp, args.profile_rate, args.profile_idle,
        )  # fmt: skip
        cleanup.push("profilers", profilers.stop)

        retries: Counter[str] = Counter()
        # Open loop: a request waits here (cheap) for a free connection rather than in
        # httpx's pool, whose cost grows with the requests queued in it.
        free: asyncio.Queue[Any] = asyncio.Queue()
        for c in clients:
            for _ in range(per_client):
                free.put_nowait(c)

        async def send(i: int, scheduled: float | None = None, client: Any = None) -> None:
            owned = client is None
            if owned:
                client = await free.get()
            try:
                visitor = visitors[i // mpv]
                body = orjson.dumps(
                    {"visitor_id": visitor, "text": text, "message_id": f"{run_id}-m{i}"}
                )
                started_at[i] = time.monotonic()
                send_at[i] = scheduled if scheduled is not None else started_at[i]
                for attempt in range(args.retries + 1):
                    try:
                        response = await client.post(path, content=body)
                        break
                    except (httpx.TransportError, LeanTransportError) as exc:
                        # e.g. a keep-alive connection the server closed just then; the same
                        # message_id makes a retry safe (the conversation service dedups).
                        if attempt == args.retries:
                            failures[type(exc).__name__] += 1
                            return
                        retries[type(exc).__name__] += 1
                    except Exception as exc:
                        failures[type(exc).__name__] += 1
                        return
                now = time.monotonic()
                if response.status_code == 202:
                    accepted_at[i] = now
                else:
                    failures[f"http {response.status_code}"] += 1
            finally:
                if owned:
                    free.put_nowait(client)

        sent = 0

        async def closed_loop() -> None:
            nonlocal sent

            async def worker(k: int) -> None:
                nonlocal sent
                while sent < n:
                    i = sent
                    sent += 1
                    await send(i, client=clients[k % n_clients])

            await asyncio.gather(*(worker(k) for k in range(args.concurrency)))

        async def open_loop() -> None:
            nonlocal sent
            interval = 1.0 / args.rate
            t0 = time.monotonic()
            tasks: set[asyncio.Task[None]] = set()
            while sent < n:
                due = min(n, int((time.monotonic() - t0) / interval) + 1)
                while sent < due:
                    task = asyncio.create_task(send(sent, t0 + sent * interval))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    sent += 1
                await asyncio.sleep(max(0.0, t0 + sent * interval - time.monotonic()))
            if tasks:
                await asyncio.gather(*tasks)

        mode = f"open loop at {args.rate:g} msgs/s" if args.rate else (
            f"closed loop, {args.concurrency} in flight"
        )  # fmt: skip
        log(f"sending {n} messages from {len(visitors)} visitors ({mode})")
        loop_lag: list[float] = []

        async def watch_loop_lag() -> None:
            # how late this process's event loop wakes up: if it is late, so are our clocks
            while True:
                before = time.monotonic()
                await asyncio.sleep(0.01)
                loop_lag.append(time.monotonic() - before - 0.01)

        lag_task = asyncio.create_task(watch_loop_lag())
        meter.start()
        profilers.start()
        load_started = time.monotonic()
        try:
            # keep some of the time limit for the pipeline to drain what was accepted
            reserve = min(60.0, 0.2 * args.timeout)
            await asyncio.wait_for(
                open_loop() if args.rate else closed_loop(),
                timeout=max(1.0, deadline.left() - reserve),
            )
        except TimeoutError:
            result["timed_out"] = True
            log("timed out while sending")
        load_ended = time.monotonic()
        accepted = [t for t in accepted_at if t is not None]
        log(f"sent {sent}, accepted {len(accepted)} in {load_ended - load_started:.1f} s; "
            "waiting for the assignments")  # fmt: skip

        # -- wait for every conversation with an accepted message to be assigned --
        first_accept: dict[str, float] = {}
        for i, t in enumerate(accepted_at):
            if t is None:
                continue
            conversation = conv_of_visitor[visitors[i // mpv]]
            if conversation not in first_accept or t < first_accept[conversation]:
                first_accept[conversation] = t
        wanted = set(first_accept)
        last_progress, last_count = time.monotonic(), -1
        next_report = time.monotonic() + 5
        while not deadline.passed():
            count = watcher.assigned_count(wanted)
            if count >= len(wanted):
                break
            now = time.monotonic()
            if count != last_count:
                last_progress, last_count = now, count
            elif now - last_progress > args.stall_timeout:
                log(f"no progress for {args.stall_timeout:g} s; giving up on the rest")
                break
            if now >= next_report:
                log(f"  assigned {count}/{len(wanted)}")
                next_report = now + 5
            await asyncio.sleep(0.02)
        else:
            result["timed_out"] = True
            log("timed out waiting for assignments")
        assign_phase_ended = time.monotonic()
        lag_task.cancel()
        written = profilers.stop()
        cpu = meter.stop()
        done = max(1, watcher.assigned_count(wanted))
        for figures in cpu["processes"].values():
            figures["cpu_ms_per_conversation"] = round(figures["cpu_s"] * 1000 / done, 2)
        cpu["cpu_ms_per_conversation_ours"] = round(
            sum(f["cpu_s"] for f in cpu["processes"].values()) * 1000 / done, 2
        )
        # The same less what the stack burns idle over as long (long polls, sweeps): on a
        # shared machine a slow run otherwise charges its conversations for the waiting.
        idle = result.get("cpu_idle") or {}
        idle_of = {
            k: v["cpu_s"] / idle["wall_s"]
            for k, v in idle.get("processes", {}).items()
            if idle.get("wall_s")
        }
        for name, figures in cpu["processes"].items():
            busy = max(0.0, figures["cpu_s"] - idle_of.get(name, 0.0) * cpu["wall_s"])
            figures["cpu_ms_per_conversation_above_idle"] = round(busy * 1000 / done, 2)
        cpu["cpu_ms_per_conversation_above_idle_ours"] = round(
            sum(f["cpu_ms_per_conversation_above_idle"] for f in cpu["processes"].values()), 2
        )

    # -- stats catching up --
    stats_reached_at = None
    assigned_total = watcher.assigned_count(wanted)
    warm_assigned = sum(1 for v in warmups[:warm_used] if watcher.get(conv_of_visitor[v]))
    stats_target = stats_base_assigned + warm_assigned + assigned_total
    stats_last = None
    async with httpx.AsyncClient(timeout=10) as http:
        stats_deadline = time.monotonic() + min(args.stats_timeout, max(1.0, deadline.left()))
        while time.monotonic() < stats_deadline:
            try:
                stats_last = await stats_assigned(http, target, admin_token)
            except Exception as exc:
                log(f"stats poll failed: {exc!r}")
                stats_last = None
            if stats_last and stats_last[1] >= stats_target:
                stats_reached_at = time.monotonic()
                break
            await asyncio.sleep(0.05)
    if stats_reached_at is None:
        log(f"stats did not reach {stats_target} assigned (last: {stats_last})")

    watcher.close()
    async with httpx.AsyncClient(timeout=10) as http:
        result["consumer_groups"] = await consumer_groups(http, target.service_urls)

    # -- figures --
    assigned_seen = {c: watcher.get(c) for c in wanted}
    latencies = [seen[0] - first_accept[c] for c, seen in assigned_seen.items() if seen is not None]
    from_send = []
    first_send_of: dict[str, float] = {}
    for i in range(sent):
        conversation = conv_of_visitor[visitors[i // mpv]]
        if conversation not in first_send_of or send_at[i] < first_send_of[conversation]:
            first_send_of[conversation] = send_at[i]
    for c, seen in assigned_seen.items():
        if seen is not None:
            from_send.append(seen[0] - first_send_of[c])
    with watcher.seen.lock:
        opened_at = dict(watcher.seen.opened)
        routed_at = dict(watcher.seen.routed)
    stages: dict[str, list[float]] = {"accept_to_opened": [], "opened_to_routed": [],
                                      "routed_to_assigned": []}  # fmt: skip
    for c, seen in assigned_seen.items():
        if seen is None or c not in opened_at or c not in routed_at:
            continue
        stages["accept_to_opened"].append(opened_at[c] - first_accept[c])
        stages["opened_to_routed"].append(routed_at[c] - opened_at[c])
        stages["routed_to_assigned"].append(seen[0] - routed_at[c])
    accept_latency = [
        t - send_at[i] for i, t in enumerate(accepted_at) if t is not None and i < sent
    ]
    # open loop: from the scheduled send time until a connection was free to send it on
    schedule_lag = [started_at[i] - send_at[i] for i in range(sent)] if args.rate else []
    first_send = min(send_at[:sent]) if sent else load_started
    last_accept = max(accepted) if accepted else None
    last_assignment = max((s[0] for s in assigned_seen.values() if s), default=None)
    assignees = Counter(
        "bench agent" if s[1] in agent_ids else "other agent" for s in assigned_seen.values() if s
    )
    with watcher.seen.lock:
        queued = sum(1 for c in wanted if c in watcher.seen.queued)
        duplicates = watcher.seen.duplicates

    ingest_tput = len(accepted) / (last_accept - first_send) if last_accept else 0.0
    e2e_tput = (
        len(latencies) / (last_assignment - first_send)
        if last_assignment and last_assignment > first_send
        else 0.0
    )
    e2e_target = TARGET_E2E_POSTGRES if target.database == "postgresql" else TARGET_E2E_SQLITE
    latency = distribution_ms(latencies)
    result.update(
        {
            "messages": {
                "requested": n,
                "sent": sent,
                "accepted": len(accepted),
                "failed": sum(failures.values()),
                "unfinished_at_deadline": sent - len(accepted) - sum(failures.values()),
                "failures": dict(failures),
                "retried": dict(retries),
            },
            "conversations": {
                "with_accepted_message": len(wanted),
                "assigned_seen": len(latencies),
                "to_bench_agents": assignees.get("bench agent", 0),
                "to_other_agents": assignees.get("other agent", 0),
                "queued_first": queued,
                "duplicate_assigned_events": duplicates,
                "not_assigned": len(wanted) - len(latencies),
            },
            "durations_s": {
                "sending": round(load_ended - load_started, 3),
                "first_send_to_last_accept": round(last_accept - first_send, 3)
                if last_accept
                else None,
                "first_send_to_last_assignment": round(last_assignment - first_send, 3)
                if last_assignment
                else None,
                "last_accept_to_last_assignment": round(last_assignment - last_accept, 3)
                if last_assignment and last_accept
                else None,
            },
            "throughput_per_s": {
                "ingest_accepted": round(ingest_tput, 1),
                "end_to_end_assigned": round(e2e_tput, 1),
            },
            "latency_ms": {
                "accept_to_assigned": latency,
                "send_to_assigned": distribution_ms(from_send),
                "send_to_accept_http": distribution_ms(accept_latency),
                "open_loop_schedule_lag": distribution_ms(schedule_lag) if schedule_lag else None,
                # lateness of the bench's event loop (10 ms ticks): a measurement-quality check
                "bench_event_loop_lag": distribution_ms(loop_lag),
                # where the time goes, as seen on Kafka by the watcher:
                # 202 -> ConversationOpened (conversation service: inbound consumer, event
                # store, outbox relay), -> ConversationRouted (routing), -> ConversationAssigned
                # (conversation service: decisions consumer, event store, outbox relay)
                "stages": {k: distribution_ms(v) for k, v in stages.items()},
            },
            "stats": {
                "target_assigned": stats_target,
                "last_seen": {"total": stats_last[0], "assigned": stats_last[1]}
                if stats_last
                else None,
                "caught_up": stats_reached_at is not None,
                "seconds_from_first_send": round(stats_reached_at - first_send, 3)
                if stats_reached_at
                else None,
                "seconds_after_last_assignment": round(stats_reached_at - last_assignment, 3)
                if stats_reached_at and last_assignment
                else None,
                "seconds_after_assign_phase_end_first_poll": round(
                    stats_reached_at - assign_phase_ended, 3
                )
                if stats_reached_at
                else None,
            },
            "targets": {
                "end_to_end_msgs_per_s": e2e_target,
                "end_to_end_ratio": round(e2e_tput / e2e_target, 3),
                "p99_ms": TARGET_P99_MS,
                "p99_ratio": round(latency["p99"] / TARGET_P99_MS, 3)  # type: ignore[operator]
                if latency["p99"] is not None
                else None,
                "p99_target_applies": bool(args.rate and abs(args.rate - TARGET_P99_AT_RATE) < 1),
            },
            "cpu": cpu,
            "profiles": written,
        }
    )
    return result


def print_report(result: dict[str, Any]) -> None:
    m, c, d = result["messages"], result["conversations"], result["durations_s"]
    t, lat, s, tg = (
        result["throughput_per_s"],
        result["latency_ms"],
        result["stats"],
        result["targets"],
    )
    cfg = result["config"]
    a = lat["accept_to_assigned"]
    mode = (
        f"open loop {cfg['rate']:g} msgs/s" if cfg["rate"] else f"closed loop x{cfg['concurrency']}"
    )

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    lines = [
        "",
        f"Interact end-to-end benchmark — {cfg['database']}, {mode}, "
        f"{cfg['messages']} msgs, {cfg['messages_per_visitor']} msg/visitor"
        + ("  [TIMED OUT]" if result["timed_out"] else ""),
        f"  messages   sent {m['sent']}   accepted (202) {m['accepted']}   failed {m['failed']}"
        + (f"  {m['failures']}" if m["failures"] else "")
        + (f"  retried {m['retried']}" if m.get("retried") else "")
        + (
            f"  unfinished at the deadline {m['unfinished_at_deadline']}"
            if m.get("unfinished_at_deadline")
            else ""
        ),
        f"  conversations  {c['with_accepted_message']}   assigned (seen on Kafka) "
        f"{c['assigned_seen']}   not assigned {c['not_assigned']}   queued first {c['queued_first']}",
        f"  ingest acceptance throughput   {t['ingest_accepted']:8.1f} msgs/s   "
        f"(first send -> last 202: {d['first_send_to_last_accept']} s)",
        f"  end-to-end throughput          {t['end_to_end_assigned']:8.1f} conv/s   "
        f"(first send -> last assignment: {d['first_send_to_last_assignment']} s)",
        f"  latency 202 -> assigned (ms)   p50 {ms(a['p50'])}   p95 {ms(a['p95'])}   "
        f"p99 {ms(a['p99'])}   max {ms(a['max'])}",
        f"  latency send -> 202 (ms)       p50 {ms(lat['send_to_accept_http']['p50'])}   "
        f"p99 {ms(lat['send_to_accept_http']['p99'])}   max {ms(lat['send_to_accept_http']['max'])}",
    ]
    for stage, dist in (lat.get("stages") or {}).items():
        lines.append(
            f"    stage {stage.replace('_', ' '):<22}  p50 {ms(dist['p50'])}   p95 {ms(dist['p95'])}"
            f"   p99 {ms(dist['p99'])}   max {ms(dist['max'])}"
        )
    if lat.get("bench_event_loop_lag", {}).get("count"):
        lag = lat["bench_event_loop_lag"]
        lines.append(
            f"  bench event-loop lag (ms)      p50 {ms(lag['p50'])}   p99 {ms(lag['p99'])}   "
            f"max {ms(lag['max'])}   (high values inflate the latencies above)"
        )
    if lat.get("open_loop_schedule_lag"):
        lag = lat["open_loop_schedule_lag"]
        lines.append(f"  wait for a free connection (ms) p50 {ms(lag['p50'])}   p99 {ms(lag['p99'])}   "
                     f"max {ms(lag['max'])}")  # fmt: skip
    lines.append(
        "  stats caught up                "
        + (
            f"{s['seconds_from_first_send']} s after first send, "
            f"{s['seconds_after_last_assignment']} s after the last assignment"
            if s["caught_up"]
            else f"NO (wanted {s['target_assigned']} assigned, last {s['last_seen']})"
        )
    )
    lines.append(
        f"  vs targets   end to end {t['end_to_end_assigned']:.0f}/{tg['end_to_end_msgs_per_s']:.0f}"
        f" msgs/s = {tg['end_to_end_ratio']:.2f}x   p99 {ms(a['p99'])}/{tg['p99_ms']:.0f} ms = "
        + (f"{tg['p99_ratio']:.2f}x" if tg["p99_ratio"] is not None else "-")
        + ("" if tg["p99_target_applies"] else "  (p99 target is defined at 1,000 msgs/s)")
    )
    idle = result.get("cpu_idle") or {}
    if idle.get("processes"):
        parts = sorted(idle["processes"].items(), key=lambda kv: -kv[1]["cpu_s"])
        lines.append(
            f"  CPU of the idle stack ({idle['wall_s']} s before the load; ours "
            f"{idle['ours_cores']:.2f}, others {idle['others_cores']:.2f} cores): "
            + ", ".join(f"{k} {v['cores']:.2f}" for k, v in parts)
        )
    cpu = result.get("cpu") or {}
    if cpu.get("processes"):
        parts = sorted(cpu["processes"].items(), key=lambda kv: -kv[1]["cpu_s"])
        lines.append(
            f"  CPU during load+assignment ({cpu['wall_s']} s wall, {cpu['machine_cores']} cores, "
            f"machine {cpu['machine_busy']:.0%} busy; ours {cpu['ours_cores']:.2f}, "
            f"others {cpu['others_cores']:.2f} cores): "
            + ", ".join(f"{k} {v['cores']:.2f}" for k, v in parts)
        )
    if cpu.get("processes"):
        parts = sorted(cpu["processes"].items(), key=lambda kv: -kv[1]["cpu_s"])
        lines.append(
            f"  CPU ms per assigned conversation: total {cpu['cpu_ms_per_conversation_ours']:.1f}"
            " = " + ", ".join(f"{k} {v['cpu_ms_per_conversation']:.1f}" for k, v in parts)
        )
        if "cpu_ms_per_conversation_above_idle_ours" in cpu:
            parts = sorted(
                cpu["processes"].items(),
                key=lambda kv: -kv[1]["cpu_ms_per_conversation_above_idle"],
            )
            lines.append(
                "  CPU ms per conversation above the idle stack's: total "
                f"{cpu['cpu_ms_per_conversation_above_idle_ours']:.1f} = "
                + ", ".join(f"{k} {v['cpu_ms_per_conversation_above_idle']:.1f}" for k, v in parts)
            )
    groups = result.get("consumer_groups") or {}
    if groups:
        lines.append("  consumer groups (whole run): batches, records per batch, seconds applying")
        for group, f in groups.items():
            per = f["records"] / f["batches"] if f["batches"] else 0.0
            lines.append(
                f"    {group:<28} {f['batches']:>7.0f} batches  {per:>7.1f} rec/batch"
                f"  {f['seconds']:>7.2f} s"
            )
    for name, path in (result.get("profiles") or {}).items():
        lines.append(f"  profile {name}: {path}")
    print("\n".join(lines), flush=True)
    print_floor_ratios(result)


def run_floor_after(args: argparse.Namespace, target: Target, result: dict[str, Any]) -> dict:
    """The floor (bench/floor.py) on the same broker and database kind, same load."""
    sys.path.insert(0, str(ROOT / "bench"))
    from floor import run_floor

    log("running the floor on the same broker")
    broker_pid = (target.pids.get("broker") or [None])[0]
    return run_floor(
        target.bootstrap,
        args.messages,
        args.rate,
        database_urls=target.floor_database_urls or None,
        workdir=Path(target.data_dir) if target.data_dir else None,
        idle_s=args.idle_sample,
        broker_pid=broker_pid,
    )


def print_floor_ratios(result: dict[str, Any]) -> None:
    """Every figure next to the floor's, with the ratio product / floor."""
    floor = result.get("floor")
    if not floor:
        return

    def ratio(ours: float | None, theirs: float | None) -> str:
        if not ours or not theirs:
            return "-"
        return f"x{ours / theirs:.3f}"

    ours_tput = result["throughput_per_s"]["end_to_end_assigned"]
    ours_p99 = result["latency_ms"]["accept_to_assigned"]["p99"]
    floor_p99 = floor["latency_ms"].get("p99")
    cpu = result.get("cpu") or {}
    ours_ms = cpu.get("cpu_ms_per_conversation_ours")
    service_ms = sum(
        v["cpu_ms_per_conversation"]
        for k, v in (cpu.get("processes") or {}).items()
        if not k.startswith("bench")
    )
    floor_ms = sum(floor["cpu_ms_per_message"].values())
    idle = result.get("cpu_idle") or {}
    ours_idle = sum(
        v["cores"] or 0.0
        for k, v in (idle.get("processes") or {}).items()
        if not k.startswith("bench")
    )
    floor_idle = sum(floor["idle_cores"].values()) if floor["idle_cores"] else None
    lines = [
        "",
        "Floor (bench/floor.py: router -> event store -> stats upsert, same broker, same load)",
        f"  throughput     ours {ours_tput:8.1f}  floor {floor['throughput_per_s']:8.1f} msgs/s"
        f"   ratio {ratio(ours_tput, floor['throughput_per_s'])}",
        f"  p99 latency    ours {ours_p99}  floor {floor_p99} ms   ratio {ratio(ours_p99, floor_p99)}"
        "  (ack/202 -> assigned)",
        f"  CPU ms/msg     ours {service_ms:.2f} (services + broker; {ours_ms} with the bench)"
        f"  floor {floor_ms:.3f}   ratio {ratio(service_ms, floor_ms)}",
        "    floor per process: "
        + ", ".join(f"{k} {v:.3f}" for k, v in floor["cpu_ms_per_message"].items()),
    ]
    if floor_idle is not None and idle:
        lines.append(
            f"  idle cores     ours {ours_idle:.3f}  floor {floor_idle:.3f}"
            f"   ratio {ratio(ours_idle, floor_idle)}   (target <= 0.05 in all)"
        )
    print("\n".join(lines), flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            f"Targets: {TARGET_E2E_SQLITE:.0f} msgs/s end to end on SQLite, "
            f"{TARGET_E2E_POSTGRES:.0f} on PostgreSQL; p99 < {TARGET_P99_MS:.0f} ms "
            f"(202 -> assigned) at {TARGET_P99_AT_RATE:.0f} msgs/s."
        ),
    )
    parser.add_argument("-n", "--messages", type=int, default=5000, help="messages to send (5000)")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="open loop at this many msgs/s (default: closed loop, max speed)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=64, help="in-flight requests / HTTP connections (64)"
    )
    parser.add_argument(
        "--messages-per-visitor",
        type=int,
        default=1,
        help="consecutive messages per visitor, i.e. per conversation (1)",
    )
    parser.add_argument(
        "--agents",
        type=int,
        default=0,
        help="bench agents to create (default: enough for every conversation, >= 4)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=20,
        help="max warm-up conversations before the measurement (20)",
    )
    parser.add_argument(
        "--connections-per-client",
        type=int,
        default=1,
        help="HTTP connections per httpx.AsyncClient; --concurrency connections are spread "
        "over ceil(concurrency / this) clients (1: cheapest for the client's CPU)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=1,
        help="retries of a request after a transport error (same message_id; 1)",
    )
    parser.add_argument(
        "--no-uvloop", action="store_true", help="plain asyncio loop in the bench processes"
    )
    parser.add_argument("--text", default=DEFAULT_TEXT, help="message text")
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="overall time limit in seconds, setup included (300)",
    )
    parser.add_argument(
        "--stall-timeout",
        type=float,
        default=30.0,
        help="stop waiting for assignments after this long without progress (30)",
    )
    parser.add_argument(
        "--stats-timeout",
        type=float,
        default=120.0,
        help="max wait for the stats service to catch up (120)",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="throw-away PostgreSQL (tests/support/postgres.py), a database per service",
    )
    parser.add_argument(
        "--attach",
        action="store_true",
        help="use a running stack at the default ports instead of starting one",
    )
    parser.add_argument("--webchat-key", help="--attach: public key of the website chat")
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", ""),
        help="--attach: Kafka bootstrap servers (default $KAFKA_BOOTSTRAP_SERVERS)",
    )
    parser.add_argument("--admin-email", default="admin@demo.example")
    parser.add_argument("--admin-password", default="demo-password-1")
    parser.add_argument("--host", default="127.0.0.1", help="--attach: host of the services")
    parser.add_argument(
        "--data-dir", type=Path, help="data dir of the fresh stack (default: a new temp dir)"
    )
    parser.add_argument(
        "--keep-data",
        action="store_true",
        help="keep the stack's data dir (logs, SQLite files) after the run",
    )
    parser.add_argument(
        "--profile",
        default="",
        help="comma-separated services to profile with py-spy during the load, "
        "e.g. conversation,routing (raw collapsed stacks in the results dir)",
    )
    parser.add_argument(
        "--http-client",
        choices=("lean", "httpx"),
        default="lean",
        help="the load's HTTP client: lean (bench/lean_http.py, ~0.1 ms CPU per request; "
        "one connection each) or httpx (~0.9 ms)",
    )
    parser.add_argument("--profile-rate", type=int, default=97, help="py-spy samples/s (97)")
    parser.add_argument(
        "--profile-idle",
        action="store_true",
        help="py-spy --idle: also sample waiting threads (lock waits, I/O)",
    )
    parser.add_argument(
        "--idle-sample",
        type=float,
        default=3.0,
        help="seconds of CPU sampling of the idle stack before the load (3; 0: skip)",
    )
    parser.add_argument(
        "--idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="only measure a fresh idle stack for this long, per process (bench/idle.py)",
    )
    parser.add_argument(
        "--service-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the services of a fresh stack (repeatable), "
        "e.g. KAFKA_FETCH_MAX_WAIT_MS=100",
    )
    parser.add_argument(
        "--default-ports",
        action="store_true",
        help="fresh stack on ports 8000-8005 (default: free ports, so concurrent stacks coexist)",
    )
    parser.add_argument(
        "--no-floor", action="store_true", help="do not run bench/floor.py after the product"
    )
    parser.add_argument("--results-dir", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--no-json", action="store_true", help="do not write the JSON file")
    parser.add_argument("--label", default="", help="free text stored with the results")
    args = parser.parse_args(argv)
    args.profile = [p.strip() for p in args.profile.split(",") if p.strip()]
    if args.attach and not (args.webchat_key and args.bootstrap):
        parser.error("--attach needs --webchat-key and --bootstrap (or KAFKA_BOOTSTRAP_SERVERS)")
    if args.attach and args.postgres:
        parser.error("--postgres starts its own stack; it cannot be combined with --attach")
    for item in args.service_env:
        if "=" not in item:
            parser.error(f"--service-env wants KEY=VALUE, not {item!r}")
    if args.messages < 1 or args.concurrency < 1 or args.rate < 0:
        parser.error("-n and --concurrency must be >= 1, --rate >= 0")
    return args


def start_stack(args: argparse.Namespace, cleanup: Cleanup, deadline: Deadline) -> Target:
    from services.ingest.application.webchat_limits import lifted_environment
    from services.stack import SERVICES, Stack, seed_demo
    from shared.local_broker import free_port

    if args.data_dir:
        data_dir = args.data_dir.resolve()
        if data_dir.exists() and any(data_dir.iterdir()):
            raise SystemExit(f"--data-dir {data_dir} is not empty; the bench wants a fresh stack")
    else:
        data_dir = Path(tempfile.mkdtemp(prefix="interact-bench-"))
    if args.keep_data:
        cleanup.push("data dir note", lambda: log(f"data kept in {data_dir}"))
    else:
        cleanup.push("data dir", lambda: shutil.rmtree(data_dir, ignore_errors=True))
    database_urls: dict[str, str] = {}
    floor_urls: dict[str, str] = {}
    pg = None
    if args.postgres:
        from tests.support.postgres import postgres_from_env_or_local

        log("starting PostgreSQL")
        pg = postgres_from_env_or_local()
        cleanup.push("postgres", pg.stop)
        pg.start()
        suffix = uuid.uuid4().hex[:6]
        for name in SERVICE_NAMES:
            db = f"bench_{name}_{suffix}"
            pg.create_database(db)
            database_urls[name] = pg.url(db)
        for role in ("router", "store", "stats"):
            db = f"bench_floor_{role}_{suffix}"
            pg.create_database(db)
            floor_urls[role] = pg.url(db)
    ports = dict(SERVICES) if args.default_ports else {name: free_port() for name in SERVICES}
    # The load comes from one address: the widget's flood limits are lifted.
    env = {**lifted_environment(), **dict(item.split("=", 1) for item in args.service_env)}
    stack = Stack(data_dir, ports=ports, env=env, database_urls=database_urls)
    cleanup.push("stack", stack.stop)
    log(f"starting the stack in {data_dir}")
    try:
        stack.start(timeout=max(10.0, min(120.0, deadline.left())))
    except Exception:
        for log_file in sorted(data_dir.glob("*.log")):
            lines = log_file.read_text(errors="replace").splitlines()
            bad = [line for line in lines if '"level":"error"' in line or "Error" in line]
            for line in bad[-3:]:
                log(f"{log_file.name}: {line[:400]}")
        raise
    demo = seed_demo(stack)
    pids: dict[str, list[int]] = {name: [p.pid] for name, p in stack.processes.items()}
    if stack.broker is not None and stack.broker.process is not None:
        pids["broker"] = [stack.broker.process.pid]
    pids["bench"] = [os.getpid()]
    if pg is not None and getattr(pg, "data_dir", None):
        with contextlib.suppress(OSError, ValueError, IndexError):
            postmaster = int((pg.data_dir / "postmaster.pid").read_text().splitlines()[0])
            pids["postgres"] = [postmaster]  # + its backends, found at each sample
    return Target(
        conversation_url=stack.url("conversation"),
        ingest_url=stack.url("ingest"),
        stats_url=stack.url("stats"),
        bootstrap=stack.bootstrap_servers,
        webchat_key=demo["webchat_key"],
        admin_email="admin@demo.example",
        admin_password=demo["password"],
        channel_id=demo["channel_id"],
        tenant_id=demo["tenant_id"],
        pids=pids,
        database="postgresql" if args.postgres else "sqlite",
        data_dir=str(data_dir),
        floor_database_urls=floor_urls,
        service_urls={name: stack.url(name) for name in SERVICE_NAMES},
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    deadline = Deadline(args.timeout)
    cleanup = Cleanup()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    args.results_dir.mkdir(parents=True, exist_ok=True)

    def on_sigterm(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    if args.idle > 0:
        sys.path.insert(0, str(ROOT / "bench"))
        import idle

        env = dict(item.split("=", 1) for item in args.service_env)
        figures = idle.run(args.idle, postgres=args.postgres, service_env=env)
        print(idle.report(figures), flush=True)
        return 0 if figures["total_cores"] <= idle.TARGET_IDLE_CORES else 2
    code = 0
    try:
        if args.attach:
            from services.stack import SERVICES

            target = Target(
                conversation_url=f"http://{args.host}:{SERVICES['conversation']}",
                ingest_url=f"http://{args.host}:{SERVICES['ingest']}",
                stats_url=f"http://{args.host}:{SERVICES['stats']}",
                bootstrap=args.bootstrap,
                webchat_key=args.webchat_key,
                admin_email=args.admin_email,
                admin_password=args.admin_password,
                pids={"bench": [os.getpid()]},
            )
        else:
            target = start_stack(args, cleanup, deadline)
        runner = asyncio.run if args.no_uvloop else run_async
        result = runner(run_bench(args, target, deadline, cleanup, stamp))
        result["config"] = {
            "messages": args.messages,
            "rate": args.rate,
            "concurrency": args.concurrency,
            "connections_per_client": args.connections_per_client,
            "retries": args.retries,
            "uvloop": not args.no_uvloop,
            "messages_per_visitor": args.messages_per_visitor,
            "database": target.database,
            "attach": args.attach,
            "data_dir": target.data_dir if args.keep_data else None,
            "timestamp": stamp,
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "label": args.label,
            "service_env": args.service_env,
            "code": code_version(),
            "load_average_at_end": os.getloadavg(),
        }
        if not args.no_floor and not args.attach:
            result["floor"] = run_floor_after(args, target, result)
        print_report(result)
        if not args.no_json:
            out = args.results_dir / f"e2e-{stamp}.json"
            out.write_text(json.dumps(result, indent=2, default=str))
            print(f"  written to {out}", flush=True)
        if args.profile and result.get("profiles"):
            sys.path.insert(0, str(ROOT / "bench"))
            from pyspy_summary import render, summarize

            for name, path in result["profiles"].items():
                print(render(summarize(path, 15), title=f"py-spy {name}"), flush=True)
        if result["timed_out"] or result["conversations"]["not_assigned"]:
            code = 2
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        code = 130
    except Exception as exc:
        log(f"failed: {exc!r}")
        code = 1
        import traceback

        traceback.print_exc()
    finally:
        cleanup.run()
    return code


if __name__ == "__main__":
    sys.exit(main())
