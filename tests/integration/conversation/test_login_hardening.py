"""S4 (OWASP ASVS 5.0 ch. 6 and 7): login and password links give nothing away and hold per
account (docs/security.md, T4).

- every failure (unknown, wrong, locked, inactive, ended contract) has the same status and
  body and costs exactly one Argon2 check (counted, not timed: timing bands are in
  bench/floods.py);
- "forgot password" answers before the mail is sent (the SMTP server is held);
- a new password revokes every outstanding link; links are >= 128 bits, stored hashed;
- the same email in two tenants: each account has its own link, lockout and reset.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from argon2 import PasswordHasher
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from services.conversation.api import create_app
from services.conversation.application import security
from services.conversation.bootstrap import ConversationService
from services.conversation.settings import ConversationSettings
from services.conversation.store import tables as t
from shared.local_broker import free_port
from tests.support.tenants import OPERATOR, PASSWORD, MailSink, new_tenant

FAILURES = ("unknown", "wrong", "locked", "inactive", "ended_contract")


def _token(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


def _links(mail, address: str, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 10
    while len(mail.links_to(address)) < count:
        assert time.monotonic() < deadline, f"expected {count} mails for {address}"
        time.sleep(0.05)
    return mail.links_to(address)


@pytest.fixture
def argon2_checks(monkeypatch):  # type: ignore[no-untyped-def]
    calls: list[int] = []

    class Counted(PasswordHasher):
        def verify(self, hashed, password):  # type: ignore[no-untyped-def, override]
            calls.append(1)
            return super().verify(hashed, password)

    real = security.HASHER
    hasher = Counted(real.time_cost, real.memory_cost, real.parallelism)
    monkeypatch.setattr(security, "HASHER", hasher)
    return calls


def test_every_failure_looks_alike_and_costs_one_argon2_check(portal, argon2_checks):
    tenants = {case: new_tenant(portal) for case in FAILURES}
    email = {case: tenants[case].emails["agent"] for case in FAILURES}
    email["unknown"] = "nobody-at-all@nowhere.example"
    for _ in range(5):  # lock
        portal.post("/v1/auth/login", json={"email": email["locked"], "password": "wrong pw 1"})
    inactive = tenants["inactive"]
    assert (
        portal.post(
            f"/v1/users/{inactive.users['agent']}/deactivation",
            headers=inactive.tokens["administrator"],
        ).status_code
        < 300
    )
    ended = datetime.now(UTC) - timedelta(seconds=1)
    portal.post(
        f"/v1/operator/tenants/{tenants['ended_contract'].tenant_id}/termination",
        headers=OPERATOR,
        json={"contract_end": ended.isoformat()},
    )
    answers = {}
    for case in FAILURES:
        argon2_checks.clear()
        password = "wrong pw 2" if case == "wrong" else PASSWORD  # the right one otherwise
        answer = portal.post("/v1/auth/login", json={"email": email[case], "password": password})
        answers[case] = (answer.status_code, answer.json(), sorted(answer.headers.keys()))
        assert len(argon2_checks) == 1, f"{case}: {len(argon2_checks)} Argon2 checks"
    assert len({repr(a) for a in answers.values()}) == 1, answers
    assert answers["unknown"][0] == 401


def test_a_new_password_revokes_every_outstanding_link(portal, mail):
    tenant = new_tenant(portal)
    address = tenant.emails["manager"]
    for _ in range(3):
        assert portal.post("/v1/auth/forgot-password", json={"email": address}).status_code == 202
    first, second, third = _links(mail, address, 3)
    assert len({first, second, third}) == 3
    used = portal.post(
        "/v1/auth/reset-password", json={"token": _token(second), "password": "brand new pw 1"}
    )
    assert used.status_code == 204
    for link in (first, second, third):
        again = portal.post(
            "/v1/auth/reset-password", json={"token": _token(link), "password": "brand new pw 2"}
        )
        assert again.status_code == 400
        assert again.json()["error"]["code"] == "invalid_reset_token"


def test_links_carry_at_least_128_bits_and_only_their_hash_is_stored(portal, mail):
    tenant = new_tenant(portal)
    address = tenant.emails["analyst"]
    portal.post("/v1/auth/forgot-password", json={"email": address})
    token = _token(_links(mail, address, 1)[-1])
    assert len(token) * 6 >= 128  # url-safe base64: 6 bits a character
    with portal.app.state.service.engine.connect() as conn:
        stored = conn.scalars(
            select(t.reset_tokens.c.token_hash).where(
                t.reset_tokens.c.user_id == tenant.users["analyst"]
            )
        ).all()
    assert security.token_hash(token) in stored
    assert token not in stored


def test_one_email_in_two_tenants_is_two_accounts_with_their_own_lockout_and_reset(portal, mail):
    a, b = new_tenant(portal), new_tenant(portal)
    shared_email = f"twice-{a.tenant_id[:8]}@both.example"
    for tenant in (a, b):
        created = portal.post(
            "/v1/users",
            headers=tenant.tokens["administrator"],
            json={
                "first_name": "Twice",
                "last_name": "Here",
                "email": shared_email,
                "role": "agent",
                "mother_tongue": "nl",
                "password": f"password of {tenant.tenant_id[:8]}",
            },
        )
        assert created.status_code == 201, created.text
        tenant.users["twice"] = created.json()["user_id"]

    def log_in(password: str) -> httpx.Response:
        return portal.post("/v1/auth/login", json={"email": shared_email, "password": password})

    # (Ten attempts in all: the per-account login limit of a minute.)
    for _ in range(5):
        assert log_in("neither of them").status_code == 401  # both accounts count it
    assert log_in(f"password of {a.tenant_id[:8]}").status_code == 401  # both locked
    assert log_in(f"password of {b.tenant_id[:8]}").status_code == 401

    before = len(mail.links_to(shared_email))
    portal.post("/v1/auth/forgot-password", json={"email": shared_email})
    links = _links(mail, shared_email, before + 2)[before:]
    assert len(links) == 2  # one per account, not "the first row"
    with portal.app.state.service.engine.connect() as conn:
        owners = {
            conn.scalar(
                select(t.reset_tokens.c.user_id).where(
                    t.reset_tokens.c.token_hash == security.token_hash(_token(link))
                )
            ): link
            for link in links
        }
    assert set(owners) == {a.users["twice"], b.users["twice"]}
    reset_a = portal.post(
        "/v1/auth/reset-password",
        json={"token": _token(owners[a.users["twice"]]), "password": "a's new password"},
    )
    assert reset_a.status_code == 204
    assert log_in("a's new password").json()["tenant_id"] == a.tenant_id  # a unlocked
    assert log_in(f"password of {b.tenant_id[:8]}").status_code == 401  # b still locked
    reset_b = portal.post(
        "/v1/auth/reset-password",
        json={"token": _token(owners[b.users["twice"]]), "password": "b's new password"},
    )
    assert reset_b.status_code == 204
    assert log_in("b's new password").json()["tenant_id"] == b.tenant_id


class HeldMailSink(MailSink):
    """An SMTP server that holds every mail until released (a slow mail provider)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        await asyncio.to_thread(self.release.wait, 30)
        return await super().handle_DATA(server, session, envelope)


def test_forgot_password_answers_before_the_mail_is_sent(kafka_bootstrap, tmp_path):
    sink = HeldMailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    svc = ConversationService(
        ConversationSettings(
            data_dir=tmp_path, kafka_bootstrap_servers=kafka_bootstrap, smtp_port=sink.port
        ),
        registry=CollectorRegistry(),
    )
    tenant_id = svc.directory.create_tenant("Held", "pro")
    svc.directory.create_end_user(tenant_id, "Ada", "A", "held@mail.example", "agent", "nl")
    svc.projector.catch_up_now()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(svc), port=port, log_config=None, lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        url = f"http://127.0.0.1:{port}/v1/auth/forgot-password"
        known = httpx.post(url, json={"email": "held@mail.example"}, timeout=5)
        unknown = httpx.post(url, json={"email": "ghost@mail.example"}, timeout=5)
        assert known.status_code == unknown.status_code == 202  # while the mail is held
        assert known.json() == unknown.json()
        assert sink.messages == []
        sink.release.set()
        deadline = time.monotonic() + 10
        while not sink.links_to("held@mail.example"):
            assert time.monotonic() < deadline, "the mail never went"
            time.sleep(0.05)
    finally:
        sink.release.set()
        server.should_exit = True
        thread.join(10)
        controller.stop()
