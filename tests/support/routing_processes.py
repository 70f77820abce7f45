"""Routing as real processes for the integration tests: start one on a free port, wait until
it is ready, read how many events it applied, stop it (SIGTERM or SIGKILL); and send
envelopes to a topic keyed as the services key them."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer

from shared import events as ev
from shared.events import Envelope
from shared.local_broker import free_port

CHANNEL = uuid.UUID("c0000000-0000-4000-8000-0000000000aa")


def agent(user_id: uuid.UUID) -> ev.EndUserCreated:
    """An Agent of the test channel who speaks Dutch."""
    return ev.EndUserCreated(
        user_id=user_id,
        first_name="A",
        last_name="N",
        email=f"{user_id.hex}@example.com",
        role="agent",
        mother_tongue="nl",
        languages=["nl"],
        channel_ids=[CHANNEL],
    )


class Instance:
    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.port = free_port()
        self.log = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.routing"],
            env={**os.environ, **env, "HTTP_PORT": str(self.port)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    async def wait_ready(self) -> None:
        async with httpx.AsyncClient() as client:
            while True:
                assert self.process.poll() is None, "routing process died"
                try:
                    if (await client.get(f"http://127.0.0.1:{self.port}/ready")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)

    async def applied(self) -> float:
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{self.port}/metrics")).text
        found = re.search(r'interact_events_applied_total\{service="routing"\} ([0-9.e+]+)', text)
        return float(found.group(1)) if found else 0.0

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(30)
        self.log.close()


async def send(producer: AIOKafkaProducer, topic: str, envelopes: list[Envelope]) -> None:
    for envelope in envelopes:
        await producer.send(topic, envelope.to_bytes(), key=envelope.key)
    await producer.flush()
