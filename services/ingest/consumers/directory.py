"""What ingest's channel adapters learn from the directory: the connected Meta channels and
chatbots (with their sealed credentials) and the tenants' own file size limits. One
transaction per batch (``ConsumerService``); every change replaces or deletes, so a
redelivered or re-published event changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, update

from services.ingest.store.channels import (
    META_TYPES,
    chatbots,
    meta_channels,
    metadata,
    outcomes,
    tenant_limits,
    verify_digest,
)
from shared import events as ev
from shared.dispatch import Handlers
from shared.kafka import Delivery
from shared.purge import delete_mentioning, delete_tenant_rows


@dataclass(frozen=True, slots=True)
class Applying:
    """The batch's transaction, and the key that opens a verify token to index its digest."""

    conn: Connection
    secrets_key: str


handlers: Handlers[Applying, None] = Handlers()


def make_apply(secrets_key: str) -> Callable[[Connection, list[Delivery]], None]:
    """The directory applier; it needs the key only to index the verify token's digest."""

    def apply(conn: Connection, batch: list[Delivery]) -> None:
        applying = Applying(conn, secrets_key)
        for delivery in batch:
            handlers.dispatch(applying, delivery)

    return apply


@handlers.on(ev.TenantPurged)
def _purge(a: Applying, _p: ev.TenantPurged, d: Delivery) -> None:
    """Retention ended (SPEC §3.4)."""
    tenant_id = str(d.envelope.tenant_id)
    delete_tenant_rows(a.conn, metadata, tenant_id)
    delete_mentioning(a.conn, outcomes, outcomes.c.envelope, tenant_id)


@handlers.on(ev.TenantSettingsChanged)
def _tenant_settings(a: Applying, p: ev.TenantSettingsChanged, d: Delivery) -> None:
    tenant_id = str(d.envelope.tenant_id)
    a.conn.execute(delete(tenant_limits).where(tenant_limits.c.tenant_id == tenant_id))
    a.conn.execute(
        insert(tenant_limits).values(
            tenant_id=tenant_id, attachment_max_bytes=p.attachment_max_bytes
        )
    )


@handlers.on(ev.ChannelConnected)
def _channel_connected(a: Applying, p: ev.ChannelConnected, d: Delivery) -> None:
    # Replace, never fail: the same connection published twice stays one row.
    a.conn.execute(delete(meta_channels).where(meta_channels.c.channel_id == str(p.channel_id)))
    if p.channel_type in META_TYPES and p.external_id:
        a.conn.execute(
            insert(meta_channels).values(
                channel_id=str(p.channel_id),
                tenant_id=str(d.envelope.tenant_id),
                channel_type=p.channel_type,
                external_id=p.external_id,
                sealed_credentials=p.sealed_credentials,
                verify_digest=verify_digest(p.sealed_credentials, a.secrets_key),
                connected=True,
            )
        )


@handlers.on(ev.ChannelDisconnected)
def _channel_disconnected(a: Applying, p: ev.ChannelDisconnected, d: Delivery) -> None:
    a.conn.execute(
        update(meta_channels)
        .where(
            meta_channels.c.channel_id == str(p.channel_id),
            meta_channels.c.tenant_id == str(d.envelope.tenant_id),
        )
        .values(connected=False)
    )


@handlers.on(ev.ChatbotConnected)
def _chatbot_connected(a: Applying, p: ev.ChatbotConnected, d: Delivery) -> None:
    a.conn.execute(delete(chatbots).where(chatbots.c.channel_id == str(p.channel_id)))
    a.conn.execute(
        insert(chatbots).values(
            channel_id=str(p.channel_id),
            tenant_id=str(d.envelope.tenant_id),
            platform=p.platform,
            url=p.url,
            sealed_token=p.sealed_token,
        )
    )


@handlers.on(ev.ChatbotDisconnected)
def _chatbot_disconnected(a: Applying, p: ev.ChatbotDisconnected, d: Delivery) -> None:
    a.conn.execute(
        delete(chatbots).where(
            chatbots.c.channel_id == str(p.channel_id),
            chatbots.c.tenant_id == str(d.envelope.tenant_id),
        )
    )
