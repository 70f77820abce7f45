"""Routing's test vocabulary: a tenant, two agents, events by minute, and a morning of them.

Shared by the unit tests of the routing state and the integration tests of its store.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.routing.domain.state import TenantRouting
from shared import events as ev
from shared.events import Envelope, Payload

TENANT = uuid.UUID("a0000000-0000-4000-8000-000000000001")
CHANNEL = uuid.UUID("c0000000-0000-4000-8000-000000000001")
OTHER_CHANNEL = uuid.UUID("c0000000-0000-4000-8000-000000000002")
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

ANN = uuid.UUID("00000000-0000-4000-8000-00000000000a")
COMPETENCE_NAMESPACE = uuid.UUID("e0000000-0000-4000-8000-000000000001")


def competence(name: str) -> str:
    """The id of a test competence: events carry competence ids, never names."""
    return str(uuid.uuid5(COMPETENCE_NAMESPACE, name))


BOB = uuid.UUID("00000000-0000-4000-8000-00000000000b")


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def conv(n: int) -> uuid.UUID:
    return uuid.UUID(int=0xC0FFEE00 + n)


def tenant_created(routing_enabled: bool = True, default_capacity: int = 5) -> ev.TenantCreated:
    return ev.TenantCreated(
        name="Acme",
        plan="pro",
        routing_enabled=routing_enabled,
        default_capacity=default_capacity,
    )


def user_created(
    user_id: uuid.UUID,
    *,
    role: str = "agent",
    languages: tuple[str, ...] = ("nl",),
    channels: tuple[uuid.UUID, ...] = (CHANNEL,),
    competences: tuple[str, ...] = (),
    capacity: int | None = None,
) -> ev.EndUserCreated:
    return ev.EndUserCreated(
        user_id=user_id,
        first_name="F",
        last_name="L",
        email=f"{user_id.hex}@example.com",
        role=role,
        mother_tongue="nl",
        languages=list(languages),
        channel_ids=list(channels),
        competences=[competence(c) for c in competences],
        capacity=capacity,
    )


def presence(user_id: uuid.UUID, value: str, minute: float) -> ev.PresenceChanged:
    return ev.PresenceChanged(user_id=user_id, presence=value, at=at(minute))


def opened(
    n: int,
    minute: float,
    *,
    language: str = "nl",
    channel: uuid.UUID = CHANNEL,
    competences: tuple[str, ...] = (),
) -> ev.ConversationOpened:
    return ev.ConversationOpened(
        conversation_id=conv(n),
        channel_id=channel,
        channel_type="webchat",
        visitor_id=uuid.UUID(int=n),
        language=language,
        required_competences=[competence(c) for c in competences],
        opened_at=at(minute),
    )


def closed(n: int, minute: float) -> ev.ConversationClosed:
    return ev.ConversationClosed(conversation_id=conv(n), at=at(minute))


def assigned(
    n: int, user_id: uuid.UUID, minute: float, by: str = "dispatch"
) -> ev.ConversationAssigned:
    return ev.ConversationAssigned(
        conversation_id=conv(n), assignee_id=user_id, assigned_by=by, at=at(minute)
    )


def feed(state: TenantRouting, payload: Payload) -> list[Envelope]:
    return state.apply(Envelope.wrap(payload, tenant_id=TENANT), payload)


def feed_all(state: TenantRouting, payloads: list[Payload]) -> list[Envelope]:
    out: list[Envelope] = []
    for payload in payloads:
        out.extend(feed(state, payload))
    return out


def decisions(envelopes: list[Envelope]) -> list[ev.ConversationRouted]:
    out = []
    for envelope in envelopes:
        assert envelope.type == "ConversationRouted"
        assert envelope.tenant_id == TENANT
        payload = envelope.parsed()
        assert isinstance(payload, ev.ConversationRouted)
        out.append(payload)
    return out


def routed_pairs(envelopes: list[Envelope]) -> list[tuple[uuid.UUID, uuid.UUID | None]]:
    return [(d.conversation_id, d.assignee_id) for d in decisions(envelopes)]


def new_state(*payloads: Payload) -> TenantRouting:
    state = TenantRouting(tenant_id=TENANT)
    feed_all(state, list(payloads))
    return state


TIMEOUT = timedelta(minutes=2)

#: A morning: envelopes with fixed ids and times, and sweeps at given moments (datetimes).
MORNING: list[Envelope | datetime] = [
    Envelope.wrap(p, tenant_id=TENANT, occurred_at=at(i))
    for i, p in enumerate(
        [
            tenant_created(default_capacity=2),
            user_created(ANN, languages=("nl", "fr")),
            user_created(BOB, competences=("legal",)),
            opened(1, 2),
            presence(ANN, "online", 3),
            opened(2, 4, competences=("legal",)),
            opened(3, 5, language="fr").model_copy(update={"bot_active": True}),
            presence(BOB, "online", 6),
            ev.HandoverChanged(
                conversation_id=conv(3), state="waiting_for_human", reason="r", at=at(7)
            ),
            ev.ConversationTaken(conversation_id=conv(1), user_id=ANN, at=at(8)),
            opened(4, 9),
        ]
    )
] + [
    at(20),
    *[
        Envelope.wrap(p, tenant_id=TENANT, occurred_at=at(21 + i))
        for i, p in enumerate(
            [
                ev.ConversationRequirementsChanged(
                    conversation_id=conv(1),
                    language="nl",
                    required_competences=[competence("legal")],
                    at=at(21),
                ),
                assigned(4, ANN, 22, by="dispatch"),
                presence(ANN, "offline", 23),
                ev.TenantSettingsChanged(
                    routing_enabled=True, languages=["nl"], default_capacity=4
                ),
                closed(2, 25),
                ev.EndUserDeactivated(user_id=BOB, at=at(26)),
                presence(ANN, "online", 27),
            ]
        )
    ],
    at(40),
]
