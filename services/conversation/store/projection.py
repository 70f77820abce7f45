"""Projects both event logs into the Portal's tables, position and rows in one transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from eventsourcing.application import Application
from eventsourcing.domain import DomainEvent
from sqlalchemy import Connection, Engine, insert, update

from services.conversation.domain.conversation import Conversation
from services.conversation.domain.directory import Channel, EndUser, Tenant
from services.conversation.store import tables as t
from services.conversation.store.positions import read_position, write_position

log = logging.getLogger(__name__)
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
            connected=True,
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
            status="waiting",
            assignee_id=None,
            opened_at=e.opened_at,
            message_count=0,
        )
    )


def _message_received(conn: Connection, e: DomainEvent) -> None:
    text = e.content.get("text", "")
    conn.execute(
        insert(t.messages).values(
            message_id=str(e.message_id),
            conversation_id=str(e.originator_id),
            tenant_id=str(e.tenant_id),
            direction="in",
            kind=e.content.get("kind", "text"),
            text=text,
            at=e.received_at,
        )
    )
    conn.execute(
        update(t.conversations)
        .where(t.conversations.c.conversation_id == str(e.originator_id))
        .values(
            message_count=t.conversations.c.message_count + 1,
            last_message_at=e.received_at,
            preview=text[:200],
        )
    )


def _set_conversation(
    **values: Callable[[DomainEvent], object],
) -> Callable[[Connection, DomainEvent], None]:
    def apply(conn: Connection, e: DomainEvent) -> None:
        conn.execute(
            update(t.conversations)
            .where(t.conversations.c.conversation_id == str(e.originator_id))
            .values(**{name: get(e) for name, get in values.items()})
        )

    return apply


PROJECTIONS: dict[type[DomainEvent], Callable[[Connection, DomainEvent], None]] = {
    Tenant.Created: _tenant_created,
    EndUser.Created: _end_user_created,
    EndUser.PresenceChanged: _presence_changed,
    Channel.Connected: _channel_connected,
    Conversation.Opened: _conversation_opened,
    Conversation.MessageReceived: _message_received,
    Conversation.Assigned: _set_conversation(
        status=lambda e: "assigned", assignee_id=lambda e: _s(e.assignee_id)
    ),
    Conversation.Queued: _set_conversation(status=lambda e: "waiting", assignee_id=lambda e: None),
    Conversation.Closed: _set_conversation(status=lambda e: "closed"),
}


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
                    position = read_position(conn, name)
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

    def select_position(self, app: Application) -> int:
        with self.engine.connect() as conn:
            return read_position(conn, f"views:{app.name}")
