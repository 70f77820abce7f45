"""A background loop that fails is restarted with backoff, and says so once per outage."""

from __future__ import annotations

import asyncio
import logging

import pytest
from tenacity import RetryCallState, wait_exponential_jitter

from shared import service
from shared.service import BackgroundTasks

FAST = wait_exponential_jitter(multiplier=0.01, max=0.05, jitter=0)


async def _run_failing(times: int) -> list[int]:
    calls: list[int] = []

    async def loop() -> None:
        calls.append(len(calls))
        if len(calls) <= times:
            raise ConnectionError("database away")

    tasks = BackgroundTasks()
    tasks.start("relay", loop)
    async with asyncio.timeout(10):
        while len(calls) <= times:
            await asyncio.sleep(0.01)
    await tasks.stop()
    return calls


async def test_restarts_until_it_runs_and_logs_the_outage_once(monkeypatch, caplog) -> None:
    monkeypatch.setattr(service, "RESTART_WAIT", FAST)
    caplog.set_level(logging.DEBUG, logger="shared.service")
    assert len(await _run_failing(4)) == 5
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    again = [r for r in caplog.records if r.getMessage() == "background task failed again"]
    assert len(errors) == 1 and errors[0].exc_info is not None
    assert errors[0].task == "relay"
    assert len(again) == 3


async def test_a_failure_after_a_healthy_run_is_a_new_outage(monkeypatch, caplog) -> None:
    monkeypatch.setattr(service, "RESTART_WAIT", FAST)
    monkeypatch.setattr(service, "HEALTHY_RUN_S", -1.0)  # every run counts as healthy
    caplog.set_level(logging.DEBUG, logger="shared.service")
    await _run_failing(3)
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 3


def test_the_pauses_grow_exponentially_up_to_a_bound() -> None:
    state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]
    pauses = []
    for attempt in range(1, 12):
        state.attempt_number = attempt
        pauses.append(service.RESTART_WAIT(state))
    assert pauses[0] < 2.0 and pauses[3] >= 4.0
    assert max(pauses) <= 11.0
    assert pytest.approx(min(pauses[-3:]), abs=1.0) == 10.0
