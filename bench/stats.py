#!/usr/bin/env python
"""Benchmark of the statistics dashboard: report queries over 1,000,000 conversations.

Starts a throw-away PostgreSQL cluster (as the tests do; or ``--database-url``), creates
the stats view's tables, and bulk-loads with COPY a view of N conversations (default
1,000,000): one large tenant with ``--big`` of them over two years, the rest spread over
small tenants over one year. Facts, topics and handlers are generated; the rollups are
computed from them by the service's own ``contributions`` function, exactly what the
projector writes. Then every dashboard report is run (the same function the API calls:
SQL plus folding) for the large tenant and for small ones, with day/week/month buckets,
with and without a channel filter, and the latencies are reported.

Target: p99 under 100 ms per report query. Figures are printed and written to
``bench/results/stats-<timestamp>.json``.

    .venv/bin/python bench/stats.py                  # 1,000,000 conversations
    .venv/bin/python bench/stats.py -n 200000 --big 100000 --repeat 20
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, select, text  # noqa: E402

from services.stats.application import reports  # noqa: E402
from services.stats.domain import contributions as contrib  # noqa: E402
from services.stats.domain.buckets import Period, zone  # noqa: E402
from services.stats.domain.facts import ConversationFact  # noqa: E402
from services.stats.store import (  # noqa: E402
    ROLLUPS,
    conversation_facts,
    conversation_handlers,
    conversation_topics,
    metadata,
    tenants,
)
from services.stats.store.access import FACT_COLUMNS  # noqa: E402
from services.stats.store.view import Reader  # noqa: E402

TARGET_P99_MS = 100.0
#: (bucket, days up to the last day): the default 30 days, a quarter, and the longest
#: periods the API accepts per bucket size.
CASES = (("day", 30), ("day", 92), ("week", 366), ("week", 732), ("month", 730), ("month", 1830))
CHANNELS = ("messenger", "page_comments", "whatsapp", "webchat")
TOPICS = ("Billing", "Returns", "Delivery", "Complaints", "Opening hours", "Prices")
ZONES = ("Europe/Brussels", "America/New_York", "Asia/Kolkata", "UTC")
END = date(2026, 11, 25)
# Visitors write more by day: weight per local hour.
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 10, 9, 8, 9, 10, 10, 9, 8, 7, 6, 5, 4, 3, 2]


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def facts_of(rng: random.Random, tenant_id: str, tz_name: str, n: int, days: int, bot: bool):  # type: ignore[no-untyped-def]
    tz = zone(tz_name)
    agents = [str(uuid.uuid4()) for _ in range(20)]
    first_day = END - timedelta(days=days - 1)
    hours = rng.choices(range(24), HOUR_WEIGHTS, k=n)
    for i in range(n):
        day = first_day + timedelta(days=rng.randrange(days))
        local = datetime(day.year, day.month, day.day, hours[i], rng.randrange(60), tzinfo=tz)
        opened = local.astimezone(UTC)
        is_bot = bot and rng.random() < 0.5
        f = ConversationFact(
            conversation_id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            channel_type=rng.choice(CHANNELS),
            language="nl",
            opened_at=opened,
            bot_active=is_bot,
            messages_in=1 + min(int(rng.expovariate(0.4)), 40),
            messages_out=min(int(rng.expovariate(0.5)), 40),
        )
        if is_bot and rng.random() < 0.4:
            f.handover_requested_at = opened + timedelta(seconds=rng.randrange(5, 120))
            f.human_at = f.handover_requested_at + timedelta(seconds=rng.randrange(5, 600))
        wanted = f.human_wanted_at
        if wanted is not None and rng.random() < 0.9:
            f.first_assigned_at = wanted + timedelta(seconds=rng.randrange(0, 5))
            f.assignee_id = rng.choice(agents)
            f.first_taken_at = wanted + timedelta(seconds=rng.randrange(5, 900))
            f.first_response_at = f.first_taken_at + timedelta(seconds=rng.randrange(5, 300))
            f.handlers = {f.assignee_id: f.messages_out or 1}
            if rng.random() < 0.1:
                f.handlers[rng.choice(agents)] = 1
        if rng.random() < 0.85:
            f.closed_at = opened + timedelta(seconds=rng.randrange(600, 7200))
            f.topics = tuple(sorted(rng.sample(TOPICS, rng.choice((0, 1, 1, 1, 2)))))
        yield f


def load(url: str, n: int, big: int, small_size: int, seed: int) -> tuple[str, list[str], dict]:
    import psycopg

    rng = random.Random(seed)
    engine = create_engine(url)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    engine.dispose()
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    big_tenant = str(uuid.uuid4())
    plan: list[tuple[str, str, int, int]] = [(big_tenant, "Europe/Brussels", big, 730)]
    rest = n - big
    while rest > 0:
        size = min(small_size, rest)
        plan.append((str(uuid.uuid4()), rng.choice(ZONES), size, 365))
        rest -= size
    began = time.monotonic()
    rows = dict.fromkeys(["facts", "topics", "handlers", *ROLLUPS], 0)
    with psycopg.connect(plain, autocommit=False) as conn:
        for k, (tenant_id, tz_name, size, days) in enumerate(plan):
            with conn.cursor() as cur:
                cur.execute(
                    "INSERT INTO tenants (tenant_id, time_zone, plan) VALUES (%s, %s, 'bot')",
                    (tenant_id, tz_name),
                )
            tz = zone(tz_name)
            totals: dict = {}
            with conn.cursor() as cur:
                facts_copy = f"COPY conversation_facts ({', '.join(FACT_COLUMNS)}) FROM STDIN"
                with cur.copy(facts_copy) as copy:
                    topics_rows, handler_rows = [], []
                    for f in facts_of(rng, tenant_id, tz_name, size, days, bot=True):
                        copy.write_row([getattr(f, c) for c in FACT_COLUMNS])
                        topics_rows += [(f.conversation_id, t, tenant_id) for t in f.topics]
                        handler_rows += [
                            (f.conversation_id, u, tenant_id, m) for u, m in f.handlers.items()
                        ]
                        contrib.add(totals, contrib.contributions(f, tz))
                _copy(
                    cur,
                    conversation_topics.name,
                    ["conversation_id", "topic", "tenant_id"],
                    topics_rows,
                )
                _copy(
                    cur,
                    conversation_handlers.name,
                    ["conversation_id", "user_id", "tenant_id", "messages_sent"],
                    handler_rows,
                )
                rows["facts"] += size
                rows["topics"] += len(topics_rows)
                rows["handlers"] += len(handler_rows)
                per_table: dict[str, list] = {}
                for (name, key), counters in totals.items():
                    per_table.setdefault(name, []).append((key, counters))
                for name, items in per_table.items():
                    table = ROLLUPS[name]
                    keys = [c.name for c in table.primary_key.columns]
                    others = [c.name for c in table.columns if c.name not in keys]
                    _copy(
                        cur,
                        name,
                        keys + others,
                        [(*key, *(counters.get(c, 0) for c in others)) for key, counters in items],
                    )
                    rows[name] += len(items)
            conn.commit()
            if k == 0 or k % 20 == 0:
                log(f"loaded tenant {k + 1}/{len(plan)}: {rows['facts']:,} conversations")
        with conn.cursor() as cur:
            conn.commit()
            conn.autocommit = True
            cur.execute("VACUUM ANALYZE")
    seconds = time.monotonic() - began
    log(f"loaded {rows['facts']:,} conversations in {seconds:.0f} s: {rows}")
    return big_tenant, [t for t, *_ in plan[1:]], {"rows": rows, "load_seconds": round(seconds, 1)}


def _copy(cur, table: str, columns: list[str], rows: list) -> None:  # type: ignore[no-untyped-def]
    if not rows:
        return
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def measure(url: str, big: str, small: list[str], repeat: int) -> dict:
    engine = create_engine(url, pool_size=2)
    cases = []
    for name in reports.REPORTS:
        for bucket, days in CASES:
            for channel in (None, "webchat"):
                cases.append((name, bucket, days, channel))
    results: dict[str, dict] = {}
    everything: list[float] = []
    rng = random.Random(1)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        for name, bucket, days, channel in cases:
            for label, tenant_pick in (("big", lambda: big), ("small", lambda: rng.choice(small))):
                timings = []
                for i in range(repeat + 2):
                    period = Period(END - timedelta(days=days - 1), END, bucket)
                    f = reports.Filters(tenant_pick(), period, channel)
                    began = time.perf_counter()
                    report = reports.REPORTS[name](Reader(conn), f)
                    elapsed = (time.perf_counter() - began) * 1000
                    if i >= 2:  # two warm-up runs
                        timings.append(elapsed)
                key = f"{name} bucket={bucket} days={days} channel={channel or '-'} tenant={label}"
                results[key] = _figures(timings) | {"series_rows": len(report.series)}
                everything += timings
                conn.rollback()
    engine.dispose()
    return {"cases": results, "overall": _figures(everything)}


def _figures(ms: list[float]) -> dict:
    ordered = sorted(ms)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2)

    return {
        "n": len(ms),
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": round(ordered[-1], 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--conversations", type=int, default=1_000_000)
    parser.add_argument("--big", type=int, default=500_000, help="conversations of the big tenant")
    parser.add_argument("--small-size", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=30, help="runs per query case")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--database-url", default="", help="an existing PostgreSQL database")
    args = parser.parse_args()

    from tests.support.postgres import PostgresCluster

    cluster = None
    url = args.database_url
    if not url:
        cluster = PostgresCluster().start()
        cluster.create_database("stats_bench")
        url = cluster.url("stats_bench")
        log(f"PostgreSQL cluster on port {cluster.port}")
    try:
        big, small, loaded = load(url, args.conversations, args.big, args.small_size, args.seed)
        engine = create_engine(url)
        with engine.connect() as conn:
            check = conn.scalar(select(func.count()).select_from(conversation_facts))
            tenants_n = conn.scalar(select(func.count()).select_from(tenants))
            server = conn.scalar(text("SHOW server_version"))
        engine.dispose()
        log(f"{check:,} conversations of {tenants_n} tenants; PostgreSQL {server}")
        measured = measure(url, big, small, args.repeat)
    finally:
        if cluster is not None:
            cluster.stop()

    worst = max(measured["cases"].items(), key=lambda kv: kv[1]["p99_ms"])
    for key, figures in measured["cases"].items():
        print(f"  {key:<75} p50 {figures['p50_ms']:7.2f}  p99 {figures['p99_ms']:7.2f} ms")
    overall = measured["overall"]
    ok = worst[1]["p99_ms"] < TARGET_P99_MS
    print(
        f"\nall report queries: n={overall['n']} p50 {overall['p50_ms']} ms, p95 {overall['p95_ms']} ms, "
        f"p99 {overall['p99_ms']} ms, max {overall['max_ms']} ms"
    )
    print(
        f"worst case p99: {worst[1]['p99_ms']} ms ({worst[0]}); target < {TARGET_P99_MS} ms: {'MET' if ok else 'MISSED'}"
    )
    result = {
        "benchmark": "stats",
        "at": datetime.now(UTC).isoformat(),
        "conversations": args.conversations,
        "big_tenant_conversations": args.big,
        "small_tenant_size": args.small_size,
        "repeat": args.repeat,
        "postgres": server,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "load": loaded,
        "overall": overall,
        "worst_case": {"case": worst[0], **worst[1]},
        "target_p99_ms": TARGET_P99_MS,
        "target_met": ok,
        "cases": measured["cases"],
    }
    out = ROOT / "bench" / "results" / f"stats-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"written {out.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
