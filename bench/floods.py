#!/usr/bin/env python
"""Flood benchmark (S5): how a normal website-chat request fares while one address floods.

Ingest runs in this process under uvicorn on the real broker (the embedded one unless
``KAFKA_BOOTSTRAP_SERVERS`` is set) and SQLite; this script is the trusted proxy
(``FORWARDED_ALLOW_IPS=127.0.0.1``) in front of many clients:

1. ``baseline``: normal messages, one per visitor, from many addresses, to tenant B's widget;
2. ``flood``: the same while a flooder sends as fast as ``--flooders`` connections allow
   from one address to tenant A's widget (all but the limit get 429).

Printed (and written to bench/results/floods-<timestamp>.json): the p50/p99 of a normal
request in both phases and their ratio, and how many flood messages were let in (the
limit per minute) versus refused.

    .venv/bin/python bench/floods.py --normal 300 --flooders 8 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn
from aiokafka import AIOKafkaProducer

os.environ.setdefault("INTERACT_ENV", "development")

from services.ingest.api import webchat as webchat_api
from services.ingest.api import webchat_messages as api
from services.ingest.consumers import webchat
from services.ingest.settings import WebchatSettings
from services.ingest.store import channels as store
from shared import events as ev
from shared import topics
from shared.consumer_service import ConsumerService, ConsumerServiceSettings
from shared.local_broker import LocalBroker, free_port


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def connect_channel(bootstrap: str, chat: webchat_api.Webchat) -> str:
    key = f"wc-{uuid.uuid4().hex}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        envelope = ev.Envelope.wrap(
            ev.ChannelConnected(
                channel_id=uuid.uuid4(),
                channel_type="webchat",
                name="Website",
                public_key=key,
                allowed_origins=[],
            ),
            tenant_id=uuid.uuid4(),
        )
        await producer.send_and_wait(topics.DIRECTORY_EVENTS, envelope.to_bytes(), key=envelope.key)
    finally:
        await producer.stop()
    async with asyncio.timeout(60):
        while await asyncio.to_thread(chat.channels.get, key) is None:
            await asyncio.sleep(0.1)
    return key


async def normal_requests(client: httpx.AsyncClient, key: str, n: int) -> list[float]:
    took = []
    for i in range(n):
        start = time.perf_counter()
        response = await client.post(
            f"/v1/webchat/{key}/messages",
            json={"visitor_id": f"visitor-{uuid.uuid4().hex}", "text": "Hallo"},
            headers={"X-Forwarded-For": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"},
        )
        took.append(time.perf_counter() - start)
        assert response.status_code == 202, response.text
    return took


async def flood(client: httpx.AsyncClient, key: str, stop: asyncio.Event, counts: dict) -> None:
    while not stop.is_set():
        response = await client.post(
            f"/v1/webchat/{key}/messages",
            json={"visitor_id": "flooder-visitor", "text": "spam"},
            headers={"X-Forwarded-For": "198.51.100.66"},
        )
        counts[response.status_code] = counts.get(response.status_code, 0) + 1


async def run(args: argparse.Namespace, bootstrap: str, data_dir: Path) -> dict:
    port = free_port()
    settings = ConsumerServiceSettings(
        service_name="ingest",
        kafka_bootstrap_servers=bootstrap,
        kafka_enable_idempotence=bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")),
        data_dir=data_dir,
        http_port=port,
        forwarded_allow_ips="127.0.0.1",
    )
    service = ConsumerService(settings, store.metadata)
    chat = webchat.install(service, WebchatSettings(group_id=f"bench-{uuid.uuid4().hex[:8]}"))
    app = service.create_app("Interact ingest", [api.router, webchat_api.router])
    app.state.webchat = chat
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        flooded, normal = (
            await connect_channel(bootstrap, chat),
            await connect_channel(bootstrap, chat),
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            await normal_requests(client, normal, 20)  # warm up
            baseline = await normal_requests(client, normal, args.normal)
            stop, counts = asyncio.Event(), {}
            flooders = [
                asyncio.create_task(flood(client, flooded, stop, counts))
                for _ in range(args.flooders)
            ]
            started = time.perf_counter()
            during = await normal_requests(client, normal, args.normal)
            await asyncio.sleep(max(0.0, args.seconds - (time.perf_counter() - started)))
            stop.set()
            await asyncio.gather(*flooders)
            elapsed = time.perf_counter() - started
    finally:
        server.should_exit = True
        await task
    return {
        "normal_requests": args.normal,
        "baseline_p50_ms": round(pct(baseline, 0.50), 2),
        "baseline_p99_ms": round(pct(baseline, 0.99), 2),
        "flood_p50_ms": round(pct(during, 0.50), 2),
        "flood_p99_ms": round(pct(during, 0.99), 2),
        "p99_ratio": round(pct(during, 0.99) / pct(baseline, 0.99), 2),
        "flood_seconds": round(elapsed, 1),
        "flood_requests": sum(counts.values()),
        "flood_let_in_202": counts.get(202, 0),
        "flood_refused_429": counts.get(429, 0),
        "flood_limit_per_minute": chat.limits.per_visitor.hits,
        "mean_normal_ms": round(statistics.mean(during) * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--normal", type=int, default=300, help="normal requests per phase")
    parser.add_argument("--flooders", type=int, default=8, help="concurrent flood connections")
    parser.add_argument("--seconds", type=float, default=15.0, help="least flood duration")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            bootstrap = stack.enter_context(LocalBroker()).bootstrap_servers
        results = asyncio.run(run(args, bootstrap, Path(tmp)))
    for name, value in results.items():
        print(f"{name:>24}: {value}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (out / f"floods-{stamp}.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
