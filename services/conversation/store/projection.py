"""Projects both event logs into the Portal's tables, position and rows in one transaction."""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Callable
from functools import cache
from typing import Any

from eventsourcing.domain import DomainEvent
from sqlalchemy import (
    Connection,
    Engine,
    Executable,
    Table,
    bindparam,
    delete,
    insert,
    select,
    update,
)

from services.conversation.application.eventstore import CacheEvictingOnConflict
from services.conversation.domain.conversation import Conversation, Visitor
from services.conversation.domain.directory import (
    Channel,
    Competence,
    EndUser,
    FaqEntry,
    Tenant,
    Topic,
)
from services.conversation.store import tables as t
from services.conversation.store.positions import claim_position, read_position, write_position
from shared.datakeys import ERASED
from shared.events import ConversationStatus

log = logging.getLogger(__name__)
Projection = Callable[["Writer", DomainEvent], None]
PAGE = 1000


def _s(value: object) -> str | None:
    return None if value is None else str(value)


def _clip(text: str | None, length: int) -> str | None:
    """Fit a column: what the channels send is not ours to bound, and PostgreSQL (unlike
    SQLite) refuses an over-long value, which would stop every view."""
    return None if text is None else text[:length]


class Writer:
    """The projector's writes for one transaction, made cheap.

    Statements are built once per (table, columns) with bind parameters, so SQLAlchemy
    compiles each shape once instead of building and hashing a new statement per event
    (that was most of the projector's time); the rows of one statement go to the database
    as one ``executemany`` (one multi-row INSERT for inserts).

    A write joins the latest group of its statement unless a later group touches the same
    row (same table and primary key), or the same table by something other than its key;
    then it starts a new group. So every row sees its writes in the events' order, while a
    batch of new conversations costs a handful of statements instead of four per
    conversation (the tables have no foreign keys or triggers, so writes to different rows
    commute). Reads (:meth:`scalar`) flush first.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._groups: list[tuple[Executable, list[dict[str, Any]]]] = []
        #: statement -> index of its latest group
        self._open: dict[Executable, int] = {}
        #: (table, key) -> index of the latest group writing that row
        self._rows: dict[tuple[Table, object], int] = {}
        #: table -> index of the latest group writing it other than by key / at all
        self._wide: dict[Table, int] = {}
        self._any: dict[Table, int] = {}
        #: (table, key) -> (group index, row) of a queued INSERT (see :meth:`amend`)
        self._inserted: dict[tuple[Table, object], tuple[int, dict[str, Any]]] = {}

    def run(self, statement: Executable, row: dict[str, Any], key: object = None) -> None:
        """Queue ``row`` for ``statement``; ``key`` is the primary key of the one row it
        writes (None: it may write any row of its table)."""
        table: Table = statement.table  # type: ignore[attr-defined]
        if key is None:
            after = self._any.get(table, -1)
        else:
            after = max(self._wide.get(table, -1), self._rows.get((table, key), -1))
        index = self._open.get(statement, -1)
        if index < after or index < 0:
            index = len(self._groups)
            self._groups.append((statement, []))
            self._open[statement] = index
        self._groups[index][1].append(row)
        if key is None:
            self._wide[table] = index
        else:
            self._rows[(table, key)] = index
        self._any[table] = max(self._any.get(table, -1), index)

    def flush(self) -> None:
        for statement, rows in self._groups:
            self.conn.execute(statement, rows)
        self._groups.clear()
        self._open.clear()
        self._rows.clear()
        self._wide.clear()
        self._any.clear()
        self._inserted.clear()

    def insert(self, table: Table, **values: Any) -> None:
        key = _primary_key(table)
        row_key = tuple(str(values[c]) for c in key) if all(c in values for c in key) else None
        self.run(_insert(table, tuple(values)), values, row_key)
        if row_key is not None:
            self._inserted[(table, row_key)] = (self._rows[(table, row_key)], values)

    def amend(
        self,
        table: Table,
        key: tuple[str, ...],
        change: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> bool:
        """Fold ``change(row)`` (new values) into the row's queued INSERT instead of queuing
        a write after it, when nothing else has written the row or its table since and
        the INSERT names every column changed (a new conversation's first message: its
        count goes into the row inserted, not into an UPDATE per conversation). False:
        write it as usual."""
        queued = self._inserted.get((table, key))
        if queued is None:
            return False
        index, row = queued
        if self._rows.get((table, key)) != index or self._wide.get(table, -1) > index:
            return False
        values = change(row)
        if not values.keys() <= row.keys():
            return False
        row.update(values)
        return True

    def update(self, table: Table, key: str, key_value: object, **values: Any) -> None:
        row = {f"v_{name}": value for name, value in values.items()}
        self.run(
            _update(table, key, tuple(values)),
            {"k": str(key_value), **row},
            _keyed(table, key, key_value),
        )

    def delete(self, table: Table, key: str, key_value: object) -> None:
        self.run(_delete_stmt(table, key), {"k": str(key_value)}, _keyed(table, key, key_value))

    def scalar(self, statement: Executable) -> Any:
        self.flush()
        return self.conn.scalar(statement)


@cache
def _primary_key(table: Table) -> tuple[str, ...]:
    return tuple(c.name for c in table.primary_key.columns)


def _keyed(table: Table, column: str, value: object) -> tuple[str, ...] | None:
    """The row key of a write by ``column``: only when ``column`` is the whole primary key."""
    return (str(value),) if _primary_key(table) == (column,) else None


@cache
def _insert(table: Table, columns: tuple[str, ...]) -> Executable:
    return insert(table).values({c: bindparam(c) for c in columns})


@cache
def _update(table: Table, key: str, columns: tuple[str, ...]) -> Executable:
    return (
        update(table)
        .where(table.c[key] == bindparam("k"))
        .values({c: bindparam(f"v_{c}") for c in columns})
    )


@cache
def _delete_stmt(table: Table, key: str) -> Executable:
    return delete(table).where(table.c[key] == bindparam("k"))


_COUNT_MESSAGE = (
    update(t.conversations)
    .where(t.conversations.c.conversation_id == bindparam("k"))
    .values(
        message_count=t.conversations.c.message_count + 1,
        last_message_at=bindparam("v_at"),
        preview=bindparam("v_preview"),
    )
)
_DROP_LABELS = delete(t.conversation_labels).where(
    t.conversation_labels.c.conversation_id == bindparam("k"),
    t.conversation_labels.c.kind == bindparam("v_kind"),
)


def _tenant_created(w: Writer, e: DomainEvent) -> None:
    w.insert(
        t.tenants,
        tenant_id=str(e.originator_id),
        name=e.name,
        plan=e.plan,
        sdk_option=e.sdk_option,
        time_zone=e.time_zone,
        default_language=e.default_language,
        routing_enabled=e.routing_enabled,
        default_capacity=e.default_capacity,
        minimum_end_users=e.minimum_end_users,
        languages=[e.default_language],
    )


def _end_user_created(w: Writer, e: DomainEvent) -> None:
    w.insert(
        t.end_users,
        user_id=str(e.originator_id),
        tenant_id=str(e.tenant_id),
        email=e.email,
        first_name=e.first_name,
        last_name=e.last_name,
        role=e.role,
        mother_tongue=e.mother_tongue,
        active=True,
        presence="offline",
        languages=e.languages,
        channel_ids=[str(c) for c in e.channel_ids],
        competences=e.competences,
        capacity=e.capacity,
    )


def _channel_connected(w: Writer, e: DomainEvent) -> None:
    w.insert(
        t.channels,
        channel_id=str(e.originator_id),
        tenant_id=str(e.tenant_id),
        channel_type=e.channel_type,
        name=e.name,
        public_key=e.public_key,
        external_id=e.external_id,
        connected=True,
        allowed_origins=[],
    )


def _conversation_opened(w: Writer, e: DomainEvent) -> None:
    bot = e.bot_active
    w.insert(
        t.conversations,
        conversation_id=str(e.originator_id),
        tenant_id=str(e.tenant_id),
        channel_id=str(e.channel_id),
        channel_type=e.channel_type,
        visitor_id=str(e.visitor_id),
        language=e.language,
        assignee_id=None,
        opened_at=e.opened_at,
        message_count=0,
        last_message_at=None,  # named, so that the first message can amend the row (``amend``)
        preview=None,
        status=ConversationStatus.BOT if bot else ConversationStatus.WAITING,
        handover="bot" if bot else None,
        required_competences=e.required_competences,
        topics=[],
        dispatched=False,
    )
    if e.required_competences:
        _labels_of(w, e, "competence", e.required_competences)


def _message(w: Writer, e: DomainEvent, at: object, **values: object) -> None:
    text = e.content.get("text", "")
    w.insert(
        t.messages,
        message_id=str(e.message_id),
        conversation_id=str(e.originator_id),
        tenant_id=str(e.tenant_id),
        kind=e.content.get("kind", "text"),
        text=text,
        at=at,
        **values,
    )
    count_message(w, str(e.originator_id), at, text[:200])
    _attachments(w, e)


def count_message(w: Writer, conversation_id: str, at: object, preview: str) -> None:
    """One more message on the conversation, the latest at ``at``."""

    def counted(row: dict[str, Any]) -> dict[str, Any]:
        return {
            "message_count": row["message_count"] + 1,
            "last_message_at": at,
            "preview": preview,
        }

    if not w.amend(t.conversations, (conversation_id,), counted):
        values = {"k": conversation_id, "v_at": at, "v_preview": preview}
        w.run(_COUNT_MESSAGE, values, (conversation_id,))


def _attachments(w: Writer, e: DomainEvent) -> None:
    """One row per file of the message, kept or refused (older events have none)."""
    kept = e.content.get("attachments") or []
    refused = e.content.get("refused_attachments") or []
    common = {
        "message_id": str(e.message_id),
        "conversation_id": str(e.originator_id),
        "tenant_id": str(e.tenant_id),
    }
    for position, a in enumerate(kept):
        w.insert(
            t.attachments,
            **common,
            position=position,
            attachment_id=str(a["attachment_id"]),
            kind=a["kind"],
            file_name=a["file_name"],
            content_type=a["content_type"],
            size=a["size"],
            sha256=a["sha256"],
            blob_key=a["key"],
            thumbnail_key=a.get("thumbnail_key"),
            width=a.get("width"),
            height=a.get("height"),
            refused_code=None,
            refused_reason=None,
        )
    for position, r in enumerate(refused, start=len(kept)):
        w.insert(
            t.attachments,
            **common,
            position=position,
            attachment_id=None,
            kind=r["kind"],
            file_name=r.get("file_name"),
            content_type=None,
            size=None,
            sha256=None,
            blob_key=None,
            thumbnail_key=None,
            width=None,
            height=None,
            refused_code=r["code"],
            refused_reason=r["reason"],
        )


def _message_received(w: Writer, e: DomainEvent) -> None:
    _message(
        w,
        e,
        e.received_at,
        direction="in",
        author="visitor",
        author_id=None,
        delivery_status=None,
    )


def _message_sent(w: Writer, e: DomainEvent) -> None:
    _message(
        w,
        e,
        e.at,
        direction="out",
        author=e.author,
        author_id=_s(e.author_id),
        delivery_status="requested",
    )


def _delivery_changed(w: Writer, e: DomainEvent) -> None:
    error = _clip(e.error, 1000)
    w.update(t.messages, "message_id", e.message_id, delivery_status=e.status, delivery_error=error)
    if e.status == "failed":  # shown on the conversation and on its channel (SPEC §7.7.4)
        error = error or "delivery failed"
        w.update(t.conversations, "conversation_id", e.originator_id, last_error=error)
        conv = t.conversations
        channel_id = w.scalar(
            select(conv.c.channel_id).where(conv.c.conversation_id == str(e.originator_id))
        )
        w.update(t.channels, "channel_id", channel_id, last_error=error, last_error_at=e.at)


def _labels_of(w: Writer, e: DomainEvent, kind: str, names: list[str]) -> None:
    w.run(_DROP_LABELS, {"k": str(e.originator_id), "v_kind": kind})
    for name in sorted(set(names)):
        w.insert(
            t.conversation_labels,
            conversation_id=str(e.originator_id),
            kind=kind,
            name=name,
            tenant_id=str(e.tenant_id),
        )


def _requirements_changed(w: Writer, e: DomainEvent) -> None:
    w.update(
        t.conversations,
        "conversation_id",
        e.originator_id,
        language=e.language,
        required_competences=e.required_competences,
    )
    _labels_of(w, e, "competence", e.required_competences)


def _archived(w: Writer, e: DomainEvent) -> None:
    w.update(
        t.conversations,
        "conversation_id",
        e.originator_id,
        status=ConversationStatus.ARCHIVED,
        topics=e.topics,
        archived_at=e.at,
    )
    _labels_of(w, e, "topic", e.topics)


def _handover_changed(w: Writer, e: DomainEvent) -> None:
    key = ("conversation_id", e.originator_id)
    if e.state == "bot":
        w.update(
            t.conversations,
            *key,
            handover="bot",
            status=ConversationStatus.BOT,
            assignee_id=None,
            dispatched=False,
        )
    elif e.state == "waiting_for_human":
        w.update(
            t.conversations,
            *key,
            handover=e.state,
            status=ConversationStatus.WAITING,
            queued_at=e.at,
        )
    else:
        w.update(t.conversations, *key, handover=e.state)


def _visitor_registered(w: Writer, e: DomainEvent) -> None:
    w.insert(
        t.visitors,
        visitor_id=str(e.originator_id),
        tenant_id=str(e.tenant_id),
        channel_id=str(e.channel_id),
        external_id=e.external_id,
        name=_clip(e.name, 200),
        bot_paused=False,
    )


def _visitor_erased(w: Writer, e: DomainEvent) -> None:
    """Overwrite what the views hold of the person: profile, texts, previews, notes. The
    conversations stay (times, status, topics) for the counts, reading ``[erased]``."""
    w.update(
        t.visitors,
        "visitor_id",
        e.originator_id,
        external_id=ERASED,
        name=None,
        first_name=None,
        last_name=None,
        email=None,
        birth_date=None,
        phone=None,
        mobile=None,
        erased_at=e.at,
    )
    for conversation_id in e.conversation_ids:
        w.update(t.messages, "conversation_id", conversation_id, text=ERASED)
        w.update(t.notes, "conversation_id", conversation_id, text=ERASED)
        w.update(t.attachments, "conversation_id", conversation_id, file_name=ERASED)
        w.update(t.conversations, "conversation_id", conversation_id, preview=ERASED)


def _note_added(w: Writer, e: DomainEvent) -> None:
    w.insert(
        t.notes,
        note_id=str(e.note_id),
        conversation_id=str(e.originator_id),
        tenant_id=str(e.tenant_id),
        author_id=str(e.author_id),
        text=e.text,
        at=e.at,
    )


def _set(table: Table, key: str, **values: Callable[[DomainEvent], object]) -> Projection:
    """A projection that updates one row, keyed by the event's originator, with derived values."""

    def apply(w: Writer, e: DomainEvent) -> None:
        w.update(table, key, e.originator_id, **{name: get(e) for name, get in values.items()})

    return apply


def _label_created(kind: str) -> Projection:
    def apply(w: Writer, e: DomainEvent) -> None:
        w.insert(
            t.labels,
            label_id=str(e.originator_id),
            tenant_id=str(e.tenant_id),
            kind=kind,
            name=e.name,
            description=e.description,
        )

    return apply


def _delete(table: Table, key: str) -> Projection:
    def apply(w: Writer, e: DomainEvent) -> None:
        w.delete(table, key, e.originator_id)

    return apply


def _faq_created(w: Writer, e: DomainEvent) -> None:
    w.insert(t.faq, entry_id=str(e.originator_id), question=e.question, answer=e.answer)


def _labels(kind: str, aggregate: type) -> dict[type[DomainEvent], Projection]:
    return {
        aggregate.Created: _label_created(kind),
        aggregate.Updated: _set(
            t.labels, "label_id", name=lambda e: e.name, description=lambda e: e.description
        ),
        aggregate.Deleted: _delete(t.labels, "label_id"),
    }


PROJECTIONS: dict[type[DomainEvent], Projection] = {
    **_labels("competence", Competence),
    **_labels("topic", Topic),
    FaqEntry.Created: _faq_created,
    FaqEntry.Updated: _set(
        t.faq, "entry_id", question=lambda e: e.question, answer=lambda e: e.answer
    ),
    FaqEntry.Deleted: _delete(t.faq, "entry_id"),
    Tenant.Created: _tenant_created,
    Tenant.SettingsChanged: _set(
        t.tenants,
        "tenant_id",
        routing_enabled=lambda e: e.routing_enabled,
        languages=lambda e: e.languages,
        default_capacity=lambda e: e.default_capacity,
        attachment_max_bytes=lambda e: e.attachment_max_bytes,
    ),
    Tenant.OfficeHoursSet: _set(t.tenants, "tenant_id", office_hours=lambda e: e.office_hours),
    Tenant.ContractEnded: _set(t.tenants, "tenant_id", contract_end=lambda e: e.contract_end),
    EndUser.Created: _end_user_created,
    EndUser.Updated: _set(
        t.end_users,
        "user_id",
        first_name=lambda e: e.first_name,
        last_name=lambda e: e.last_name,
        email=lambda e: e.email,
        role=lambda e: e.role,
        mother_tongue=lambda e: e.mother_tongue,
        languages=lambda e: e.languages,
        channel_ids=lambda e: [str(c) for c in e.channel_ids],
        competences=lambda e: e.competences,
        capacity=lambda e: e.capacity,
    ),
    EndUser.Deactivated: _set(
        t.end_users, "user_id", active=lambda e: False, presence=lambda e: "offline"
    ),
    EndUser.Reactivated: _set(t.end_users, "user_id", active=lambda e: True),
    EndUser.Deleted: _delete(t.end_users, "user_id"),
    Channel.OutOfOfficeSet: _set(
        t.channels, "channel_id", out_of_office_message=lambda e: e.message
    ),
    Channel.OriginsSet: _set(t.channels, "channel_id", allowed_origins=lambda e: e.allowed_origins),
    Channel.Disconnected: _set(t.channels, "channel_id", connected=lambda e: False),
    Channel.ChatbotConnected: _set(
        t.channels, "channel_id", chatbot_platform=lambda e: e.platform, chatbot_url=lambda e: e.url
    ),
    Channel.ChatbotDisconnected: _set(
        t.channels, "channel_id", chatbot_platform=lambda e: None, chatbot_url=lambda e: None
    ),
    EndUser.PresenceChanged: _set(t.end_users, "user_id", presence=lambda e: e.presence),
    Channel.Connected: _channel_connected,
    Conversation.Opened: _conversation_opened,
    Conversation.MessageReceived: _message_received,
    Conversation.Assigned: _set(
        t.conversations,
        "conversation_id",
        status=lambda e: ConversationStatus.ASSIGNED,
        assignee_id=lambda e: _s(e.assignee_id),
        dispatched=lambda e: e.assigned_by == "dispatch",
    ),
    Conversation.Queued: _set(
        t.conversations,
        "conversation_id",
        status=lambda e: ConversationStatus.WAITING,
        assignee_id=lambda e: None,
        dispatched=lambda e: False,
        queued_at=lambda e: e.at,
    ),
    Conversation.Taken: _set(
        t.conversations,
        "conversation_id",
        status=lambda e: ConversationStatus.IN_PROGRESS,
        assignee_id=lambda e: _s(e.user_id),
        taken_at=lambda e: e.at,
    ),
    Conversation.Closed: _set(
        t.conversations,
        "conversation_id",
        status=lambda e: ConversationStatus.CLOSED,
        closed_at=lambda e: e.at,
    ),
    Conversation.Archived: _archived,
    Conversation.MessageSent: _message_sent,
    Conversation.DeliveryChanged: _delivery_changed,
    Conversation.RequirementsChanged: _requirements_changed,
    Conversation.HandoverChanged: _handover_changed,
    Conversation.NoteAdded: _note_added,
    Visitor.Registered: _visitor_registered,
    Visitor.ProfileUpdated: lambda w, e: w.update(
        t.visitors, "visitor_id", e.originator_id, **e.changes
    ),
    Visitor.Erased: _visitor_erased,
    Visitor.Reidentified: lambda w, e: w.update(
        t.visitors,
        "visitor_id",
        e.originator_id,
        external_id=e.external_id,
        name=_clip(e.name, 200),
        erased_at=None,
    ),
    Visitor.BotPaused: _set(t.visitors, "visitor_id", bot_paused=lambda e: True),
    Visitor.BotResumed: _set(t.visitors, "visitor_id", bot_paused=lambda e: False),
}


VERSION_KEY = "views:version"


def ensure_views_current(engine: Engine) -> bool:
    """Drop and rebuild the views when their shape changed (``VIEWS_VERSION``); True if so.

    The views are projections: dropping them loses nothing, the projector replays the
    logs from position 0. The security store (credentials, sessions) is not touched.
    """
    with engine.begin() as conn:
        if read_position(conn, VERSION_KEY) == t.VIEWS_VERSION:
            return False
    t.metadata.drop_all(engine, tables=list(t.VIEWS))
    t.metadata.create_all(engine, tables=list(t.VIEWS))
    with engine.begin() as conn:
        conn.execute(delete(t.log_positions).where(t.log_positions.c.name.like("views:%")))
        write_position(conn, VERSION_KEY, t.VIEWS_VERSION)
    log.info("views rebuilt for version %s", t.VIEWS_VERSION)
    return True


class Projector:
    """Keeps the tables up to date with one or more applications' notification logs."""

    def __init__(self, engine: Engine, applications: list[CacheEvictingOnConflict]) -> None:
        self.engine = engine
        self.applications = applications
        # One catch-up at a time in the process (a thread lock: the Portal's test clients and
        # any embedding may call from more than one event loop, and an asyncio.Lock is bound
        # to the first loop that waits on it). Per loop, waiters queue on an asyncio lock so
        # that they hold no worker thread while they wait.
        self._running = threading.Lock()
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        #: Per log, the position this projector last found or wrote: a log whose head is
        #: not past it has nothing new, and is skipped without a write transaction (every
        #: catch-up looked at both logs, and most of the time one of them had not moved).
        self._applied: dict[str, int] = {}

    def catch_up_now(self) -> int:
        """Apply everything new, page by page; safe to run twice (positions are in the same txn)."""
        applied = 0
        for app in self.applications:
            known = self._applied.get(app.name)
            head = app.recorder.max_notification_id() or 0
            if known is not None and head <= known:
                continue
            while True:
                with self.engine.begin() as conn:
                    name = f"views:{app.name}"
                    position = claim_position(conn, name)
                    # The events this process saved come as they were saved, not read.
                    # The head read before the claim: what came after waits for the next call.
                    events = app.events_after(position, PAGE, head)
                    writer = Writer(conn)
                    for _, domain_event in events:
                        project = PROJECTIONS.get(type(domain_event))
                        if project is not None:
                            project(writer, domain_event)
                    writer.flush()
                    if events:
                        position = events[-1][0]
                        write_position(conn, name, position)
                self._applied[app.name] = position
                applied += len(events)
                if len(events) < PAGE:
                    break
        return applied

    async def catch_up(self) -> int:
        """Read-your-writes for the API: one catch-up at a time, off the event loop."""
        loop = asyncio.get_running_loop()
        queue = self._queues.setdefault(loop, asyncio.Lock())
        async with queue:
            return await asyncio.to_thread(self._catch_up_alone)

    def _catch_up_alone(self) -> int:
        with self._running:
            return self.catch_up_now()
