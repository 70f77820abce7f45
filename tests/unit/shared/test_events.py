"""The event envelope: wrapping, bytes on the wire, decoding, and what is unreadable."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared import events as ev
from shared.events import Envelope, UnreadableEvent, decode

TENANT = uuid.UUID("a0000000-0000-4000-8000-000000000001")
CHANNEL = uuid.UUID("c0000000-0000-4000-8000-000000000001")
USER = uuid.UUID("00000000-0000-4000-8000-00000000000a")
CONVERSATION = uuid.UUID("00000000-0000-4000-8000-0000000000c1")
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

PAYLOADS: list[ev.Payload] = [
    ev.InboundMessageReceived(
        channel_id=CHANNEL,
        channel_type="whatsapp",
        channel_message_id="wamid.1",
        visitor_external_id="+32470000000",
        visitor_name="Vera",
        locale="nl_BE",
        content=ev.MessageContent(kind="attachment", text="", url="https://x.test/a.png"),
        received_at=T0,
    ),
    ev.TenantCreated(name="Acme", plan="hub", routing_enabled=False, default_capacity=3),
    ev.EndUserCreated(
        user_id=USER,
        first_name="Ann",
        last_name="A",
        email="ann@example.com",
        role="agent",
        mother_tongue="nl",
        languages=["nl", "fr"],
        channel_ids=[CHANNEL],
        competences=["billing"],
        capacity=4,
    ),
    ev.PresenceChanged(user_id=USER, presence="away", at=T0),
    ev.ConversationOpened(
        conversation_id=CONVERSATION,
        channel_id=CHANNEL,
        channel_type="webchat",
        visitor_id=uuid.UUID(int=7),
        language="fr",
        required_competences=["legal"],
        opened_at=T0 + timedelta(seconds=1, microseconds=5),
    ),
    ev.MessageReceived(
        conversation_id=CONVERSATION,
        message_id=uuid.UUID(int=8),
        channel_message_id="m-1",
        content=ev.MessageContent(text="hallo \u00e9\u00e8 \U0001f600"),
        received_at=T0,
    ),
    ev.ConversationAssigned(
        conversation_id=CONVERSATION, assignee_id=USER, assigned_by="dispatch", at=T0
    ),
    ev.ConversationClosed(conversation_id=CONVERSATION, at=T0),
    ev.ConversationRouted(
        conversation_id=CONVERSATION,
        assignee_id=None,
        tie_break=None,
        candidates=[
            ev.CandidateVerdict(user_id=USER, excluded_by=["presence", "capacity"], load=2)
        ],
        decided_at=T0,
    ),
    ev.ConversationRouted(
        conversation_id=CONVERSATION,
        assignee_id=USER,
        tie_break="idle_longest",
        decided_at=T0,
    ),
]


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: type(p).__name__)
def test_wrap_to_bytes_decode_round_trip(payload: ev.Payload) -> None:
    envelope = Envelope.wrap(
        payload,
        tenant_id=TENANT,
        event_id=uuid.UUID(int=99),
        occurred_at=T0,
        correlation_id=uuid.UUID(int=100),
        causation_id=uuid.UUID(int=101),
    )
    assert envelope.type == type(payload).__name__
    assert envelope.schema_version == 1

    decoded, typed = decode(envelope.to_bytes())

    assert decoded == envelope
    assert type(typed) is type(payload)
    assert typed == payload
    assert decoded.event_id == uuid.UUID(int=99)
    assert decoded.tenant_id == TENANT
    assert decoded.occurred_at == T0
    assert (decoded.correlation_id, decoded.causation_id) == (
        uuid.UUID(int=100),
        uuid.UUID(int=101),
    )


def test_wrap_defaults_a_fresh_event_id_and_an_aware_time() -> None:
    payload = ev.ConversationClosed(conversation_id=CONVERSATION, at=T0)
    before = datetime.now(UTC)
    first = Envelope.wrap(payload, tenant_id=TENANT)
    second = Envelope.wrap(payload, tenant_id=TENANT)
    assert first.event_id != second.event_id
    assert first.occurred_at.tzinfo is not None
    assert before <= first.occurred_at <= datetime.now(UTC)
    assert (first.correlation_id, first.causation_id) == (None, None)


@pytest.mark.parametrize("tenant_id", [TENANT, uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)])
def test_key_is_the_tenant_id(tenant_id: uuid.UUID) -> None:
    envelope = Envelope.wrap(
        ev.ConversationClosed(conversation_id=CONVERSATION, at=T0), tenant_id=tenant_id
    )
    assert envelope.key == str(tenant_id).encode()
    assert decode(envelope.to_bytes())[0].key == str(tenant_id).encode()


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: type(p).__name__)
@pytest.mark.parametrize("tenant_id", [TENANT, uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)])
def test_an_envelope_as_an_outbox_stored_it_publishes_as_the_envelope(
    payload: ev.Payload, tenant_id: uuid.UUID
) -> None:
    """The outbox relay publishes the stored text: same bytes, key (partition) and type."""
    envelope = Envelope.wrap(payload, tenant_id=tenant_id)
    stored = envelope.model_dump_json()  # what shared.outbox.enqueue writes
    for kept in (stored, stored.encode()):
        republished = ev.StoredEnvelope.of(kept)
        assert republished.to_bytes() == envelope.to_bytes()
        assert republished.key == envelope.key
        assert republished.type == envelope.type
        assert decode(republished.to_bytes())[0] == envelope


def _raw(**changes: object) -> dict:
    """A valid ConversationClosed envelope as JSON-ready data, with changes (None: drop)."""
    data: dict = {
        "event_id": str(uuid.UUID(int=1)),
        "type": "ConversationClosed",
        "schema_version": 1,
        "tenant_id": str(TENANT),
        "occurred_at": T0.isoformat(),
        "payload": {"conversation_id": str(CONVERSATION), "at": T0.isoformat()},
    }
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def _bytes(data: object) -> bytes:
    return json.dumps(data).encode()


def test_the_reference_raw_envelope_is_readable() -> None:
    envelope, payload = decode(_bytes(_raw()))
    assert payload == ev.ConversationClosed(conversation_id=CONVERSATION, at=T0)
    assert envelope.event_id == uuid.UUID(int=1)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"\xff\xfe\x00", id="not-utf8"),
        pytest.param(b'{"type": "ConversationClosed"', id="truncated-json"),
        pytest.param(b"[]", id="json-array"),
        pytest.param(b"null", id="json-null"),
        pytest.param(b'"ConversationClosed"', id="json-string"),
        pytest.param(b"{}", id="empty-object"),
        pytest.param(_bytes(_raw(type=None)), id="missing-type"),
        pytest.param(_bytes(_raw(tenant_id=None)), id="missing-tenant"),
        pytest.param(_bytes(_raw(payload=None)), id="missing-payload"),
        pytest.param(_bytes(_raw(type="")), id="empty-type"),
        pytest.param(_bytes(_raw(tenant_id="acme")), id="tenant-not-a-uuid"),
        pytest.param(_bytes(_raw(event_id="1")), id="event-id-not-a-uuid"),
        pytest.param(_bytes(_raw(payload=[1, 2])), id="payload-not-an-object"),
        pytest.param(_bytes(_raw(occurred_at="2025-03-01T09:00:00")), id="naive-occurred-at"),
        pytest.param(_bytes(_raw(type="ConversationReopened")), id="unknown-type"),
        pytest.param(_bytes(_raw(type="Payload")), id="base-class-is-not-an-event"),
        pytest.param(_bytes(_raw(schema_version=2)), id="unknown-schema-version"),
        pytest.param(_bytes(_raw(schema_version=0)), id="schema-version-zero"),
        pytest.param(_bytes(_raw(payload={"at": T0.isoformat()})), id="payload-missing-field"),
        pytest.param(
            _bytes(_raw(payload={"conversation_id": "x", "at": T0.isoformat()})),
            id="payload-bad-uuid",
        ),
        pytest.param(
            _bytes(
                _raw(payload={"conversation_id": str(CONVERSATION), "at": "2025-03-01T09:00:00"})
            ),
            id="payload-naive-datetime",
        ),
        pytest.param(
            _bytes(
                _raw(
                    type="PresenceChanged",
                    payload={"user_id": str(USER), "presence": "busy", "at": T0.isoformat()},
                )
            ),
            id="payload-unknown-presence",
        ),
        pytest.param(
            _bytes(
                _raw(
                    type="InboundMessageReceived",
                    payload={
                        "channel_id": str(CHANNEL),
                        "channel_type": "webchat",
                        "channel_message_id": "",
                        "visitor_external_id": "v",
                        "content": {"text": "hi"},
                        "received_at": T0.isoformat(),
                    },
                )
            ),
            id="payload-empty-channel-message-id",
        ),
        pytest.param(
            _bytes(
                _raw(
                    type="InboundMessageReceived",
                    payload={
                        "channel_id": str(CHANNEL),
                        "channel_type": "telegram",
                        "channel_message_id": "m",
                        "visitor_external_id": "v",
                        "content": {"text": "hi"},
                        "received_at": T0.isoformat(),
                    },
                )
            ),
            id="payload-unknown-channel-type",
        ),
    ],
)
def test_decode_raises_unreadable_event(raw: bytes) -> None:
    with pytest.raises(UnreadableEvent):
        decode(raw)


def test_unreadable_event_is_a_value_error() -> None:
    # Consumers that catch ValueError for bad input also catch unreadable events.
    assert issubclass(UnreadableEvent, ValueError)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            {"partition_hint": 3, "trace": {"id": "abc"}},
            ev.ConversationClosed(conversation_id=CONVERSATION, at=T0),
            id="extra-envelope-fields",
        ),
        pytest.param(
            {
                "payload": {
                    "conversation_id": str(CONVERSATION),
                    "at": T0.isoformat(),
                    "reason": "resolved",
                }
            },
            ev.ConversationClosed(conversation_id=CONVERSATION, at=T0),
            id="extra-payload-field",
        ),
        pytest.param(
            {
                "type": "MessageReceived",
                "payload": {
                    "conversation_id": str(CONVERSATION),
                    "message_id": str(uuid.UUID(int=8)),
                    "channel_message_id": "m-1",
                    "content": {"kind": "text", "text": "hi", "mentions": ["@ann"]},
                    "received_at": T0.isoformat(),
                    "sentiment": 0.7,
                },
                "origin": "v2-producer",
            },
            ev.MessageReceived(
                conversation_id=CONVERSATION,
                message_id=uuid.UUID(int=8),
                channel_message_id="m-1",
                content=ev.MessageContent(text="hi"),
                received_at=T0,
            ),
            id="extra-fields-everywhere-including-nested",
        ),
    ],
)
def test_unknown_fields_are_ignored(changes: dict, expected: ev.Payload) -> None:
    envelope, payload = decode(_bytes(_raw(**changes)))
    assert payload == expected
    assert envelope.tenant_id == TENANT
    assert not hasattr(envelope, "partition_hint")
    assert "partition_hint" not in json.loads(envelope.to_bytes())


@pytest.mark.parametrize(
    ("missing", "default"),
    [
        ("schema_version", 1),
        ("correlation_id", None),
        ("causation_id", None),
    ],
)
def test_optional_envelope_fields_default(missing: str, default: object) -> None:
    envelope, _ = decode(_bytes(_raw(**{missing: None})))
    assert getattr(envelope, missing) == default


def test_parsed_payload_matches_decode() -> None:
    payload = ev.ConversationQueued(conversation_id=CONVERSATION, at=T0)
    envelope = Envelope.wrap(payload, tenant_id=TENANT)
    assert envelope.parsed() == payload
    assert json.loads(envelope.to_bytes())["payload"] == {
        "conversation_id": str(CONVERSATION),
        "at": "2025-03-01T09:00:00Z",
    }


def test_an_envelope_without_event_id_is_unreadable() -> None:
    """A consumer cannot deduplicate what has no id of its own, so it must not invent one."""
    with pytest.raises(UnreadableEvent, match="no event_id"):
        decode(_bytes(_raw(event_id=None)))


def test_a_newer_schema_version_of_a_known_type_is_told_apart_from_garbage() -> None:
    """The consumer loop pauses at the first (a newer replica reads it) and dead-letters
    the rest; an unknown type or an older unknown version is garbage either way."""
    with pytest.raises(ev.NewerSchemaVersion, match="ConversationClosed v2 is newer than the v1"):
        decode(_bytes(_raw(schema_version=2)))
    for garbage in (_raw(type="ConversationReopened", schema_version=2), _raw(schema_version=0)):
        with pytest.raises(UnreadableEvent) as caught:
            decode(_bytes(garbage))
        assert not isinstance(caught.value, ev.NewerSchemaVersion)
