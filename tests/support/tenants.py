"""Tenants for the in-process Portal API tests: the operator's token, a tenant with one
logged-in end user per role, and an SMTP sink that keeps the mail."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

from shared.local_broker import free_port

OPERATOR_TOKEN = "test-operator-token"
PUBLIC_BASE_URL = "https://portal.interact.test"
PASSWORD = "correct horse battery"


class MailSink:
    """An SMTP server that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.port = free_port()

    async def handle_DATA(self, _server, _session, envelope) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def links_to(self, address: str) -> list[str]:
        return [
            re.search(r"https?://\S+", m.get_content()).group(0)  # type: ignore[union-attr]
            for m in self.messages
            if m["To"] == address
        ]


@dataclass
class TestTenant:
    """A tenant with one end user per role, each logged in."""

    tenant_id: str
    users: dict[str, str] = field(default_factory=dict)  # role -> user id
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)  # role -> auth header
    emails: dict[str, str] = field(default_factory=dict)


OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


def login(portal: TestClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    response = portal.post("/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def new_tenant(portal: TestClient, plan: str = "pro", sdk_option: bool = True) -> TestTenant:
    tag = uuid.uuid4().hex[:8]
    admin_email = f"admin-{tag}@tenant.example"
    created = portal.post(
        "/v1/operator/tenants",
        headers=OPERATOR,
        json={
            "name": f"Tenant {tag}",
            "plan": plan,
            "sdk_option": sdk_option,
            "default_language": "nl",
            "first_end_user": {
                "first_name": "Ada",
                "last_name": "Admin",
                "email": admin_email,
                "language": "nl",
                "password": PASSWORD,
            },
        },
    )
    assert created.status_code == 201, created.text
    tenant = TestTenant(created.json()["tenant_id"])
    tenant.users["administrator"] = created.json()["administrator_id"]
    tenant.emails["administrator"] = admin_email
    tenant.tokens["administrator"] = login(portal, admin_email)
    for role in ("manager", "agent", "analyst"):
        email = f"{role}-{tag}@tenant.example"
        response = portal.post(
            "/v1/users",
            headers=tenant.tokens["administrator"],
            json={
                "first_name": role.title(),
                "last_name": "User",
                "email": email,
                "role": role,
                "mother_tongue": "nl",
                "password": PASSWORD,
            },
        )
        assert response.status_code == 201, response.text
        tenant.users[role] = response.json()["user_id"]
        tenant.emails[role] = email
        tenant.tokens[role] = login(portal, email)
    return tenant


def wait_for_link(mail, address: str, count: int = 1) -> str:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 10
    while len(mail.links_to(address)) < count:
        assert time.monotonic() < deadline, f"no mail for {address}"
        time.sleep(0.05)
    return mail.links_to(address)[-1]


def token_in(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]
