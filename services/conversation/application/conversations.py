"""Use cases of conversations: inbound messages join or open conversations, routing's
choices land, end users take, reply, pass on, dispatch, close and archive, the chatbot
hands over.

Consumers hand over whole batches; each batch is one ``save`` (one transaction) however
many aggregates it touched. Portal commands load one conversation, decide, save; two
people deciding at once on the same version collide in the event store and the later one
gets a :class:`ConversationError` (``concurrent_change``) instead of a silent overwrite.
"""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Mapper

from services.conversation.application.directory import ChannelContext
from services.conversation.application.eventstore import CacheEvictingOnConflict
from services.conversation.application.sealing import SealingMapper
from services.conversation.domain.conversation import Conversation, ConversationError, Visitor
from shared.datakeys import Sealer
from shared.events import (
    BotFailed,
    BotReplied,
    ConversationRouted,
    ConversationStatus,
    DeliveryStatusReported,
    InboundMessageReceived,
    UnreadableEvent,
)

MESSAGE_NAMESPACE = uuid.UUID("0b5f3f0e-8f0e-4c55-8a35-1d6f0b7b6c11")


@dataclass(frozen=True, slots=True)
class Inbound:
    tenant_id: uuid.UUID
    message: InboundMessageReceived


@dataclass(frozen=True, slots=True)
class Routed:
    tenant_id: uuid.UUID
    decision: ConversationRouted
    #: The decision's event id: a redelivered decision is recognised by it.
    decision_id: uuid.UUID | None = None


def routing_reasons(decision: ConversationRouted) -> dict[str, Any]:
    """What the Portal shows of a decision: each candidate's verdict and the tie-break."""
    return {
        "tie_break": decision.tie_break,
        "reroute_reason": decision.reroute_reason,
        "candidates": [
            {"user_id": str(c.user_id), "excluded_by": list(c.excluded_by), "load": c.load}
            for c in decision.candidates
        ],
    }


@dataclass(frozen=True, slots=True)
class ChannelReport:
    """What a channel adapter tells us back: a delivery status or the bot's answer."""

    tenant_id: uuid.UUID
    report: DeliveryStatusReported | BotReplied | BotFailed


def language_of(locale: str | None, tenant_default: str) -> str:
    """``nl_BE`` / ``fr-BE`` -> ``nl`` / ``fr``; no locale -> the tenant's default language."""
    if not locale:
        return tenant_default
    return locale.replace("-", "_").split("_", 1)[0].lower() or tenant_default


def message_id_for(*parts: object) -> uuid.UUID:
    """Message ids derived from what caused them, so a redelivered cause repeats nothing."""
    return uuid.uuid5(MESSAGE_NAMESPACE, "/".join(str(p) for p in parts))


class _Batch:
    """The aggregates one batch touched, so each is loaded once and saved once.

    Aggregates come from the cache as they are, not deep-copied (the copy was a third of
    an inbound message's cost): safe because one writer at a time changes this
    application (``Conversations.writing``) and a batch that fails drops everything it
    loaded from the cache.
    """

    def __init__(self, app: Application) -> None:
        self.app = app
        self.touched: dict[uuid.UUID, Any] = {}
        self.loaded: set[uuid.UUID] = set()
        #: Ids known, at the batch's start, to have no events in the store.
        self.absent: set[uuid.UUID] = set()

    def prefetch(self, aggregate_ids: Iterable[uuid.UUID]) -> None:
        """Find out in one query which of the ids the cache lacks are not stored at all
        (new visitors), so their ``get`` needs no SELECT of its own."""
        cache = self.app.repository.cache
        if cache is None:
            return
        uncached = {i for i in aggregate_ids if i not in self.touched and i not in cache.cache}
        stored = self.app.stored_ids(uncached)
        if stored is not None:
            self.absent = uncached - stored

    def get(self, aggregate_id: uuid.UUID) -> Any:
        if aggregate_id in self.touched:
            return self.touched[aggregate_id]
        if aggregate_id in self.absent:
            return None
        self.loaded.add(aggregate_id)
        try:
            return self.app.repository.get(aggregate_id, deepcopy_from_cache=False)
        except AggregateNotFoundError:
            return None

    def touch(self, aggregate: Any) -> None:
        self.touched[aggregate.id] = aggregate

    def save(self) -> None:
        if self.touched:
            self.app.save(*self.touched.values())


F = TypeVar("F", bound=Callable[..., Any])


def _one_writer(command: F) -> F:
    """A Portal command holds the application's writer lock from load to save."""

    @functools.wraps(command)
    def locked(self: Conversations, *args: Any, **kwargs: Any) -> Any:
        with self.writing:
            self.sync_cache()
            return command(self, *args, **kwargs)

    return locked  # type: ignore[return-value]


ContextOf = Callable[[uuid.UUID, uuid.UUID, datetime], ChannelContext]


class Conversations(CacheEvictingOnConflict):
    """The conversation log. Its notification log is the outbox of ``conversation-events``
    (and of ``outbound-messages`` for what must reach a channel)."""

    name = "conversations"
    #: Every read of this log's aggregates is under ``writing``, after ``sync_cache``.
    synced_cache = True

    def __init__(self, *args: Any, sealer: Sealer | None = None, **kwargs: Any) -> None:
        #: Seals personal and content fields in the store (None: clear, unit tests only).
        self.sealer = sealer
        super().__init__(*args, **kwargs)
        #: One writer at a time in this process: consumer batches and Portal commands.
        self.writing = threading.RLock()

    def save(self, *aggregates: Any, **kwargs: Any) -> Any:
        """Saves; the data keys of the visitors and conversations saved are fetched (or
        made) first, all in one round trip, so sealing their events needs no query."""
        if self.sealer is not None:
            self.sealer.prepare(
                {
                    a.id: a.tenant_id
                    for a in aggregates
                    if isinstance(a, Visitor | Conversation) and a.pending_events
                }
            )
        return super().save(*aggregates, **kwargs)

    def construct_mapper(self) -> Mapper:
        mapper = super().construct_mapper()
        if self.sealer is None:
            return mapper
        return SealingMapper(
            mapper.transcoder, mapper.compressor, mapper.cipher, sealer=self.sealer
        )

    @contextmanager
    def _batch(self) -> Iterator[_Batch]:
        with self.writing:
            self.sync_cache()
            work = _Batch(self)
            try:
                yield work
                work.save()
            except BaseException:
                self.forget(*work.loaded, *work.touched)
                raise

    # --- from the channels --------------------------------------------------------------

    def receive_inbound(self, batch: Iterable[Inbound], context_of: ContextOf) -> int:
        """Record each new message on its visitor's open conversation; returns how many were new.

        A new conversation starts with the bot when the channel has one and the visitor has
        not been paused; while the tenant is closed, the channel's out-of-office message
        goes out once per conversation per closed period.
        """
        batch = list(batch)
        with self._batch() as work:
            work.prefetch(
                Visitor.create_id(i.tenant_id, i.message.channel_id, i.message.visitor_external_id)
                for i in batch
            )
            recorded = 0
            for item in batch:
                message = item.message
                visitor_id = Visitor.create_id(
                    item.tenant_id, message.channel_id, message.visitor_external_id
                )
                visitor = work.get(visitor_id)
                if visitor is None:
                    visitor = Visitor(
                        tenant_id=item.tenant_id,
                        channel_id=message.channel_id,
                        external_id=message.visitor_external_id,
                        name=message.visitor_name,
                    )
                    work.touch(visitor)
                if message.channel_message_id in visitor.earlier_message_ids:
                    continue
                if visitor.erased:  # an erased person writes again: known anew
                    visitor.reidentify(message.visitor_external_id, message.visitor_name)
                    work.touch(visitor)
                try:
                    context = context_of(item.tenant_id, message.channel_id, message.received_at)
                except LookupError:
                    # No retry will make it readable: the batch is applied one by one and
                    # this message set aside on the dead-letter topic with the reason.
                    raise UnreadableEvent(
                        f"inbound message for unknown tenant {item.tenant_id}"
                    ) from None

                conversation = (
                    work.get(visitor.open_conversation_id) if visitor.open_conversation_id else None
                )
                if conversation is None:
                    conversation = Conversation(
                        tenant_id=item.tenant_id,
                        channel_id=message.channel_id,
                        channel_type=message.channel_type,
                        visitor_id=visitor.id,
                        sequence=visitor.next_sequence,
                        language=language_of(message.locale, context.default_language),
                        required_competences=[],
                        opened_at=message.received_at,
                        bot_active=context.bot_connected and not visitor.bot_paused,
                    )
                    visitor.conversation_started(item.tenant_id, conversation.id)
                    work.touch(visitor)
                if conversation.has_seen(message.channel_message_id):
                    continue
                message_id = message_id_for(
                    item.tenant_id, message.channel_id, message.channel_message_id
                )
                conversation.receive(
                    message_id=message_id,
                    channel_message_id=message.channel_message_id,
                    content=message.content.model_dump(mode="json"),
                    received_at=message.received_at,
                )
                if conversation.status == ConversationStatus.BOT:
                    conversation.ask_bot(
                        message_id, message.content.text, visitor.external_id, message.received_at
                    )
                elif context.out_of_office and conversation.out_of_office_due(
                    context.out_of_office[0]
                ):
                    period, text = context.out_of_office
                    conversation.send_automatic(
                        message_id_for(conversation.id, "out-of-office", period),
                        "system",
                        text,
                        message.received_at,
                        visitor.external_id,
                        out_of_office_period=period,
                    )
                work.touch(conversation)
                recorded += 1
            return recorded

    def apply_channel_reports(self, batch: Iterable[ChannelReport]) -> int:
        """Delivery statuses and the bot's answers or failures; repeats change nothing."""
        with self._batch() as work:
            changed = 0
            for item in batch:
                report = item.report
                conversation = work.get(report.conversation_id)
                if (
                    not isinstance(conversation, Conversation)
                    or conversation.tenant_id != item.tenant_id
                ):
                    continue
                if isinstance(report, DeliveryStatusReported):
                    touched = conversation.delivery(
                        report.message_id, report.status, report.error, report.at
                    )
                else:
                    touched = self._bot_report(work, conversation, report)
                if touched:
                    work.touch(conversation)
                    changed += 1
            return changed

    def _bot_report(
        self, work: _Batch, conversation: Conversation, report: BotReplied | BotFailed
    ) -> bool:
        if conversation.bot_answered(report.reply_to_message_id):
            return False
        conversation.mark_bot_answered(conversation.tenant_id, report.reply_to_message_id)
        if (
            conversation.status != ConversationStatus.BOT
        ):  # paused meanwhile: the bot's late answer is dropped
            return True
        if isinstance(report, BotFailed):
            conversation.hand_to_humans(f"bot_failed: {report.reason}"[:500], report.at)
            return True
        visitor = work.get(conversation.visitor_id)
        for n, text in enumerate(t for t in report.texts if t.strip()):
            conversation.send_automatic(
                message_id_for(report.reply_to_message_id, "bot", n),
                "bot",
                text,
                report.at,
                visitor.external_id,
            )
        if report.handover:
            conversation.hand_to_humans("bot_requested", report.at)
        return True

    # --- from routing -----------------------------------------------------------------------

    def apply_routing(self, batch: Iterable[Routed]) -> int:
        """Record routing's decisions that still apply; returns how many changed a conversation."""
        with self._batch() as work:
            changed = 0
            for item in batch:
                conversation = work.get(item.decision.conversation_id)
                if (
                    not isinstance(conversation, Conversation)
                    or conversation.tenant_id != item.tenant_id
                ):
                    continue
                if conversation.accept_routing(
                    item.decision.assignee_id,
                    item.decision.decided_at,
                    item.decision.replaces_assignee_id,
                    item.decision.reroute_reason,
                    item.decision_id,
                    routing_reasons(item.decision),
                ):
                    work.touch(conversation)
                    changed += 1
            return changed

    # --- from the Portal --------------------------------------------------------------------

    @_one_writer
    def take(
        self,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        user_id: uuid.UUID,
        at: datetime,
        *,
        from_shared_queue: bool,
    ) -> None:
        conversation = self.conversation(tenant_id, conversation_id)
        if conversation.take(user_id, at, from_shared_queue=from_shared_queue):
            self.save_or_refuse(conversation)

    @_one_writer
    def reply(
        self,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        author_id: uuid.UUID,
        text: str,
        at: datetime,
        client_message_id: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> uuid.UUID:
        """Returns the message id; the same ``client_message_id`` sends once.
        ``attachments``: files uploaded for it (``shared.events.Attachment`` as JSON)."""
        conversation = self.conversation(tenant_id, conversation_id)
        message_id = message_id_for(conversation_id, author_id, client_message_id or uuid.uuid4())
        if message_id in conversation.deliveries:
            return message_id
        visitor = self.repository.get(conversation.visitor_id)
        conversation.reply(message_id, author_id, text, at, visitor.external_id, attachments)
        self.save_or_refuse(conversation)
        return message_id

    @_one_writer
    def assign(
        self,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        to: uuid.UUID,
        by: uuid.UUID,
        at: datetime,
        *,
        dispatch: bool,
    ) -> None:
        conversation = self.conversation(tenant_id, conversation_id)
        if conversation.assign(to, by, at, dispatch=dispatch):
            self.save_or_refuse(conversation)

    @_one_writer
    def change_requirements(
        self,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        language: str | None,
        competences: list[str] | None,
        by: uuid.UUID,
        at: datetime,
        *,
        dispatched: bool,
    ) -> None:
        conversation = self.conversation(tenant_id, conversation_id)
        if conversation.change_requirements(
            language if language is not None else conversation.language,
            competences if competences is not None else conversation.required_competences,
            by,
            at,
            dispatched=dispatched,
        ):
            self.save_or_refuse(conversation)

    @_one_writer
    def add_note(
        self,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        author_id: uuid.UUID,
        text: str,
        at: datetime,
    ) -> uuid.UUID:
        conversation = self.conversation(tenant_id, conversation_id)
        note_id = uuid.uuid4()
        conversation.add_note(tenant_id, note_id, author_id, text, at)
        self.save_or_refuse(conversation)
        return note_id

    @_one_writer
    def close_conversation(
        self,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        at: datetime,
        by: uuid.UUID | None = None,
        topics: list[str] | None = None,
    ) -> None:
        """Close (and, given topics, archive in the same step): it moves to History."""
        conversation = self.conversation(tenant_id, conversation_id)
        conversation.close(at, by)
        if topics:
            conversation.archive(topics, at)
        visitor = self.repository.get(conversation.visitor_id)
        visitor.conversation_ended(
            tenant_id, conversation.id, sorted(conversation.channel_message_ids)
        )
        self.save_or_refuse(conversation, visitor)

    @_one_writer
    def archive(
        self, tenant_id: uuid.UUID, conversation_id: uuid.UUID, topics: list[str], at: datetime
    ) -> None:
        conversation = self.conversation(tenant_id, conversation_id)
        conversation.archive(topics, at)
        self.save_or_refuse(conversation)

    @_one_writer
    def pause_bot(
        self, tenant_id: uuid.UUID, conversation_id: uuid.UUID, by: uuid.UUID, at: datetime
    ) -> None:
        """The one who pauses the bot takes the visitor over and chats without it; the
        visitor stays with the humans until resumed (SPEC §3.2.2)."""
        conversation = self.conversation(tenant_id, conversation_id)
        visitor = self.repository.get(conversation.visitor_id)
        if not visitor.bot_paused:
            visitor.pause_bot(tenant_id, by, at)
        if conversation.hand_to_humans("paused", at, by):
            conversation.take(by, at, from_shared_queue=True)
        self.save_or_refuse(conversation, visitor)

    @_one_writer
    def resume_bot(
        self, tenant_id: uuid.UUID, conversation_id: uuid.UUID, by: uuid.UUID, at: datetime
    ) -> None:
        conversation = self.conversation(tenant_id, conversation_id)
        visitor = self.repository.get(conversation.visitor_id)
        conversation.hand_to_bot(at, by, visitor.bot_paused)
        if visitor.bot_paused:
            visitor.resume_bot(tenant_id, by, at)
        self.save_or_refuse(conversation, visitor)

    @_one_writer
    def update_visitor(
        self, tenant_id: uuid.UUID, visitor_id: uuid.UUID, changes: dict[str, Any], by: uuid.UUID
    ) -> None:
        visitor = self.visitor(tenant_id, visitor_id)
        if visitor.update_profile(changes, by):
            self.save_or_refuse(visitor)

    @_one_writer
    def erase_visitor(
        self, tenant_id: uuid.UUID, visitor_id: uuid.UUID, by: uuid.UUID, at: datetime
    ) -> list[uuid.UUID]:
        """Record the visitor's erasure (once) and close their open conversation; returns
        the subjects whose keys must go: the visitor and every conversation of theirs.

        The aggregates leave the cache afterwards (they hold the names in memory), and so
        do the just-saved events of these subjects the relay and projector would reuse."""
        visitor = self.visitor(tenant_id, visitor_id)
        touched: list[Any] = []
        if visitor.open_conversation_id is not None:
            conversation = self.conversation(tenant_id, visitor.open_conversation_id)
            if conversation.is_open:
                conversation.close(at, by)
                touched.append(conversation)
            visitor.conversation_ended(
                tenant_id, conversation.id, sorted(conversation.channel_message_ids)
            )
        if visitor.erase(by, at) or touched:
            self.save_or_refuse(*touched, visitor)
        subjects = [visitor.id, *visitor.conversation_ids]
        self.forget(*subjects)
        self.forget_recent(set(subjects))
        return subjects

    # --- loading and saving -----------------------------------------------------------------

    def save_or_refuse(self, *aggregates: Any) -> None:
        """Save, or refuse with ``concurrent_change`` when another writer (another replica)
        saved a newer version of one of them first: the caller's command is not applied."""
        try:
            self.save(*aggregates)
        except IntegrityError:
            raise ConversationError(
                "concurrent_change", "Someone changed this conversation at the same moment."
            ) from None

    @_one_writer
    def assignment(self, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> dict | None:
        """Why the conversation is with its assignee (kept with its last assignment), read
        under the writer lock after the cache caught up with other replicas' saves."""
        return self.conversation(tenant_id, conversation_id).assignment

    def conversation(self, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> Conversation:
        """The tenant's conversation; another tenant's is as unknown as a missing one."""
        return self._get(Conversation, tenant_id, conversation_id, "conversation")

    def visitor(self, tenant_id: uuid.UUID, visitor_id: uuid.UUID) -> Visitor:
        return self._get(Visitor, tenant_id, visitor_id, "visitor")

    def _get(self, kind: type, tenant_id: uuid.UUID, aggregate_id: uuid.UUID, name: str) -> Any:
        try:
            aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise LookupError(name) from None
        if not isinstance(aggregate, kind) or aggregate.tenant_id != tenant_id:
            raise LookupError(name)
        return aggregate
