"""The Graph API requests we build per channel, and how we read Meta's answers and errors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest

from services.ingest.consumers.meta_delivery import is_meta_request
from services.ingest.consumers.meta_graph import (
    GraphCall,
    RetryPolicy,
    Undeliverable,
    graph_call,
    graph_error,
    sent_id,
)
from services.ingest.store.channels import MetaChannel
from shared.events import Envelope, MessageContent, OutboundMessageRequested


def channel(channel_type: str, external_id: str) -> MetaChannel:
    return MetaChannel(uuid.uuid4(), uuid.uuid4(), channel_type, external_id, "s", "tok", "v")


def request(
    channel_type: str, text: str = "Hello", reply_to: str | None = None, url: str | None = None
) -> OutboundMessageRequested:
    return OutboundMessageRequested(
        conversation_id=uuid.uuid4(),
        message_id=uuid.uuid4(),
        channel_id=uuid.uuid4(),
        channel_type=channel_type,  # type: ignore[arg-type]
        visitor_external_id="VISITOR",
        reply_to=reply_to,
        author="agent",
        content=MessageContent(text=text, url=url),
        requested_at=datetime.now(UTC),
    )


@pytest.mark.parametrize(
    ("req", "ch", "expected"),
    [
        (
            request("messenger"),
            channel("messenger", "PAGE"),
            GraphCall(
                "/PAGE/messages",
                {
                    "recipient": {"id": "VISITOR"},
                    "messaging_type": "RESPONSE",
                    "message": {"text": "Hello"},
                },
            ),
        ),
        (
            request("page_comments", reply_to="555_777"),
            channel("page_comments", "PAGE"),
            GraphCall("/555_777/comments", {"message": "Hello"}),
        ),
        (
            request("whatsapp", text="Dag", url="https://x/y.pdf"),
            channel("whatsapp", "PHONE"),
            GraphCall(
                "/PHONE/messages",
                {
                    "messaging_product": "whatsapp",
                    "recipient_type": "individual",
                    "to": "VISITOR",
                    "type": "text",
                    "text": {"body": "Dag\nhttps://x/y.pdf"},
                },
            ),
        ),
    ],
    ids=["messenger", "comment reply", "whatsapp"],
)
def test_graph_call(req, ch, expected):
    assert graph_call(req, ch) == expected


@pytest.mark.parametrize(
    ("req", "ch", "reason"),
    [
        (request("page_comments"), channel("page_comments", "P"), "reply_to"),
        (request("messenger", text=""), channel("messenger", "P"), "no text"),
    ],
)
def test_undeliverable(req, ch, reason):
    with pytest.raises(Undeliverable, match=reason):
        graph_call(req, ch)


@pytest.mark.parametrize(
    ("channel_type", "answer", "expected"),
    [
        ("messenger", {"recipient_id": "V", "message_id": "m_9"}, "m_9"),
        ("page_comments", {"id": "555_999"}, "555_999"),
        ("whatsapp", {"messaging_product": "whatsapp", "messages": [{"id": "wamid.Z"}]}, "wamid.Z"),
        ("whatsapp", {"messages": []}, None),
        ("messenger", ["not", "an", "object"], None),
        ("messenger", {"message_id": 12}, None),
    ],
)
def test_sent_id(channel_type, answer, expected):
    assert sent_id(channel_type, answer) == expected


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            400,
            {
                "error": {
                    "message": "Error validating access token: Session has expired",
                    "type": "OAuthException",
                    "code": 190,
                    "error_subcode": 463,
                }
            },
            "Error validating access token: Session has expired (code 190)",
        ),
        (
            400,
            {"error": {"message": "This message is sent outside of allowed window.", "code": 10}},
            "This message is sent outside of allowed window. (code 10)",
        ),
        (502, "<html>Bad gateway</html>", "Graph API answered HTTP 502"),
    ],
)
def test_graph_error(status, body, expected):
    response = (
        httpx.Response(status, json=body)
        if isinstance(body, dict)
        else httpx.Response(status, text=body)
    )
    assert graph_error(response) == expected


def test_backoff_doubles():
    policy = RetryPolicy(attempts=4, backoff_s=0.5)
    assert [policy.pause(i) for i in range(3)] == [0.5, 1.0, 2.0]


@pytest.mark.parametrize(
    ("channel_type", "mine"),
    [("messenger", True), ("page_comments", True), ("whatsapp", True), ("webchat", False)],
)
def test_only_meta_requests_are_delivered_here(channel_type, mine):
    envelope = Envelope.wrap(request(channel_type, reply_to="1_2"), tenant_id=uuid.uuid4())
    assert is_meta_request(envelope) is mine
