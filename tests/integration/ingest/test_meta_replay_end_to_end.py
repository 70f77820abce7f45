"""End to end: a channel connected in the Portal, Meta posting the same webhook twice, one message.

The conversation service (with its Kafka consumers) and ingest both run as real apps on
loopback ports, on the real broker.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from services.conversation.api import create_app
from services.conversation.bootstrap import ConversationService
from services.conversation.consumers import register
from services.conversation.settings import ConversationSettings
from services.conversation.store import tables as t
from tests.support.meta import (
    SECRETS_KEY,
    MetaApp,
    messenger_body,
    running_ingest,
    serving,
    wait_until_connected,
)

OPERATOR_TOKEN = "meta-e2e-operator-token"
PASSWORD = "correct horse battery"


async def test_a_replayed_webhook_adds_nothing_to_the_conversation(kafka_bootstrap, tmp_path):
    settings = ConversationSettings(
        data_dir=tmp_path / "conversation",
        kafka_bootstrap_servers=kafka_bootstrap,
        operator_token=OPERATOR_TOKEN,
        channel_secrets_key=SECRETS_KEY,
    )
    conversation = ConversationService(settings, registry=CollectorRegistry())
    register(conversation)
    meta = MetaApp()
    page = str(uuid.uuid4().int)[:15]
    async with (
        serving(create_app(conversation)) as portal_url,
        running_ingest(kafka_bootstrap, tmp_path / "ingest") as ingest,
        httpx.AsyncClient(base_url=portal_url) as portal,
        httpx.AsyncClient(base_url=ingest) as meta_side,
    ):
        email = f"admin-{uuid.uuid4().hex[:8]}@bakery.example"
        created = await portal.post(
            "/v1/operator/tenants",
            headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
            json={
                "name": f"Bakery {uuid.uuid4().hex[:6]}",
                "plan": "pro",
                "default_language": "nl",
                "first_end_user": {
                    "first_name": "Ada",
                    "last_name": "Admin",
                    "email": email,
                    "language": "nl",
                    "password": PASSWORD,
                },
            },
        )
        assert created.status_code == 201, created.text
        tenant_id = created.json()["tenant_id"]
        login = await portal.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
        admin = {"Authorization": f"Bearer {login.json()['token']}"}
        channel = await portal.post(
            "/v1/channels",
            headers=admin,
            json={
                "channel_type": "messenger",
                "name": "Bakery page",
                "external_id": page,
                "credentials": {
                    "app_secret": meta.app_secret,
                    "access_token": meta.access_token,
                    "verify_token": meta.verify_token,
                },
            },
        )
        assert channel.status_code == 201, channel.text
        await wait_until_connected(ingest, meta.verify_token)

        first, headers = meta.signed(messenger_body(page, ("m_first", "Is the shop open?")))
        answers = [
            await meta_side.post("/v1/meta/webhook", content=first, headers=headers)
            for _ in range(2)  # Meta did not see our 200 in time and posts it again
        ]
        sentinel, sentinel_headers = meta.signed(messenger_body(page, ("m_second", "Hello?")))
        answers.append(
            await meta_side.post("/v1/meta/webhook", content=sentinel, headers=sentinel_headers)
        )
        assert [a.status_code for a in answers] == [200, 200, 200]

        async def messages() -> list[str]:
            with conversation.engine.connect() as conn:
                ids = conn.scalars(
                    select(t.conversations.c.conversation_id).where(
                        t.conversations.c.tenant_id == tenant_id
                    )
                ).all()
            texts: list[str] = []
            for conversation_id in ids:
                detail = await portal.get(f"/v1/conversations/{conversation_id}", headers=admin)
                texts += [m["text"] for m in detail.json()["messages"]]
            return texts

        async with asyncio.timeout(60):
            # The sentinel came after the replay on the tenant's partition: once it is in,
            # the replay has been handled too.
            while "Hello?" not in (texts := await messages()):
                await asyncio.sleep(0.2)
    assert sorted(texts) == ["Hello?", "Is the shop open?"]  # each once (same Meta timestamp)
