"""Applies conversation and directory events to the statistics facts."""

from __future__ import annotations

from sqlalchemy import Connection, insert, update

from services.stats.store import conversation_facts as facts
from services.stats.store import tenants
from shared import events as ev
from shared.kafka import Delivery


def apply(conn: Connection, batch: list[Delivery]) -> None:
    for d in batch:
        p = d.payload
        if isinstance(p, ev.TenantCreated):
            conn.execute(
                insert(tenants).values(
                    tenant_id=str(d.envelope.tenant_id), time_zone=p.time_zone, plan=p.plan
                )
            )
        elif isinstance(p, ev.ConversationOpened):
            conn.execute(
                insert(facts).values(
                    conversation_id=str(p.conversation_id),
                    tenant_id=str(d.envelope.tenant_id),
                    channel_type=p.channel_type,
                    language=p.language,
                    opened_at=p.opened_at,
                    messages_in=0,
                )
            )
        elif isinstance(p, ev.MessageReceived):
            conn.execute(
                update(facts)
                .where(facts.c.conversation_id == str(p.conversation_id))
                .values(messages_in=facts.c.messages_in + 1)
            )
        elif isinstance(p, ev.ConversationAssigned):
            row = facts.c
            conn.execute(
                update(facts)
                .where(row.conversation_id == str(p.conversation_id))
                .values(assignee_id=str(p.assignee_id))
            )
            conn.execute(
                update(facts)
                .where(
                    row.conversation_id == str(p.conversation_id), row.first_assigned_at.is_(None)
                )
                .values(first_assigned_at=p.at)
            )
        elif isinstance(p, ev.ConversationClosed):
            conn.execute(
                update(facts)
                .where(facts.c.conversation_id == str(p.conversation_id))
                .values(closed_at=p.at)
            )


WANTED = {
    "TenantCreated",
    "ConversationOpened",
    "MessageReceived",
    "ConversationAssigned",
    "ConversationClosed",
}
