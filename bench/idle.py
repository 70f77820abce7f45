#!/usr/bin/env python
"""What the stack costs doing nothing: CPU of every process (and its busiest threads) over a
window without traffic, read from ``/proc``.

    .venv/bin/python bench/idle.py --seconds 60            # fresh stack, SQLite
    .venv/bin/python bench/idle.py --postgres --seconds 60
    .venv/bin/python bench/e2e.py --idle 60                 # the same, from the e2e bench

Starts a fresh stack (the Kafka node, the six services, the gateway, the mail sink), seeds the
demo tenant, lets it settle (consumer groups joined, first relay and sweeper rounds done), then
reads utime+stime of every process and of each of its threads at the start and the end of the
window. Printed: cores per process and the sum, against the target of 0.05 cores in all, and
the threads that burned the most (the JVM names its threads, so the broker's own timers show by
name). ``--profile`` runs ``py-spy record`` (busy samples only) on the services during the window as well.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_IDLE_CORES = 0.05  # the whole stack, broker included
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(path: Path) -> tuple[str, float] | None:
    """(thread or process name, utime+stime seconds) from a /proc stat file."""
    try:
        raw = path.read_text()
    except OSError:
        return None
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw.rsplit(")", 1)[1].split()
    return name, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Sample:
    process: float
    threads: dict[int, tuple[str, float]]
    wakeups: int  # voluntary context switches of all threads: how often it blocked and woke


def sample(pid: int) -> Sample | None:
    """The process's CPU seconds (its own, not its children's) and each live thread's."""
    whole = _stat(Path(f"/proc/{pid}/stat"))
    if whole is None:
        return None
    threads, wakeups = {}, 0
    for task in Path(f"/proc/{pid}/task").glob("*"):
        found = _stat(task / "stat")
        if found is not None:
            threads[int(task.name)] = found
        try:
            status = (task / "status").read_text()
        except OSError:
            continue
        wakeups += int(status.split("voluntary_ctxt_switches:")[1].split()[0])
    return Sample(whole[1], threads, wakeups)


def measure(pids: dict[str, int], seconds: float) -> dict[str, Any]:
    """CPU of each named process over ``seconds``, with its threads that used any."""
    before = {name: sample(pid) for name, pid in pids.items()}
    started = time.monotonic()
    time.sleep(seconds)
    after = {name: sample(pid) for name, pid in pids.items()}
    wall = time.monotonic() - started
    result: dict[str, Any] = {"wall_s": round(wall, 2), "processes": {}}
    for name in pids:
        first, last = before[name], after[name]
        if first is None or last is None:
            result["processes"][name] = {"cpu_s": None, "cores": None, "threads": {}}
            continue
        threads: dict[str, float] = {}
        for tid, (thread_name, cpu) in last.threads.items():
            used = cpu - first.threads.get(tid, (thread_name, 0.0))[1]
            if used > 0:
                key = f"{thread_name}"
                threads[key] = threads.get(key, 0.0) + used
        used = last.process - first.process
        result["processes"][name] = {
            "cpu_s": round(used, 3),
            "cores": round(used / wall, 4),
            # threads that ended in the window are missed; fine for a rate
            "wakeups_per_s": round(max(0, last.wakeups - first.wakeups) / wall, 1),
            "threads": {k: round(v, 3) for k, v in sorted(threads.items(), key=lambda kv: -kv[1])},
        }
    result["total_cores"] = round(sum(p["cores"] or 0.0 for p in result["processes"].values()), 4)
    return result


def report(result: dict[str, Any], top_threads: int = 4) -> str:
    lines = [
        f"Idle stack, {result['wall_s']:.0f} s without traffic "
        f"(target <= {TARGET_IDLE_CORES} cores in all, broker included):"
    ]
    processes = sorted(result["processes"].items(), key=lambda kv: -(kv[1]["cores"] or 0))
    for name, figures in processes:
        if figures["cores"] is None:
            lines.append(f"  {name:<13} (exited)")
            continue
        busiest = ", ".join(
            f"{thread} {cpu:.2f}s" for thread, cpu in list(figures["threads"].items())[:top_threads]
        )
        lines.append(
            f"  {name:<13} {figures['cores']:.4f} cores  ({figures['cpu_s']:.2f} s CPU, "
            f"{figures['wakeups_per_s']:.0f} wakeups/s)   {busiest}"
        )
    verdict = "ok" if result["total_cores"] <= TARGET_IDLE_CORES else "ABOVE TARGET"
    lines.append(f"  {'in all':<13} {result['total_cores']:.4f} cores  {verdict}")
    return "\n".join(lines)


def _py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return found if Path(found).exists() else None


def run(
    seconds: float,
    settle: float = 20.0,
    postgres: bool = False,
    profile: list[str] | None = None,
    service_env: dict[str, str] | None = None,
    results_dir: Path | None = None,
    keep_data: bool = False,
) -> dict[str, Any]:
    """Start a fresh stack, let it settle, measure it idle; stop it. Returns the figures."""
    from services.stack import SERVICES, Stack, seed_demo
    from shared.local_broker import free_port

    data_dir = Path(tempfile.mkdtemp(prefix="interact-idle-"))
    pg = None
    database_urls: dict[str, str] = {}
    if postgres:
        from tests.support.postgres import postgres_from_env_or_local

        pg = postgres_from_env_or_local()
        pg.start()
        suffix = uuid.uuid4().hex[:6]
        for name in SERVICES:
            if name != "gateway":
                pg.create_database(f"idle_{name}_{suffix}")
                database_urls[name] = pg.url(f"idle_{name}_{suffix}")
    stack = Stack(
        data_dir,
        ports={name: free_port() for name in SERVICES},
        env=dict(service_env or {}),
        database_urls=database_urls,
    )
    spies: list[tuple[str, subprocess.Popen[bytes], Path]] = []
    try:
        stack.start()
        seed_demo(stack)
        pids = {name: process.pid for name, process in stack.processes.items()}
        if stack.broker is not None and stack.broker.pid is not None:
            pids["broker"] = stack.broker.pid
        if stack.mail_sink is not None:
            pids["mail-sink"] = stack.mail_sink.pid
        print(f"stack up in {data_dir}; settling {settle:.0f} s", file=sys.stderr, flush=True)
        time.sleep(settle)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out_dir = results_dir or ROOT / "bench" / "results"
        py_spy = _py_spy() if profile else None
        for name in profile or []:
            if py_spy and name in pids:
                out_dir.mkdir(parents=True, exist_ok=True)
                path = out_dir / f"idle-profile-{name}-{stamp}.txt"
                command = [py_spy, "record", "--pid", str(pids[name]), "--format", "raw",
                           "--rate", "100", "--nonblocking", "--threads",
                           "--duration", str(int(seconds)), "-o", str(path)]  # fmt: skip
                spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                spies.append((name, spy, path))
        result = measure(pids, seconds)
        result["database"] = "postgresql" if postgres else "sqlite"
        result["service_env"] = service_env or {}
        result["profiles"] = {}
        for name, spy, path in spies:
            spy.wait(timeout=seconds + 30)
            if path.exists():
                result["profiles"][name] = str(path)
        return result
    finally:
        for _name, spy, _path in spies:
            if spy.poll() is None:
                spy.send_signal(signal.SIGINT)
                spy.wait(10)
        stack.stop()
        if pg is not None:
            pg.stop()
        if keep_data:
            print(f"data kept in {data_dir}", file=sys.stderr)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="window measured (60)")
    parser.add_argument("--settle", type=float, default=20.0, help="wait before it (20)")
    parser.add_argument("--postgres", action="store_true", help="a PostgreSQL database each")
    parser.add_argument(
        "--profile", default="", help="comma-separated services to py-spy during the window"
    )
    parser.add_argument(
        "--service-env", action="append", default=[], metavar="KEY=VALUE",
        help="extra environment for the services (repeatable)",
    )  # fmt: skip
    parser.add_argument("--keep-data", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    result = run(
        args.seconds,
        settle=args.settle,
        postgres=args.postgres,
        profile=[p for p in args.profile.split(",") if p],
        service_env=dict(item.split("=", 1) for item in args.service_env),
        keep_data=args.keep_data,
    )
    print(report(result), flush=True)
    if result["profiles"]:
        from pyspy_summary import render, summarize

        for name, path in result["profiles"].items():
            print(
                render(summarize(path, 12), title=f"py-spy {name} (busy samples only)"), flush=True
            )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if result["total_cores"] <= TARGET_IDLE_CORES else 2


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "bench"))
    sys.exit(main())
