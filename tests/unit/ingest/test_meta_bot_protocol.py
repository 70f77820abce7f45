"""What the bot connector sends each platform and how it reads the answers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.ingest.domain.bot import BadAnswer, BotAnswer, bot_request, read_answer
from shared.events import BotTurnRequested

TURN = BotTurnRequested(
    conversation_id=uuid.UUID("00000000-0000-0000-0000-000000000001"),
    message_id=uuid.UUID("00000000-0000-0000-0000-000000000002"),
    channel_id=uuid.uuid4(),
    visitor_external_id="PSID-1",
    text="Where is my order?",
    requested_at=datetime.now(UTC),
)


def test_requests():
    assert bot_request("webhook", TURN) == {
        "conversation_id": "00000000-0000-0000-0000-000000000001",
        "visitor_id": "PSID-1",
        "message_id": "00000000-0000-0000-0000-000000000002",
        "text": "Where is my order?",
    }
    assert bot_request("rasa", TURN) == {"sender": "PSID-1", "message": "Where is my order?"}


@pytest.mark.parametrize(
    ("platform", "answer", "expected"),
    [
        (
            "webhook",
            {"messages": [{"text": "On its way"}], "handover": False},
            BotAnswer(["On its way"], False),
        ),
        ("webhook", {"messages": [], "handover": True}, BotAnswer([], True)),
        ("webhook", {"messages": [{"text": "a"}, {"text": " "}]}, BotAnswer(["a"], False)),
        (
            "rasa",
            [
                {"recipient_id": "PSID-1", "text": "On its way"},
                {"recipient_id": "PSID-1", "image": "https://x/map.png"},
            ],
            BotAnswer(["On its way", "https://x/map.png"], False),
        ),
        (
            "rasa",
            [
                {"recipient_id": "PSID-1", "text": "A colleague takes over"},
                {"custom": {"handover": True}},
            ],
            BotAnswer(["A colleague takes over"], True),
        ),
        ("rasa", [], BotAnswer([], False)),
    ],
)
def test_answers(platform, answer, expected):
    assert read_answer(platform, answer) == expected


@pytest.mark.parametrize(
    ("platform", "answer"),
    [
        ("webhook", [{"text": "a list"}]),
        ("webhook", {"messages": "text"}),
        ("webhook", {"messages": [{"text": 3}]}),
        ("webhook", {"messages": [], "handover": "yes"}),
        ("rasa", {"text": "an object"}),
        ("rasa", ["text"]),
    ],
)
def test_bad_answers(platform, answer):
    with pytest.raises(BadAnswer):
        read_answer(platform, answer)
