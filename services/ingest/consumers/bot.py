"""Consumes ``BotTurnRequested``, asks the channel's chatbot, publishes ``BotReplied`` or ``BotFailed``.

Group ``ingest.bot``, apart from the deliveries so a slow bot never holds up replies to
Meta. The bot of a channel comes from ``ChatbotConnected``/``ChatbotDisconnected`` on the
directory topic (see ``services.ingest.store``). One call per turn, no retry: the visitor
is waiting, and a failed turn hands the conversation to humans.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from prometheus_client import Counter

from services.ingest.application.settle import settle
from services.ingest.domain.bot import BadAnswer, bot_request, read_answer
from services.ingest.store import channels as store
from shared import topics
from shared.consumer_service import ConsumerService
from shared.events import BotFailed, BotReplied, BotTurnRequested, Envelope, Payload
from shared.kafka import Delivery, subscribe_batches
from shared.outbound import OutboundPolicy, RefusedDestination

log = logging.getLogger(__name__)

BOT_TURNS = Counter("interact_bot_turns_total", "Chatbot turns, by outcome.", ["outcome"])
TURN_NAMESPACE = uuid.UUID("9a4c1e7b-2d3f-4b8a-8e6c-7f1d0b2a3c55")


@dataclass(frozen=True, slots=True)
class BotSettings:
    timeout_s: float = 10.0
    concurrency: int = 16
    #: Where a bot may be (shared.outbound): never internal addresses unless allowed.
    outbound: OutboundPolicy = field(default_factory=OutboundPolicy)


class BotConnector:
    def __init__(self, engine, secrets_key: str, settings: BotSettings) -> None:  # type: ignore[no-untyped-def]
        self.engine, self.secrets_key, self.settings = engine, secrets_key, settings
        self.client: httpx.AsyncClient | None = None

    async def open(self) -> None:
        self.client = httpx.AsyncClient(timeout=self.settings.timeout_s)

    async def held_open(self) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            if self.client is not None:
                await self.client.aclose()

    async def __call__(self, d: Delivery) -> tuple[Envelope, list[store.SentMessage]]:
        turn = d.payload
        assert isinstance(turn, BotTurnRequested)
        bot = await asyncio.to_thread(
            store.chatbot_for, self.engine, self.secrets_key, d.envelope.tenant_id, turn.channel_id
        )
        result: Payload
        if bot is None:
            result = self._failed(turn, "no chatbot is connected to this channel")
        else:
            result = await self.ask(bot, turn)
        BOT_TURNS.labels("replied" if isinstance(result, BotReplied) else "failed").inc()
        envelope = Envelope.wrap(
            result,
            tenant_id=d.envelope.tenant_id,
            event_id=uuid.uuid5(TURN_NAMESPACE, request_id(d)),
            correlation_id=d.envelope.correlation_id,
            causation_id=d.envelope.event_id,
        )
        return envelope, []

    async def ask(self, bot: store.Chatbot, turn: BotTurnRequested) -> Payload:
        assert self.client is not None, "open() first"
        headers = {"Authorization": f"Bearer {bot.token}"} if bot.token else {}
        try:
            await self.settings.outbound.check(bot.url)  # again: DNS may have changed
        except RefusedDestination as refused:
            return self._failed(turn, f"the bot's address is not allowed: {refused}")
        try:
            response = await self.client.post(
                bot.url, json=bot_request(bot.platform, turn), headers=headers
            )
        except httpx.TimeoutException:
            return self._failed(
                turn, f"the bot did not answer within {self.settings.timeout_s:g} s"
            )
        except httpx.HTTPError:
            return self._failed(turn, "the bot is unreachable")
        if not response.is_success:
            # Neither the status nor the body goes back: a reason must not turn the bot
            # connector into a probe of what answers at an address.
            log.warning("bot answered an error", extra={"status": response.status_code})
            return self._failed(turn, "the bot answered with an error")
        try:
            answer = read_answer(bot.platform, response.json())
        except (ValueError, BadAnswer) as exc:
            return self._failed(turn, f"the bot's answer is unreadable: {exc}")
        return BotReplied(
            conversation_id=turn.conversation_id,
            reply_to_message_id=turn.message_id,
            texts=answer.texts,
            handover=answer.handover,
            at=datetime.now(UTC),
        )

    @staticmethod
    def _failed(turn: BotTurnRequested, reason: str) -> BotFailed:
        return BotFailed(
            conversation_id=turn.conversation_id,
            reply_to_message_id=turn.message_id,
            reason=reason[:500],
            at=datetime.now(UTC),
        )


def request_id(d: Delivery) -> str:
    return f"bot:{d.payload.message_id}"  # type: ignore[attr-defined]


def register(service: ConsumerService, secrets_key: str, settings: BotSettings) -> None:
    connector = BotConnector(service.engine, secrets_key, settings)

    async def start() -> None:
        await connector.open()
        service.tasks.start("bot-client", connector.held_open)

    service.on_start.append(start)

    async def on_batch(batch: list[Delivery]) -> None:
        await settle(
            service.engine, service.broker, batch, request_id, connector, settings.concurrency
        )

    subscribe_batches(
        service.broker,
        service.settings,
        topics.OUTBOUND_MESSAGES,
        group_id="ingest.bot",
        handler=on_batch,
        types={BotTurnRequested.__name__},
    )
