"""A conversation's whole life through the running stack: a visitor writes, routing assigns,
the agent follows it live (server-sent events), takes it, replies; the reply reaches the
outbound topic; the channel's failure report shows on the conversation and the channel;
the agent closes and archives it; a reconnecting stream resumes exactly where it was."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.stack import seed_demo
from shared import topics
from shared.events import DeliveryStatusReported, Envelope
from tests.support.e2e import LiveEvents, login, wait_for


async def outbound_requests(bootstrap: str, conversation_id: str, count: int) -> list[dict]:
    consumer = AIOKafkaConsumer(
        topics.OUTBOUND_MESSAGES,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"e2e-{uuid.uuid4()}",
        fetch_max_wait_ms=5,
    )
    await consumer.start()
    found: list[dict] = []
    try:
        async with asyncio.timeout(30):
            while len(found) < count:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        event = orjson.loads(record.value)
                        if event["payload"].get("conversation_id") == conversation_id:
                            found.append(event)
    finally:
        await consumer.stop()
    return found


async def report(bootstrap: str, tenant_id: str, payload: DeliveryStatusReported) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        envelope = Envelope.wrap(payload, tenant_id=uuid.UUID(tenant_id))
        await producer.send_and_wait(topics.INBOUND_MESSAGES, envelope.to_bytes(), key=envelope.key)
    finally:
        await producer.stop()


def test_visitor_to_agent_and_back_followed_live(make_stack, kafka_bootstrap) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack("sqlite")
    demo = seed_demo(stack)
    api = stack.url("conversation")
    nora, admin = login(stack, "nora@demo.example"), login(stack, "admin@demo.example")
    live = LiveEvents(f"{api}/v1/events", nora)

    sent = httpx.post(
        f"{stack.url('ingest')}/v1/webchat/{demo['webchat_key']}/messages",
        json={
            "visitor_id": "visitor-lc",
            "text": "Bonjour!",
            "locale": "fr_BE",
            "message_id": "lc-1",
        },
    )
    assert sent.status_code == 202
    queue = wait_for(lambda: httpx.get(f"{api}/v1/queue", headers=nora).json()["items"])
    cid = queue[0]["conversation_id"]
    wait_for(lambda: "ConversationAssigned" in live.types(cid))

    assert httpx.post(f"{api}/v1/conversations/{cid}/take", headers=nora).status_code == 200
    reply = httpx.post(
        f"{api}/v1/conversations/{cid}/messages",
        headers=nora,
        json={"text": "Bonjour, je regarde."},
    )
    assert reply.status_code == 201
    message_id = reply.json()["message_id"]
    wait_for(lambda: {"ConversationTaken", "MessageSent"} <= set(live.types(cid)))

    (outbound,) = asyncio.run(outbound_requests(kafka_bootstrap, cid, 1))
    assert outbound["type"] == "OutboundMessageRequested"
    assert outbound["payload"]["visitor_external_id"] == "visitor-lc"
    assert outbound["payload"]["content"]["text"] == "Bonjour, je regarde."
    assert outbound["payload"]["message_id"] == message_id

    # The channel says it failed: the Portal shows it on the message, conversation and channel.
    failure = DeliveryStatusReported(
        conversation_id=uuid.UUID(cid),
        message_id=uuid.UUID(message_id),
        status="failed",
        error="Outside the 24-hour messaging window",
        at=datetime.now(UTC),
    )
    asyncio.run(report(kafka_bootstrap, demo["tenant_id"], failure))

    def failed():  # type: ignore[no-untyped-def]
        detail = httpx.get(f"{api}/v1/conversations/{cid}", headers=nora).json()
        return detail["messages"][-1]["delivery_status"] == "failed" and detail

    detail = wait_for(failed)
    assert detail["last_error"] == "Outside the 24-hour messaging window"
    channel = httpx.get(f"{api}/v1/channels/{demo['channel_id']}", headers=admin).json()
    assert channel["last_error"] == "Outside the 24-hour messaging window"

    # The stream drops (once it has shown the failure); meanwhile the conversation is closed
    # and archived; the stream resumes.
    wait_for(
        lambda: any(
            k == "MessageDeliveryChanged" and p.get("status") == "failed" for _, k, p in live.events
        )
    )
    live.close()
    seen = len(live.events)
    last_id = live.events[-1][0]
    closed = httpx.post(
        f"{api}/v1/conversations/{cid}/close", headers=nora, json={"topics": ["Question"]}
    )
    assert closed.status_code == 200 and closed.json()["status"] == "archived"
    resumed = LiveEvents(f"{api}/v1/events", nora, last_event_id=last_id)
    wait_for(lambda: "ConversationArchived" in resumed.types(cid))
    resumed.close()
    before_ids = {event_id for event_id, _, _ in live.events[:seen]}
    after_ids = [event_id for event_id, _, _ in resumed.events]
    assert not before_ids & set(after_ids), "nothing seen twice"
    assert len(after_ids) == len(set(after_ids))
    assert resumed.types(cid)[:2] == ["ConversationClosed", "ConversationArchived"]
    history = httpx.get(f"{api}/v1/history", headers=admin, params={"topic": "Question"}).json()
    assert [c["conversation_id"] for c in history["items"]] == [cid]
