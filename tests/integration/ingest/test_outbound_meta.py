"""Replies delivered to a local server playing Meta's Graph API, outcomes on the inbound topic."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
import pytest_asyncio

from shared import topics
from shared.events import (
    DeliveryStatusReported,
    Envelope,
    MessageContent,
    OutboundMessageRequested,
)
from tests.support.meta import (
    MetaApp,
    connect_all,
    payloads,
    produce,
    read_inbound,
    running_ingest,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
GRAPH = "/graph/v21.0"
ATTEMPTS = 3


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def ingest(kafka_bootstrap, tmp_path_factory, make_httpserver):  # type: ignore[no-untyped-def]
    async with running_ingest(
        kafka_bootstrap,
        tmp_path_factory.mktemp("ingest"),
        meta_graph_url=make_httpserver.url_for(GRAPH),
        meta_max_attempts=ATTEMPTS,
    ) as url:
        yield url


def reply(
    meta: MetaApp,
    channel_id: uuid.UUID,
    channel_type: str,
    visitor: str,
    text: str = "Thanks, it ships today.",
    reply_to: str | None = None,
    tenant_id: uuid.UUID | None = None,
) -> Envelope:
    request = OutboundMessageRequested(
        conversation_id=uuid.uuid4(),
        message_id=uuid.uuid4(),
        channel_id=channel_id,
        channel_type=channel_type,  # type: ignore[arg-type]
        visitor_external_id=visitor,
        reply_to=reply_to,
        author="agent",
        content=MessageContent(text=text),
        requested_at=datetime.now(UTC),
    )
    return Envelope.wrap(request, tenant_id=tenant_id or meta.tenant_id)


def statuses(envelopes: list[Envelope]) -> dict[uuid.UUID, DeliveryStatusReported]:
    """The latest status per message id."""
    return {p.message_id: p for p in payloads(envelopes) if isinstance(p, DeliveryStatusReported)}


async def test_replies_go_out_in_metas_formats_and_come_back_as_sent(
    kafka_bootstrap, ingest, httpserver
):
    meta = MetaApp()
    page, phone = f"page{uuid.uuid4().hex[:8]}", f"phone{uuid.uuid4().hex[:8]}"
    messenger_id, comments_id, whatsapp_id = await connect_all(
        kafka_bootstrap,
        ingest,
        meta,
        ("messenger", page),
        ("page_comments", page),
        ("whatsapp", phone),
    )
    httpserver.expect_request(f"{GRAPH}/{page}/messages", method="POST").respond_with_json(
        {"recipient_id": "PSID-1", "message_id": "m_sent_1"}
    )
    httpserver.expect_request(f"{GRAPH}/{page}_1_77/comments", method="POST").respond_with_json(
        {"id": f"{page}_1_78"}
    )
    httpserver.expect_request(f"{GRAPH}/{phone}/messages", method="POST").respond_with_json(
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": "32470000000", "wa_id": "32470000000"}],
            "messages": [{"id": "wamid.SENT"}],
        }
    )
    requests = [
        reply(meta, messenger_id, "messenger", "PSID-1"),
        reply(meta, comments_id, "page_comments", "USER-7", reply_to=f"{page}_1_77"),
        reply(meta, whatsapp_id, "whatsapp", "32470000000"),
    ]
    await produce(kafka_bootstrap, topics.OUTBOUND_MESSAGES, requests)
    found = await read_inbound(kafka_bootstrap, meta.tenant_id, lambda f: len(statuses(f)) >= 3)
    outcome = statuses(found)
    ids = [r.parsed().message_id for r in requests]  # type: ignore[attr-defined]
    assert [(outcome[i].status, outcome[i].channel_message_id) for i in ids] == [
        ("sent", "m_sent_1"),
        ("sent", f"{page}_1_78"),
        ("sent", "wamid.SENT"),
    ]
    assert all(o.error is None for o in outcome.values())
    sent = {r.path: r for r, _ in httpserver.log}
    assert sent[f"{GRAPH}/{page}/messages"].get_json() == {
        "recipient": {"id": "PSID-1"},
        "messaging_type": "RESPONSE",
        "message": {"text": "Thanks, it ships today."},
    }
    assert sent[f"{GRAPH}/{page}_1_77/comments"].get_json() == {
        "message": "Thanks, it ships today."
    }
    assert sent[f"{GRAPH}/{phone}/messages"].get_json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "32470000000",
        "type": "text",
        "text": {"body": "Thanks, it ships today."},
    }
    assert {r.headers["Authorization"] for r in sent.values()} == {f"Bearer {meta.access_token}"}

    # Meta then reports on our WhatsApp message: mapped back to our message id.
    delivered = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "3250", "phone_number_id": phone},
                            "statuses": [
                                {
                                    "id": "wamid.SENT",
                                    "status": "delivered",
                                    "timestamp": "1700000000",
                                },
                                {"id": "wamid.SENT", "status": "read", "timestamp": "1700000060"},
                                {
                                    "id": "wamid.NOT-OURS",
                                    "status": "read",
                                    "timestamp": "1700000060",
                                },
                            ],
                        },
                    }
                ],
            }
        ],
    }
    raw, headers = meta.signed(delivered)
    async with httpx.AsyncClient(base_url=ingest) as client:
        answer = await client.post("/v1/meta/webhook", content=raw, headers=headers)
    assert answer.json() == {"messages": 0, "statuses": 2}
    found = await read_inbound(kafka_bootstrap, meta.tenant_id, lambda f: len(f) >= 5)
    later = [p for p in payloads(found)[3:] if isinstance(p, DeliveryStatusReported)]
    assert [(p.message_id, p.status, p.channel_message_id) for p in later] == [
        (ids[2], "delivered", "wamid.SENT"),
        (ids[2], "read", "wamid.SENT"),
    ]


async def test_4xx_fails_at_once_5xx_is_retried_and_other_tenants_channels_are_refused(
    kafka_bootstrap, ingest, httpserver
):
    meta, intruder = MetaApp(), MetaApp()
    expired, flaky, down = (f"page{uuid.uuid4().hex[:8]}" for _ in range(3))
    expired_id, flaky_id, down_id = await connect_all(
        kafka_bootstrap,
        ingest,
        meta,
        ("messenger", expired),
        ("messenger", flaky),
        ("messenger", down),
    )
    httpserver.expect_request(f"{GRAPH}/{expired}/messages").respond_with_json(
        {
            "error": {
                "message": "Error validating access token: Session has expired on Friday.",
                "type": "OAuthException",
                "code": 190,
                "error_subcode": 463,
                "fbtrace_id": "A1",
            }
        },
        status=400,
    )
    for _ in range(2):
        httpserver.expect_oneshot_request(f"{GRAPH}/{flaky}/messages").respond_with_json(
            {"error": {"message": "An unexpected error has occurred.", "code": 2}}, status=503
        )
    httpserver.expect_request(f"{GRAPH}/{flaky}/messages").respond_with_json(
        {"recipient_id": "V", "message_id": "m_after_retries"}
    )
    httpserver.expect_request(f"{GRAPH}/{down}/messages").respond_with_data(
        "Bad gateway", status=502
    )
    requests = [
        reply(meta, expired_id, "messenger", "V"),
        reply(meta, flaky_id, "messenger", "V"),
        reply(meta, down_id, "messenger", "V"),
    ]
    # Another tenant names this tenant's channel: refused, nothing sent on its behalf.
    foreign = reply(meta, expired_id, "messenger", "V", tenant_id=intruder.tenant_id)
    await produce(kafka_bootstrap, topics.OUTBOUND_MESSAGES, [*requests, foreign])
    found = await read_inbound(kafka_bootstrap, meta.tenant_id, lambda f: len(statuses(f)) >= 3)
    foreign_found = await read_inbound(kafka_bootstrap, intruder.tenant_id, lambda f: len(f) >= 1)
    outcome = statuses(found)
    ids = [r.parsed().message_id for r in requests]  # type: ignore[attr-defined]
    assert [(outcome[i].status, outcome[i].channel_message_id, outcome[i].error) for i in ids] == [
        (
            "failed",
            None,
            "Error validating access token: Session has expired on Friday. (code 190)",
        ),
        ("sent", "m_after_retries", None),
        ("failed", None, f"Graph API answered HTTP 502 (after {ATTEMPTS} attempts)"),
    ]
    refused = statuses(foreign_found)[foreign.parsed().message_id]  # type: ignore[attr-defined]
    assert (refused.status, refused.error) == ("failed", "The channel is not connected.")
    calls = [r.path for r, _ in httpserver.log]
    assert calls.count(f"{GRAPH}/{expired}/messages") == 1  # the token expired, no retry
    assert calls.count(f"{GRAPH}/{flaky}/messages") == 3
    assert calls.count(f"{GRAPH}/{down}/messages") == ATTEMPTS


async def test_a_redelivered_request_is_sent_once(kafka_bootstrap, ingest, httpserver):
    meta = MetaApp()
    page = f"page{uuid.uuid4().hex[:8]}"
    (channel_id,) = await connect_all(kafka_bootstrap, ingest, meta, ("messenger", page))
    httpserver.expect_request(f"{GRAPH}/{page}/messages").respond_with_json(
        {"recipient_id": "V", "message_id": "m_once"}
    )
    first = reply(meta, channel_id, "messenger", "V")
    await produce(kafka_bootstrap, topics.OUTBOUND_MESSAGES, [first])
    await read_inbound(kafka_bootstrap, meta.tenant_id, lambda f: len(statuses(f)) >= 1)
    # At-least-once: the same request comes again (a rebalance, a crash before the commit).
    sentinel = reply(meta, channel_id, "messenger", "V", text="and the sentinel")
    await produce(kafka_bootstrap, topics.OUTBOUND_MESSAGES, [first, sentinel])
    found = await read_inbound(kafka_bootstrap, meta.tenant_id, lambda f: len(statuses(f)) >= 2)
    again = [e for e in found if e.parsed().message_id == first.parsed().message_id]  # type: ignore[attr-defined]
    assert len({e.event_id for e in again}) == 1  # re-published as the very same event
    assert [r.get_json()["message"]["text"] for r, _ in httpserver.log] == [
        "Thanks, it ships today.",
        "and the sentinel",
    ]
