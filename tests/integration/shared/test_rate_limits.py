"""Login and password-link limits shared by every replica, counted against the client's
real address (docs/security.md, T3, S5's 200 "forgot password" requests)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import MetaData

from services.conversation.api import create_app
from services.conversation.bootstrap import ConversationService
from services.conversation.settings import ConversationSettings
from shared.ratelimit import Limit, SharedLimiter, rate_limit_table
from shared.readmodel import make_engine

ADDRESS = ("198.51.100.20", 40000)


def _same_window(seconds_needed: float = 15) -> None:
    """Start where the current minute has room left, so one fixed window holds the test."""
    left = 60 - time.time() % 60
    if left < seconds_needed:
        time.sleep(left + 0.2)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'limits.sqlite'}"
    server = request.getfixturevalue("postgres")
    name = f"limits_{uuid.uuid4().hex[:8]}"
    with server.connect(autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.url(name)


def test_two_replicas_counting_at_once_let_exactly_the_limit_through(database_url):
    """Two engines (two replicas) and eight threads on one database: never one too many."""
    metadata = MetaData()
    table = rate_limit_table(metadata)
    engines = [make_engine(database_url), make_engine(database_url)]
    metadata.create_all(engines[0])
    frozen = 1_800_000_000.5
    replicas = [SharedLimiter(e, table, clock=lambda: frozen) for e in engines]
    limit = Limit("test", 100, 60)
    allowed: list[bool] = []
    lock = threading.Lock()

    def hammer(limiter: SharedLimiter) -> None:
        for _ in range(40):
            verdict = limiter.hit(limit, "one key")
            with lock:
                allowed.append(verdict.allowed)

    threads = [threading.Thread(target=hammer, args=(replicas[n % 2],)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 320
    assert allowed.count(True) == limit.hits
    refused = replicas[0].hit(limit, "one key")
    assert not refused.allowed and refused.retry_after == 60  # 59.5 s left, rounded up
    assert replicas[1].hit(limit, "another key").allowed  # keys are counted apart
    for engine in engines:
        engine.dispose()


def test_batches_counted_at_once_by_two_replicas_keep_every_limit_exact(database_url):
    """Coalesced checks (one upsert per stage adding n hits) number the hits as if counted
    one by one: per visitor, per address and per site, never one too many, and a wider limit
    counts only what the narrower let through."""
    metadata = MetaData()
    table = rate_limit_table(metadata)
    engines = [make_engine(database_url), make_engine(database_url)]
    metadata.create_all(engines[0])
    frozen = 1_800_000_000.5
    replicas = [SharedLimiter(e, table, clock=lambda: frozen) for e in engines]
    visitor, address, site = Limit("v", 3), Limit("a", 25), Limit("k", 70)
    verdicts: list[tuple[int, bool]] = []
    lock = threading.Lock()

    def hammer(limiter: SharedLimiter, offset: int) -> None:
        for round_ in range(10):
            batch = []
            for n in range(8):  # visitors 0..19, each sends 8 times in all
                who = (offset + round_ * 8 + n) % 20
                batch.append([(visitor, f"v{who}"), (address, f"a{who % 2}"), (site, "site")])
            answers = limiter.hit_many(batch)
            with lock:
                verdicts.extend(
                    (int(checks[0][1][1:]), v.allowed)
                    for checks, v in zip(batch, answers, strict=True)
                )

    threads = [threading.Thread(target=hammer, args=(replicas[n % 2], n * 5)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(verdicts) == 320
    per_visitor = {v: sum(ok for who, ok in verdicts if who == v) for v in range(20)}
    assert all(count <= 3 for count in per_visitor.values())
    # 30 per address pass the visitor limit, 25 of them the address limit: 50 for the site
    for parity in (0, 1):
        assert sum(ok for who, ok in verdicts if who % 2 == parity) == 25
    assert not replicas[0].hit(visitor, "v0").allowed
    refused = replicas[1].hit_many([[(site, "site")]] * 21)
    assert [v.allowed for v in refused] == [True] * 20 + [False]  # 50 counted + 20 = 70
    assert refused[-1].retry_after == 60
    for engine in engines:
        engine.dispose()


@pytest.fixture
def replicas(kafka_bootstrap, tmp_path):  # type: ignore[no-untyped-def]
    """Two conversation replicas on one database (no broker needed for login)."""

    def replica(**overrides: object) -> TestClient:
        settings = ConversationSettings(
            data_dir=tmp_path,
            kafka_bootstrap_servers=kafka_bootstrap,
            login_attempts_per_account_per_minute=1000,
            login_attempts_per_address_per_minute=12,
            password_links_per_account_per_hour=3,
            password_links_per_address_per_hour=20,
            **overrides,  # type: ignore[arg-type]
        )
        service = ConversationService(settings, registry=CollectorRegistry())
        return TestClient(create_app(service), client=ADDRESS)

    return replica


def test_login_per_address_is_shared_by_the_replicas(replicas):
    one, two = replicas(), replicas()
    _same_window()
    statuses = [
        (one if n % 2 else two)
        .post("/v1/auth/login", json={"email": f"u{n}@x.example", "password": "whatever1"})
        .status_code
        for n in range(30)
    ]
    assert statuses.count(401) == 12  # wrong logins, counted once across both replicas
    assert statuses[12:] == [429] * 18
    refused = one.post("/v1/auth/login", json={"email": "z@x.example", "password": "whatever1"})
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["error"]["code"] == "rate_limited"


def test_two_hundred_forgot_password_requests_from_one_address_are_limited(replicas):
    one, two = replicas(), replicas()
    answers = [
        (one if n % 2 else two).post("/v1/auth/forgot-password", json={"email": f"f{n}@x.example"})
        for n in range(200)
    ]
    codes = [a.status_code for a in answers]
    assert codes.count(202) == 20
    assert codes[20:] == [429] * 180
    assert all(1 <= int(a.headers["Retry-After"]) <= 3600 for a in answers[20:])


def test_forgot_password_is_limited_per_account_from_many_addresses(replicas):
    one = replicas(forwarded_allow_ips=ADDRESS[0])  # the test is the trusted proxy
    codes = [
        one.post(
            "/v1/auth/forgot-password",
            json={"email": "victim@x.example"},
            headers={"X-Forwarded-For": f"203.0.113.{n}"},
        ).status_code
        for n in range(1, 11)
    ]
    assert codes == [202] * 3 + [429] * 7  # a mailbox is not flooded from many addresses


def test_forwarded_addresses_count_only_from_a_trusted_proxy(replicas):
    _same_window()
    behind_proxy = replicas(forwarded_allow_ips=ADDRESS[0])
    untrusted = replicas()  # 127.0.0.1 only: the client's X-Forwarded-For is ignored

    def attempts(client: TestClient, tag: str) -> list[int]:
        return [
            client.post(
                "/v1/auth/login",
                json={"email": f"{tag}{n}@x.example", "password": "whatever1"},
                headers={"X-Forwarded-For": f"192.0.2.{n}"},
            ).status_code
            for n in range(1, 21)
        ]

    assert attempts(behind_proxy, "p") == [401] * 20  # twenty clients, one attempt each
    # Untrusted: a forged header does not buy fresh addresses; all count as the peer.
    assert attempts(untrusted, "u").count(429) == 20 - 12
