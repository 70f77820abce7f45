"""One conversation's fact row, folded from its events (the statistics' source of truth).

Every duration the dashboard shows is read from these timestamps:

* *waiting for a human* starts when the conversation opens, or, when a bot answered first,
  at the handover request (or at the pause, when a colleague took over directly);
* **first response time**: from waiting for a human to the first message an end user sent;
* **waiting time in queue**: from waiting for a human to the first time someone took it;
* **handling time**: from the first take to the close;
* **handover wait** (Bot plan): from the bot's handover request to a human taking over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shared import events as ev


@dataclass(slots=True)
class ConversationFact:
    conversation_id: str
    tenant_id: str
    channel_type: str
    language: str
    opened_at: datetime
    bot_active: bool = False
    messages_in: int = 0
    messages_out: int = 0
    #: Messages (either way) that carried at least one file.
    messages_with_attachments: int = 0
    queued_at: datetime | None = None
    first_assigned_at: datetime | None = None
    assignee_id: str | None = None
    first_taken_at: datetime | None = None
    first_response_at: datetime | None = None
    handover_requested_at: datetime | None = None
    human_at: datetime | None = None
    closed_at: datetime | None = None
    #: Topic names given when archived (the last archive wins).
    topics: tuple[str, ...] = ()
    #: End users who took it or answered in it -> messages they sent.
    handlers: dict[str, int] = field(default_factory=dict)

    @property
    def messages(self) -> int:
        return self.messages_in + self.messages_out

    @property
    def human_wanted_at(self) -> datetime | None:
        if not self.bot_active:
            return self.opened_at
        return self.handover_requested_at or self.human_at

    @property
    def handed_over(self) -> bool:
        return self.handover_requested_at is not None or self.human_at is not None


def opened(tenant_id: str, p: ev.ConversationOpened) -> ConversationFact:
    return ConversationFact(
        conversation_id=str(p.conversation_id),
        tenant_id=tenant_id,
        channel_type=p.channel_type,
        language=p.language,
        opened_at=p.opened_at,
        bot_active=p.bot_active,
    )


def apply_event(fact: ConversationFact, p: ev.Payload) -> None:
    """Fold one later event of the conversation into its fact row (in place)."""
    if isinstance(p, ev.MessageReceived | ev.MessageSent) and p.content.attachments:
        fact.messages_with_attachments += 1
    if isinstance(p, ev.MessageReceived):
        fact.messages_in += 1
    elif isinstance(p, ev.MessageSent):
        fact.messages_out += 1
        if p.author == "agent":
            fact.first_response_at = _first(fact.first_response_at, p.at)
            if p.author_id is not None:
                user = str(p.author_id)
                fact.handlers[user] = fact.handlers.get(user, 0) + 1
    elif isinstance(p, ev.ConversationQueued):
        fact.queued_at = _first(fact.queued_at, p.at)
    elif isinstance(p, ev.ConversationAssigned):
        fact.assignee_id = str(p.assignee_id)
        fact.first_assigned_at = _first(fact.first_assigned_at, p.at)
    elif isinstance(p, ev.ConversationTaken):
        fact.first_taken_at = _first(fact.first_taken_at, p.at)
        fact.handlers.setdefault(str(p.user_id), 0)
    elif isinstance(p, ev.HandoverChanged):
        if p.state == "waiting_for_human":
            fact.handover_requested_at = _first(fact.handover_requested_at, p.at)
        elif p.state == "human":
            fact.human_at = _first(fact.human_at, p.at)
    elif isinstance(p, ev.ConversationRequirementsChanged):
        fact.language = p.language
    elif isinstance(p, ev.ConversationArchived):
        fact.topics = tuple(sorted({name.strip() for name in p.topics if name.strip()}))
    elif isinstance(p, ev.ConversationClosed):
        fact.closed_at = p.at


def _first(current: datetime | None, at: datetime) -> datetime:
    return at if current is None or at < current else current


def elapsed_ms(start: datetime | None, end: datetime | None) -> int | None:
    """Milliseconds from ``start`` to ``end``; None when either is missing, 0 if out of order."""
    if start is None or end is None:
        return None
    return max(0, int((end - start).total_seconds() * 1000))


#: The conversation events this view reads (besides ConversationOpened).
CONVERSATION_EVENTS = frozenset(
    {
        "ConversationOpened",
        "MessageReceived",
        "MessageSent",
        "ConversationQueued",
        "ConversationAssigned",
        "ConversationTaken",
        "HandoverChanged",
        "ConversationRequirementsChanged",
        "ConversationArchived",
        "ConversationClosed",
    }
)
