#!/usr/bin/env python
"""Login timing bands (S4): the time of a failed login for an unknown email, a wrong
password, a locked account and a deactivated one, in-process on SQLite.

Each case is one Argon2 check (tests/integration/conversation/test_login_hardening.py counts them);
this prints what that means in time: p50/p90/p99 per case and the largest p50 ratio
between cases (1.0 = indistinguishable).

    .venv/bin/python bench/login_timing.py --samples 60
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("INTERACT_ENV", "development")

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from services.conversation.api import create_app
from services.conversation.bootstrap import ConversationService
from services.conversation.settings import ConversationSettings

PASSWORD = "correct horse battery"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        svc = ConversationService(
            ConversationSettings(
                data_dir=Path(tmp),
                login_attempts_per_account_per_minute=1_000_000,
                login_attempts_per_address_per_minute=1_000_000,
            ),
            CollectorRegistry(),
        )
        tenant = svc.directory.create_tenant("Timing", "pro")
        emails = {}
        for case in ("wrong", "locked", "inactive"):
            emails[case] = f"{case}@timing.example"
            user = svc.directory.create_end_user(tenant, "A", "B", emails[case], "agent", "nl")
            svc.security.set_password(str(tenant), str(user), PASSWORD)
            if case == "inactive":
                svc.directory.deactivate_end_user(tenant, user)
        svc.projector.catch_up_now()
        emails["unknown"] = "nobody@timing.example"
        client = TestClient(create_app(svc))
        for _ in range(6):  # lock
            client.post("/v1/auth/login", json={"email": emails["locked"], "password": "x" * 9})
        times: dict[str, list[float]] = {case: [] for case in emails}
        for _ in range(args.samples):
            for case, email in emails.items():
                password = "wrong password" if case == "wrong" else PASSWORD
                start = time.perf_counter()
                answer = client.post("/v1/auth/login", json={"email": email, "password": password})
                times[case].append((time.perf_counter() - start) * 1000)
                assert answer.status_code == 401, (case, answer.text)
    results: dict[str, object] = {}
    for case, values in times.items():
        q = statistics.quantiles(values, n=100)
        results[case] = {
            "p50_ms": round(q[49], 2),
            "p90_ms": round(q[89], 2),
            "p99_ms": round(q[98], 2),
        }
    p50s = [r["p50_ms"] for r in results.values()]  # type: ignore[index]
    results["max_p50_ratio"] = round(max(p50s) / min(p50s), 3)
    for name, value in results.items():
        print(f"{name:>14}: {value}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (out / f"login-timing-{stamp}.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
