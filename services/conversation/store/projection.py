"""Projects both event logs into the Portal's tables, position and rows in one transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from eventsourcing.application import Application
from eventsourcing.domain import DomainEvent
from sqlalchemy import Connection, Engine, Table, delete, insert, select, update

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

log = logging.getLogger(__name__)
Projection = Callable[[Connection, DomainEvent], None]
PAGE = 1000


def _s(value: object) -> str | None:
    return None if value is None else str(value)


def _tenant_created(conn: Connection, e: DomainEvent) -> None:
    conn.execute(
        insert(t.tenants).values(
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
    )


def _end_user_created(conn: Connection, e: DomainEvent) -> None:
    conn.execute(
        insert(t.end_users).values(
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
    )


def _presence_changed(conn: Connection, e: DomainEvent) -> None:
    conn.execute(
        update(t.end_users)
        .where(t.end_users.c.user_id == str(e.originator_id))
        .values(presence=e.presence)
    )


def _channel_connected(conn: Connection, e: DomainEvent) -> None:
    conn.execute(
        insert(t.channels).values(
            channel_id=str(e.originator_id),
            tenant_id=str(e.tenant_id),
            channel_type=e.channel_type,
            name=e.name,
            public_key=e.public_key,
            external_id=e.external_id,
            connected=True,
            allowed_origins=[],
        )
    )


def _conversation_opened(conn: Connection, e: DomainEvent) -> None:
    conn.execute(
        insert(t.conversations).values(
            conversation_id=str(e.originator_id),
            tenant_id=str(e.tenant_id),
            channel_id=str(e.channel_id),
            channel_type=e.channel_type,
            visitor_id=str(e.visitor_id),
            language=e.language,
            assignee_id=None,
            opened_at=e.opened_at,
            message_count=0,
            status="bot" if getattr(e, "bot_active", False) else "waiting",
            handover="bot" if getattr(e, "bot_active", False) else None,
            required_competences=e.required_competences,
            topics=[],
            dispatched=False,
        )
    )
    _labels_of(conn, e, "competence", e.required_competences)


def _message(conn: Connection, e: DomainEvent, at: object, **values: object) -> None:
    text = e.content.get("text", "")
    conn.execute(
        insert(t.messages).values(
            message_id=str(e.message_id),
            conversation_id=str(e.originator_id),
            tenant_id=str(e.tenant_id),
            kind=e.content.get("kind", "text"),
            text=text,
            at=at,
            **values,
        )
    )
    conn.execute(
        update(t.conversations)
        .where(t.conversations.c.conversation_id == str(e.originator_id))
        .values(
            message_count=t.conversations.c.message_count + 1,
            last_message_at=at,
            preview=text[:200],
        )
    )


def _message_received(conn: Connection, e: DomainEvent) -> None:
    _message(conn, e, e.received_at, direction="in", author="visitor")


def _message_sent(conn: Connection, e: DomainEvent) -> None:
    _message(
        conn,
        e,
        e.at,
        direction="out",
        author=e.author,
        author_id=_s(e.author_id),
        delivery_status="requested",
    )


def _delivery_changed(conn: Connection, e: DomainEvent) -> None:
    conn.execute(
        update(t.messages)
        .where(t.messages.c.message_id == str(e.message_id))
        .values(delivery_status=e.status, delivery_error=e.error)
    )
    if e.status == "failed":  # shown on the conversation and on its channel (SPEC §7.7.4)
        conv = t.conversations
        conn.execute(
            update(conv)
            .where(conv.c.conversation_id == str(e.originator_id))
            .values(last_error=e.error or "delivery failed")
        )
        channel_id = conn.scalar(
            select(conv.c.channel_id).where(conv.c.conversation_id == str(e.originator_id))
        )
        conn.execute(
            update(t.channels)
            .where(t.channels.c.channel_id == channel_id)
            .values(last_error=e.error or "delivery failed", last_error_at=e.at)
        )


def _labels_of(conn: Connection, e: DomainEvent, kind: str, names: list[str]) -> None:
    cl = t.conversation_labels
    conn.execute(delete(cl).where(cl.c.conversation_id == str(e.originator_id), cl.c.kind == kind))
    if names:
        conn.execute(
            insert(cl),
            [
                {
                    "conversation_id": str(e.originator_id),
                    "kind": kind,
                    "name": name,
                    "tenant_id": str(e.tenant_id),
                }
                for name in sorted(set(names))
            ],
        )


def _requirements_changed(conn: Connection, e: DomainEvent) -> None:
    conn.execute(
        update(t.conversations)
        .where(t.conversations.c.conversation_id == str(e.originator_id))
        .values(language=e.language, required_competences=e.required_competences)
    )
    _labels_of(conn, e, "competence", e.required_competences)


def _archived(conn: Connection, e: DomainEvent) -> None:
    conn.execute(
        update(t.conversations)
        .where(t.conversations.c.conversation_id == str(e.originator_id))
        .values(status="archived", topics=e.topics, archived_at=e.at)
    )
    _labels_of(conn, e, "topic", e.topics)


def _handover_changed(conn: Connection, e: DomainEvent) -> None:
    values: dict[str, object] = {"handover": e.state}
    if e.state == "bot":
        values |= {"status": "bot", "assignee_id": None, "dispatched": False}
    elif e.state == "waiting_for_human":
        values |= {"status": "waiting", "queued_at": e.at}
    conn.execute(
        update(t.conversations)
        .where(t.conversations.c.conversation_id == str(e.originator_id))
        .values(**values)
    )


def _visitor_registered(conn: Connection, e: DomainEvent) -> None:
    conn.execute(
        insert(t.visitors).values(
            visitor_id=str(e.originator_id),
            tenant_id=str(e.tenant_id),
            channel_id=str(e.channel_id),
            external_id=e.external_id,
            name=e.name,
            bot_paused=False,
        )
    )


def _note_added(conn: Connection, e: DomainEvent) -> None:
    conn.execute(
        insert(t.notes).values(
            note_id=str(e.note_id),
            conversation_id=str(e.originator_id),
            tenant_id=str(e.tenant_id),
            author_id=str(e.author_id),
            text=e.text,
            at=e.at,
        )
    )


def _set(table: Table, key: str, **values: Callable[[DomainEvent], object]) -> Projection:
    """A projection that updates one row, keyed by the event's originator, with derived values."""

    def apply(conn: Connection, e: DomainEvent) -> None:
        conn.execute(
            update(table)
            .where(table.c[key] == str(e.originator_id))
            .values(**{name: get(e) for name, get in values.items()})
        )

    return apply


def _label_created(kind: str) -> Projection:
    def apply(conn: Connection, e: DomainEvent) -> None:
        conn.execute(
            insert(t.labels).values(
                label_id=str(e.originator_id),
                tenant_id=str(e.tenant_id),
                kind=kind,
                name=e.name,
                description=e.description,
            )
        )

    return apply


def _delete(table: Table, key: str) -> Projection:
    def apply(conn: Connection, e: DomainEvent) -> None:
        conn.execute(delete(table).where(table.c[key] == str(e.originator_id)))

    return apply


def _faq_created(conn: Connection, e: DomainEvent) -> None:
    conn.execute(
        insert(t.faq).values(entry_id=str(e.originator_id), question=e.question, answer=e.answer)
    )


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
    EndUser.PresenceChanged: _presence_changed,
    Channel.Connected: _channel_connected,
    Conversation.Opened: _conversation_opened,
    Conversation.MessageReceived: _message_received,
    Conversation.Assigned: _set(
        t.conversations,
        "conversation_id",
        status=lambda e: "assigned",
        assignee_id=lambda e: _s(e.assignee_id),
        dispatched=lambda e: e.assigned_by == "dispatch",
    ),
    Conversation.Queued: _set(
        t.conversations,
        "conversation_id",
        status=lambda e: "waiting",
        assignee_id=lambda e: None,
        dispatched=lambda e: False,
        queued_at=lambda e: e.at,
    ),
    Conversation.Taken: _set(
        t.conversations,
        "conversation_id",
        status=lambda e: "in_progress",
        assignee_id=lambda e: _s(e.user_id),
        taken_at=lambda e: e.at,
    ),
    Conversation.Closed: _set(
        t.conversations, "conversation_id", status=lambda e: "closed", closed_at=lambda e: e.at
    ),
    Conversation.Archived: _archived,
    Conversation.MessageSent: _message_sent,
    Conversation.DeliveryChanged: _delivery_changed,
    Conversation.RequirementsChanged: _requirements_changed,
    Conversation.HandoverChanged: _handover_changed,
    Conversation.NoteAdded: _note_added,
    Visitor.Registered: _visitor_registered,
    Visitor.ProfileUpdated: lambda conn, e: conn.execute(
        update(t.visitors)
        .where(t.visitors.c.visitor_id == str(e.originator_id))
        .values(**e.changes)
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

    def __init__(self, engine: Engine, applications: list[Application]) -> None:
        self.engine = engine
        self.applications = applications
        self._lock = asyncio.Lock()

    def catch_up_now(self) -> int:
        """Apply everything new, page by page; safe to run twice (positions are in the same txn)."""
        applied = 0
        for app in self.applications:
            while True:
                with self.engine.begin() as conn:
                    name = f"views:{app.name}"
                    position = claim_position(conn, name)
                    notes = app.recorder.select_notifications(start=position + 1, limit=PAGE)
                    for note in notes:
                        domain_event = app.mapper.to_domain_event(note)
                        project = PROJECTIONS.get(type(domain_event))
                        if project is not None:
                            project(conn, domain_event)
                    if notes:
                        write_position(conn, name, notes[-1].id)
                applied += len(notes)
                if len(notes) < PAGE:
                    break
        return applied

    async def catch_up(self) -> int:
        """Read-your-writes for the API: one catch-up at a time, off the event loop."""
        async with self._lock:
            return await asyncio.to_thread(self.catch_up_now)
