"""Domain events -> integration events: what of our log the other services may see.

Password material, visitor internals and anything else not listed here stays inside.
The envelope's ``event_id`` is derived from the stored event, so a relay that publishes
the same notification twice (after a crash) publishes the same ``event_id`` twice and
consumers drop the copy.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from eventsourcing.domain import DomainEvent

from services.conversation.application.sealing import seal_envelope
from services.conversation.domain.conversation import Conversation, Visitor
from services.conversation.domain.directory import Channel, Competence, EndUser, Tenant, Topic
from services.conversation.domain.retention import TenantPurge
from shared import events as contract
from shared import topics
from shared.datakeys import Sealer
from shared.events import Envelope, Payload

EVENT_NAMESPACE = uuid.UUID("5b0c1f7a-6e1d-4a2b-9a7c-0e3d2f1a4b5c")

Translate = Callable[[DomainEvent], list[Payload]]


def _tenant_created(e: DomainEvent) -> list[Payload]:
    return [
        contract.TenantCreated(
            name=e.name,
            plan=e.plan,
            sdk_option=e.sdk_option,
            minimum_end_users=e.minimum_end_users,
            contract_start=e.contract_start,
            time_zone=e.time_zone,
            default_language=e.default_language,
            routing_enabled=e.routing_enabled,
            default_capacity=e.default_capacity,
        )
    ]


def _profile(e: DomainEvent) -> dict[str, object]:
    return {
        "user_id": e.originator_id,
        "first_name": e.first_name,
        "last_name": e.last_name,
        "email": e.email,
        "role": e.role,
        "mother_tongue": e.mother_tongue,
        "languages": e.languages,
        "channel_ids": e.channel_ids,
        "competences": e.competences,
        "capacity": e.capacity,
    }


def _end_user_created(e: DomainEvent) -> list[Payload]:
    return [
        contract.EndUserCreated(**_profile(e)),
        contract.EndUserActivated(user_id=e.originator_id, at=e.activated_at),
    ]


def _end_user_updated(e: DomainEvent) -> list[Payload]:
    return [contract.EndUserUpdated(**_profile(e))]


def _end_user_deleted(e: DomainEvent) -> list[Payload]:
    deleted = [contract.EndUserDeleted(user_id=e.originator_id, at=e.at)]
    if e.was_active:  # billing counts activation periods: deletion ends one
        return [contract.EndUserDeactivated(user_id=e.originator_id, at=e.at), *deleted]
    return deleted


def _message_sent(e: DomainEvent) -> list[Payload]:
    """The record for the other services, and the request for the channel adapter."""
    content = contract.MessageContent.model_validate(e.content)
    return [
        contract.MessageSent(
            conversation_id=e.originator_id,
            message_id=e.message_id,
            author=e.author,
            author_id=e.author_id,
            content=content,
            at=e.at,
        ),
        contract.OutboundMessageRequested(
            conversation_id=e.originator_id,
            message_id=e.message_id,
            channel_id=e.channel_id,
            channel_type=e.channel_type,
            visitor_external_id=e.visitor_external_id,
            reply_to=e.reply_to,
            author=e.author,
            content=content,
            requested_at=e.at,
        ),
    ]


def _label(kind: str) -> dict[type[DomainEvent], Translate]:
    aggregate = {"competence": Competence, "topic": Topic}[kind]

    def changed(e: DomainEvent) -> list[Payload]:
        return [
            contract.LabelChanged(
                kind=kind, label_id=e.originator_id, name=e.name, description=e.description
            )
        ]

    return {
        aggregate.Created: changed,
        aggregate.Updated: changed,
        aggregate.Deleted: lambda e: [contract.LabelDeleted(kind=kind, label_id=e.originator_id)],
    }


TRANSLATIONS: dict[type[DomainEvent], Translate] = {
    **_label("competence"),
    **_label("topic"),
    Tenant.Created: _tenant_created,
    Tenant.SettingsChanged: lambda e: [
        contract.TenantSettingsChanged(
            routing_enabled=e.routing_enabled,
            languages=e.languages,
            default_capacity=e.default_capacity,
            attachment_max_bytes=e.attachment_max_bytes,
        )
    ],
    Tenant.OfficeHoursSet: lambda e: [contract.OfficeHoursSet(office_hours=e.office_hours)],
    Tenant.ContractEnded: lambda e: [contract.ContractEnded(contract_end=e.contract_end)],
    TenantPurge.Started: lambda e: [
        contract.TenantPurged(contract_end=e.contract_end, purged_at=e.purged_at)
    ],
    EndUser.Created: _end_user_created,
    EndUser.Updated: _end_user_updated,
    EndUser.Deactivated: lambda e: [contract.EndUserDeactivated(user_id=e.originator_id, at=e.at)],
    EndUser.Reactivated: lambda e: [contract.EndUserActivated(user_id=e.originator_id, at=e.at)],
    EndUser.Deleted: _end_user_deleted,
    Channel.OutOfOfficeSet: lambda e: [
        contract.ChannelOutOfOfficeSet(channel_id=e.originator_id, message=e.message)
    ],
    Channel.OriginsSet: lambda e: [
        contract.ChannelOriginsSet(channel_id=e.originator_id, allowed_origins=e.allowed_origins)
    ],
    Channel.Disconnected: lambda e: [contract.ChannelDisconnected(channel_id=e.originator_id)],
    Channel.ChatbotConnected: lambda e: [
        contract.ChatbotConnected(
            channel_id=e.originator_id, platform=e.platform, url=e.url, sealed_token=e.sealed_token
        )
    ],
    Channel.ChatbotDisconnected: lambda e: [
        contract.ChatbotDisconnected(channel_id=e.originator_id)
    ],
    EndUser.PresenceChanged: lambda e: [
        contract.PresenceChanged(user_id=e.originator_id, presence=e.presence, at=e.at)
    ],
    Channel.Connected: lambda e: [
        contract.ChannelConnected(
            channel_id=e.originator_id,
            channel_type=e.channel_type,
            name=e.name,
            public_key=e.public_key,
            external_id=e.external_id,
            sealed_credentials=e.sealed_credentials,
        )
    ],
    Conversation.Opened: lambda e: [
        contract.ConversationOpened(
            conversation_id=e.originator_id,
            channel_id=e.channel_id,
            channel_type=e.channel_type,
            visitor_id=e.visitor_id,
            language=e.language,
            required_competences=e.required_competences,
            opened_at=e.opened_at,
            bot_active=e.bot_active,
        )
    ],
    Conversation.MessageReceived: lambda e: [
        contract.MessageReceived(
            conversation_id=e.originator_id,
            message_id=e.message_id,
            channel_message_id=e.channel_message_id,
            content=contract.MessageContent.model_validate(e.content),
            received_at=e.received_at,
        )
    ],
    Conversation.Assigned: lambda e: [
        contract.ConversationAssigned(
            conversation_id=e.originator_id,
            assignee_id=e.assignee_id,
            assigned_by=e.assigned_by,
            by_user_id=e.by_user_id,
            at=e.at,
        )
    ],
    Conversation.Queued: lambda e: [
        contract.ConversationQueued(conversation_id=e.originator_id, at=e.at)
    ],
    Conversation.Taken: lambda e: [
        contract.ConversationTaken(conversation_id=e.originator_id, user_id=e.user_id, at=e.at)
    ],
    Conversation.RequirementsChanged: lambda e: [
        contract.ConversationRequirementsChanged(
            conversation_id=e.originator_id,
            language=e.language,
            required_competences=e.required_competences,
            by_user_id=e.by_user_id,
            dispatched=e.dispatched,
            at=e.at,
        )
    ],
    Conversation.MessageSent: _message_sent,
    Conversation.DeliveryChanged: lambda e: [
        contract.MessageDeliveryChanged(
            conversation_id=e.originator_id,
            message_id=e.message_id,
            status=e.status,
            error=e.error,
            at=e.at,
        )
    ],
    Conversation.HandoverChanged: lambda e: [
        contract.HandoverChanged(
            conversation_id=e.originator_id,
            state=e.state,
            reason=e.reason,
            by_user_id=e.by_user_id,
            at=e.at,
        )
    ],
    Conversation.BotTurnRequested: lambda e: [
        contract.BotTurnRequested(
            conversation_id=e.originator_id,
            message_id=e.message_id,
            channel_id=e.channel_id,
            visitor_external_id=e.visitor_external_id,
            text=e.text,
            requested_at=e.at,
        )
    ],
    Conversation.Closed: lambda e: [
        contract.ConversationClosed(conversation_id=e.originator_id, closed_by=e.closed_by, at=e.at)
    ],
    Conversation.Archived: lambda e: [
        contract.ConversationArchived(conversation_id=e.originator_id, topics=e.topics, at=e.at)
    ],
    Visitor.Erased: lambda e: [
        contract.VisitorErased(
            visitor_id=e.originator_id,
            conversation_ids=e.conversation_ids,
            by_user_id=e.by,
            at=e.at,
        )
    ],
}


#: Payloads that go to the channel adapters rather than to the log's own topic.
OUTBOUND_TYPES = frozenset({"OutboundMessageRequested", "BotTurnRequested", "VisitorErased"})


def topic_of(envelope: Envelope, log_topic: str) -> str:
    return topics.OUTBOUND_MESSAGES if envelope.type in OUTBOUND_TYPES else log_topic


def tenant_of(e: DomainEvent) -> uuid.UUID:
    return e.originator_id if isinstance(e, Tenant.Event) else e.tenant_id


def to_envelopes(domain_event: DomainEvent, sealer: Sealer | None = None) -> list[Envelope]:
    """The integration events of a domain event; with ``sealer``, message content as it
    may be published (sealed with the conversation's key, see application.sealing)."""
    translate = TRANSLATIONS.get(type(domain_event))
    if translate is None:
        return []
    tenant_id = tenant_of(domain_event)
    return [
        seal_envelope(
            Envelope.wrap(
                payload,
                tenant_id=tenant_id,
                event_id=uuid.uuid5(
                    EVENT_NAMESPACE,
                    f"{domain_event.originator_id}/{domain_event.originator_version}/{n}",
                ),
                occurred_at=domain_event.timestamp,
                correlation_id=domain_event.originator_id,
            ),
            sealer,
        )
        for n, payload in enumerate(translate(domain_event))
    ]
