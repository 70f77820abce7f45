"""What we send a chatbot and how we read its answer, per platform. Pure.

Generic webhook (``platform: webhook``)::

    POST <url>   {"conversation_id", "visitor_id", "message_id", "text"}
    200          {"messages": [{"text": "..."}], "handover": false}

Rasa REST channel (``platform: rasa``, url ``.../webhooks/rest/webhook``)::

    POST <url>   {"sender": "<visitor id>", "message": "<text>"}
    200          [{"recipient_id": "...", "text": "..."}, {"recipient_id": "...", "image": "..."}]

A Rasa bot asks for a human with a message carrying ``"custom": {"handover": true}``
(a ``json_message`` from a custom action or a response's ``custom`` field). Anything else
(a non-2xx, not JSON, wrong shapes) is a bad answer: the turn fails and humans take over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.events import BotTurnRequested


class BadAnswer(ValueError):
    """The bot answered something we cannot read."""


@dataclass(frozen=True, slots=True)
class BotAnswer:
    texts: list[str]
    handover: bool


def bot_request(platform: str, turn: BotTurnRequested) -> dict[str, Any]:
    if platform == "rasa":
        return {"sender": turn.visitor_external_id, "message": turn.text}
    return {
        "conversation_id": str(turn.conversation_id),
        "visitor_id": turn.visitor_external_id,
        "message_id": str(turn.message_id),
        "text": turn.text,
    }


def read_answer(platform: str, answer: Any) -> BotAnswer:
    return _rasa(answer) if platform == "rasa" else _webhook(answer)


def _webhook(answer: Any) -> BotAnswer:
    if not isinstance(answer, dict):
        raise BadAnswer("expected a JSON object with 'messages'")
    messages, handover = answer.get("messages", []), answer.get("handover", False)
    if not isinstance(messages, list) or not isinstance(handover, bool):
        raise BadAnswer("'messages' must be a list and 'handover' a boolean")
    texts = []
    for m in messages:
        if not isinstance(m, dict) or not isinstance(m.get("text"), str):
            raise BadAnswer("each message must be an object with a 'text' string")
        if m["text"].strip():
            texts.append(m["text"])
    return BotAnswer(texts, handover)


def _rasa(answer: Any) -> BotAnswer:
    if not isinstance(answer, list) or not all(isinstance(m, dict) for m in answer):
        raise BadAnswer("expected a JSON list of Rasa messages")
    texts, handover = [], False
    for m in answer:
        text = m.get("text") if isinstance(m.get("text"), str) else m.get("image")
        if isinstance(text, str) and text.strip():
            texts.append(text)
        custom = m.get("custom")
        if isinstance(custom, dict) and custom.get("handover") is True:
            handover = True
    return BotAnswer(texts, handover)
