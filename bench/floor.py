#!/usr/bin/env python
"""The floor: the same work as Interact's message path with no product logic, on the same broker.

Three processes, each a plain batched loop on aiokafka + orjson + the database driver:

``router``  inbound -> choose the least-loaded agent of the tenant (in memory) -> routed
``store``   routed -> append opened, received, assigned to an event table (one transaction per
            batch, duplicates ignored) -> assigned events
``stats``   assigned -> upsert a per-tenant, per-day count and record the applied ids (one
            transaction per batch)

Every stage commits its offsets after its transaction and its sends, like the services. The
driver publishes the inbound messages (acks=all, idempotent), times each from the broker's ack
(the product's 202) to its assigned event, and waits for the stats count. ``bench/e2e.py``
runs it after the product in the same run and prints every figure as a ratio to it.

    .venv/bin/python bench/floor.py -n 20000                # SQLite, closed loop
    .venv/bin/python bench/floor.py -n 10000 --rate 1000    # open loop
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
PARTITIONS = 6
ROLES = ("router", "store", "stats")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- the stages --------------------------------------------------------------------------
def connect(url: str) -> Any:
    if url.startswith("postgresql"):
        import psycopg

        return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
    conn = sqlite3.connect(
        url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


SCHEMA = {
    "store": [
        "CREATE TABLE IF NOT EXISTS floor_events (conversation_id TEXT, seq INTEGER, "
        "type TEXT, body TEXT, PRIMARY KEY (conversation_id, seq))",
    ],
    "stats": [
        "CREATE TABLE IF NOT EXISTS floor_counts (tenant_id TEXT, day TEXT, assigned INTEGER, "
        "PRIMARY KEY (tenant_id, day))",
        "CREATE TABLE IF NOT EXISTS floor_applied (event_id TEXT PRIMARY KEY)",
    ],
}


def transaction(conn: Any, statements: list[tuple[str, list[tuple]]]) -> None:
    if isinstance(conn, sqlite3.Connection):
        conn.execute("BEGIN")
        try:
            for sql, rows in statements:
                conn.executemany(sql, rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return
    with conn.transaction(), conn.cursor() as cursor:
        for sql, rows in statements:
            cursor.executemany(sql.replace("?", "%s"), rows)


async def stage(role: str, bootstrap: str, run: str, database_url: str) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    source = {"router": "inbound", "store": "routed", "stats": "assigned"}[role]
    sink = {"router": "routed", "store": "assigned", "stats": None}[role]
    conn = connect(database_url) if role in SCHEMA else None
    if conn is not None:
        for sql in SCHEMA[role]:
            conn.execute(sql)
        if not isinstance(conn, sqlite3.Connection):
            conn.commit()
    consumer = AIOKafkaConsumer(
        f"floor-{run}.{source}",
        bootstrap_servers=bootstrap,
        group_id=f"floor-{run}-{role}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=500,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=2
    )
    await consumer.start()
    consumer._fetcher._prefetch_backoff = 3600.0  # as shared.kafka.fetch_partitions_together
    await producer.start()
    load: dict[str, dict[str, int]] = {}  # router: tenant -> agent -> open conversations
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    try:
        while not stopping.is_set():
            batch = await consumer.getmany(timeout_ms=1000, max_records=1000)
            records = [r for rs in batch.values() for r in rs]
            if not records:
                continue
            messages = [orjson.loads(r.value) for r in records]
            out: list[dict] = []
            if role == "router":
                for m in messages:
                    agents = load.setdefault(m["tenant_id"], {f"agent-{k}": 0 for k in range(4)})
                    chosen = min(agents, key=agents.__getitem__)
                    agents[chosen] += 1
                    out.append({**m, "assignee": chosen})
            elif role == "store":
                rows = []
                for m in messages:
                    body = orjson.dumps(m).decode()
                    cid = m["conversation_id"]
                    rows += [(cid, 1, "opened", body), (cid, 2, "received", body)]
                    rows.append((cid, 3, "assigned", m["assignee"]))
                sql = "INSERT INTO floor_events VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
                await asyncio.to_thread(transaction, conn, [(sql, rows)])
                out = messages
            else:
                fresh = list({m["conversation_id"]: m for m in messages}.values())
                await asyncio.to_thread(apply_stats, conn, fresh)
            if sink:
                futures = [
                    await producer.send(
                        f"floor-{run}.{sink}", orjson.dumps(m), key=m["tenant_id"].encode()
                    )
                    for m in out
                ]
                await asyncio.gather(*futures)
            await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


def apply_stats(conn: Any, fresh: list[dict]) -> None:
    """Skip the ids applied before, count the rest, record them: one transaction."""
    ids = [m["conversation_id"] for m in fresh]
    sqlite = isinstance(conn, sqlite3.Connection)
    mark = "?" if sqlite else "%s"
    marks = ", ".join([mark] * len(ids))
    if sqlite:
        conn.execute("BEGIN IMMEDIATE")
        cursor = conn.cursor()
    else:
        tx = conn.transaction()
        tx.__enter__()
        cursor = conn.cursor()
    try:
        cursor.execute(f"SELECT event_id FROM floor_applied WHERE event_id IN ({marks})", ids)
        seen = {row[0] for row in cursor.fetchall()}
        new = [m for m in fresh if m["conversation_id"] not in seen]
        counts: dict[tuple[str, str], int] = {}
        for m in new:
            counts[(m["tenant_id"], m["day"])] = counts.get((m["tenant_id"], m["day"]), 0) + 1
        cursor.executemany(
            f"INSERT INTO floor_applied VALUES ({mark})", [(m["conversation_id"],) for m in new]
        )
        cursor.executemany(
            f"INSERT INTO floor_counts VALUES ({mark}, {mark}, {mark}) "
            "ON CONFLICT (tenant_id, day) "
            "DO UPDATE SET assigned = floor_counts.assigned + excluded.assigned",
            [(t, d, c) for (t, d), c in counts.items()],
        )
    except BaseException as exc:
        if sqlite:
            conn.execute("ROLLBACK")
        else:
            tx.__exit__(type(exc), exc, exc.__traceback__)
        raise
    if sqlite:
        conn.execute("COMMIT")
    else:
        tx.__exit__(None, None, None)


# --- the driver --------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _create_topics(bootstrap: str, run: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(f"floor-{run}.{t}", PARTITIONS, 1) for t in ("inbound", "routed", "assigned")]
        )
    finally:
        await admin.close()


async def _drive(
    bootstrap: str, run: str, n: int, rate: float, tenants: int, stats_url: str, idle_s: float,
    pids: dict[str, int], broker_pid: int | None,
) -> dict[str, Any]:  # fmt: skip
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    watcher = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100
    )
    await watcher.start()
    watcher._fetcher._prefetch_backoff = 3600.0  # as shared.kafka.fetch_partitions_together
    tps = [TopicPartition(f"floor-{run}.assigned", p) for p in range(PARTITIONS)]
    watcher.assign(tps)
    await watcher.seek_to_end(*tps)
    for tp in tps:
        await watcher.position(tp)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=2
    )
    await producer.start()
    accepted: dict[str, float] = {}
    assigned: dict[str, float] = {}
    day = time.strftime("%Y-%m-%d")
    tenant_ids = [str(uuid.uuid4()) for _ in range(tenants)]

    async def watch() -> None:
        while True:
            batch = await watcher.getmany(timeout_ms=200, max_records=10_000)
            now = time.monotonic()
            for records in batch.values():
                for r in records:
                    assigned.setdefault(orjson.loads(r.value)["conversation_id"], now)

    watching = asyncio.create_task(watch())
    everyone = {**pids, **({"broker": broker_pid} if broker_pid else {})}
    idle_cpu = {}
    if idle_s > 0:  # the stages are up and subscribed: measure them doing nothing
        await asyncio.sleep(2)
        before = {k: cpu_seconds(p) for k, p in everyone.items()}
        await asyncio.sleep(idle_s)
        idle_cpu = {k: round((cpu_seconds(p) - before[k]) / idle_s, 3) for k, p in everyone.items()}

    def message(i: int) -> bytes:
        cid = str(uuid.uuid4())
        return cid, orjson.dumps(
            {
                "conversation_id": cid,
                "tenant_id": tenant_ids[i % tenants],
                "visitor_id": f"v{i}",
                "text": "Hallo, ik heb een vraag over mijn bestelling van gisteren.",
                "day": day,
            }
        )

    pending: set[asyncio.Future] = set()

    async def send(i: int) -> None:
        cid, value = message(i)
        key = tenant_ids[i % tenants].encode()
        future = await producer.send(f"floor-{run}.inbound", value, key=key)
        pending.add(future)

        def done(f: asyncio.Future, cid: str = cid) -> None:
            pending.discard(f)
            if not f.exception():
                accepted[cid] = time.monotonic()

        future.add_done_callback(done)

    before = {k: cpu_seconds(p) for k, p in everyone.items()}
    started = time.monotonic()
    if rate:
        for i in range(n):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await send(i)
    else:
        for i in range(n):
            await send(i)
            if len(pending) > 5000:
                await asyncio.sleep(0.001)
    while pending:
        await asyncio.sleep(0.01)
    deadline = time.monotonic() + 120
    while len(assigned) < n and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    last_assigned = max(assigned.values(), default=started)
    counted = 0
    while time.monotonic() < deadline:
        counted = stats_count(stats_url)
        if counted >= n:
            break
        await asyncio.sleep(0.02)
    counted_at = time.monotonic()
    cpu = {k: cpu_seconds(p) - before[k] for k, p in everyone.items()}
    watching.cancel()
    await producer.stop()
    await watcher.stop()
    latencies = [assigned[c] - accepted[c] for c in assigned if c in accepted]
    return {
        "messages": n,
        "assigned": len(assigned),
        "counted": counted,
        "throughput_per_s": round(len(assigned) / max(1e-9, last_assigned - started), 1),
        "counted_after_s": round(counted_at - started, 3),
        "latency_ms": {
            q: round(1000 * v, 1)
            for q, v in (("p50", percentile(latencies, 0.5)), ("p99", percentile(latencies, 0.99)))
            if v is not None
        },
        "cpu_ms_per_message": {k: round(1000 * v / max(1, n), 3) for k, v in cpu.items()},
        "idle_cores": idle_cpu,
    }


def stats_count(url: str) -> int:
    try:
        conn = connect(url)
    except Exception:
        return 0
    try:
        row = conn.execute("SELECT COALESCE(SUM(assigned), 0) FROM floor_counts").fetchone()
        return int(row[0])
    except Exception:
        return 0
    finally:
        conn.close()


def run_floor(
    bootstrap: str, n: int, rate: float = 0.0, database_urls: dict[str, str] | None = None,
    workdir: Path | None = None, tenants: int = 20, idle_s: float = 0.0,
    broker_pid: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Start the three stages, drive ``n`` messages through them, stop them; the figures."""
    run = uuid.uuid4().hex[:8]
    workdir = workdir or Path(tempfile.mkdtemp(prefix="floor-"))
    urls = database_urls or {r: f"sqlite:///{workdir / f'floor-{r}.sqlite'}" for r in ROLES}
    asyncio.run(_create_topics(bootstrap, run))
    processes = {
        role: subprocess.Popen(
            [sys.executable, __file__, "stage", role, bootstrap, run, urls.get(role, "")],
            stdout=open(workdir / f"floor-{role}.log", "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        for role in ROLES
    }
    try:
        time.sleep(1.0)
        for role, process in processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"floor {role} exited; see {workdir}/floor-{role}.log")
        pids = {f"floor-{r}": p.pid for r, p in processes.items()}
        return asyncio.run(
            _drive(bootstrap, run, n, rate, tenants, urls["stats"], idle_s, pids, broker_pid)
        )
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


def print_floor(result: dict[str, Any]) -> None:
    lat = result["latency_ms"]
    print(
        f"Floor (router -> event store -> stats upsert, no product logic): "
        f"{result['assigned']}/{result['messages']} assigned, {result['counted']} counted\n"
        f"  throughput {result['throughput_per_s']:.0f} msgs/s   latency ack -> assigned "
        f"p50 {lat.get('p50')} ms  p99 {lat.get('p99')} ms\n"
        "  CPU ms/msg: "
        + ", ".join(f"{k} {v:.3f}" for k, v in result["cpu_ms_per_message"].items())
        + (
            "\n  idle cores: " + ", ".join(f"{k} {v:.3f}" for k, v in result["idle_cores"].items())
            if result["idle_cores"]
            else ""
        ),
        flush=True,
    )


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "stage":
        role, bootstrap, run, url = sys.argv[2:6]
        asyncio.run(stage(role, bootstrap, run, url))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--messages", type=int, default=20000)
    parser.add_argument("--rate", type=float, default=0.0, help="open loop, msgs/s (0: closed)")
    parser.add_argument("--idle", type=float, default=0.0, help="seconds of idle CPU sampling")
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", ""))
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from shared.local_broker import LocalBroker

    broker = None if args.bootstrap else LocalBroker().start()
    try:
        bootstrap = args.bootstrap or broker.bootstrap_servers  # type: ignore[union-attr]
        result = run_floor(
            bootstrap, args.messages, args.rate, idle_s=args.idle,
            broker_pid=broker.pid if broker else None,
        )  # fmt: skip
        print_floor(result)
    finally:
        if broker:
            broker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
