"""Delivering a reply through Meta's Graph API.

- Messenger: ``POST /{page-id}/messages`` with ``recipient.id`` (the visitor's page-scoped
  id), ``messaging_type: RESPONSE`` and ``message.text``; answer ``{"message_id": mid}``.
- Page comments: ``POST /{comment-id}/comments`` with ``message``; the comment answered is
  the request's ``reply_to``; answer ``{"id": comment id}``.
- WhatsApp: ``POST /{phone-number-id}/messages`` with ``messaging_product: whatsapp``,
  ``to``, ``type: text``, ``text.body``; answer ``{"messages": [{"id": wamid}]}``.

The page or number's access token goes in ``Authorization: Bearer``. 5xx answers,
timeouts and connection errors are retried with exponential backoff; a 4xx is final
(an expired token, a message outside the 24-hour window...) and Meta's own error
message is what the Portal shows.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

from services.ingest.store.channels import MetaChannel
from shared.events import OutboundMessageRequested


class Undeliverable(ValueError):
    """This request can never be delivered as it is (no retry will help)."""


@dataclass(frozen=True, slots=True)
class GraphCall:
    """A JSON POST, or a multipart one (``form`` fields and ``files``) for file uploads."""

    path: str
    body: dict[str, Any]
    form: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    sent: bool
    channel_message_id: str | None = None
    error: str | None = None
    #: The Graph API's answer (a media upload's ``id`` is read from it).
    answer: Any = None


def graph_call(request: OutboundMessageRequested, channel: MetaChannel) -> GraphCall:
    """The Graph API request that delivers ``request`` on ``channel``. Pure."""
    text = request.content.text
    if request.content.url:
        text = f"{text}\n{request.content.url}".strip()
    if not text:
        raise Undeliverable("nothing to send: the message has no text")
    if channel.channel_type == "messenger":
        return GraphCall(
            f"/{channel.external_id}/messages",
            {
                "recipient": {"id": request.visitor_external_id},
                "messaging_type": "RESPONSE",
                "message": {"text": text},
            },
        )
    if channel.channel_type == "page_comments":
        if not request.reply_to:
            raise Undeliverable("a comment reply needs the comment it answers (reply_to)")
        return GraphCall(f"/{request.reply_to}/comments", {"message": text})
    if channel.channel_type == "whatsapp":
        return GraphCall(
            f"/{channel.external_id}/messages",
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": request.visitor_external_id,
                "type": "text",
                "text": {"body": text},
            },
        )
    raise Undeliverable(f"not a Meta channel: {channel.channel_type}")


def sent_id(channel_type: str, answer: Any) -> str | None:
    """The channel's id for the message we just sent, from the Graph API's answer."""
    if not isinstance(answer, dict):
        return None
    if channel_type == "messenger":
        value = answer.get("message_id")
    elif channel_type == "page_comments":
        value = answer.get("id")
    else:
        messages = answer.get("messages")
        first = messages[0] if isinstance(messages, list) and messages else {}
        value = first.get("id") if isinstance(first, dict) else None
    return value if isinstance(value, str) and value else None


def graph_error(response: httpx.Response) -> str:
    """Meta's ``{"error": {"message", "code", "error_subcode"}}`` as one line."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    message = error.get("message") if isinstance(error, dict) else None
    if not isinstance(message, str) or not message:
        return f"Graph API answered HTTP {response.status_code}"
    code = error.get("code")
    return f"{message} (code {code})" if code is not None else message


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4
    backoff_s: float = 0.5

    def pause(self, attempt: int) -> float:
        return self.backoff_s * (2**attempt)


async def deliver(
    client: httpx.AsyncClient,
    call: GraphCall,
    channel: MetaChannel,
    retry: RetryPolicy,
) -> Outcome:
    """Send once, retrying what a retry can cure; always ends in an :class:`Outcome`."""
    last_error = "not attempted"
    for attempt in range(retry.attempts):
        if attempt:
            await asyncio.sleep(retry.pause(attempt - 1))
        try:
            headers = {"Authorization": f"Bearer {channel.access_token}"}
            if call.files is not None:
                response = await client.post(
                    call.path, data=call.form or {}, files=call.files, headers=headers
                )
            else:
                response = await client.post(call.path, json=call.body, headers=headers)
        except httpx.TimeoutException:
            last_error = "Graph API timed out"
            continue
        except httpx.TransportError as exc:
            last_error = f"Graph API unreachable: {type(exc).__name__}"
            continue
        if response.status_code >= 500:
            last_error = graph_error(response)
            continue
        if response.status_code >= 400:
            return Outcome(sent=False, error=graph_error(response))
        try:
            answer = response.json()
        except ValueError:
            answer = None
        return Outcome(
            sent=True, channel_message_id=sent_id(channel.channel_type, answer), answer=answer
        )
    return Outcome(sent=False, error=f"{last_error} (after {retry.attempts} attempts)")
