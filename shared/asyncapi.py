"""The platform's Kafka contract as one AsyncAPI 3 document, generated from ``shared/``.

Every topic of :mod:`shared.topics` is a channel; every payload of
:data:`shared.events.PAYLOADS` is a message whose JSON schema is the pydantic model's,
wrapped in the :class:`~shared.events.Envelope` that travels on the wire, with an
example that validates against the model. Every message has the tenant id as its Kafka
key and the ``event-type`` and ``content-type`` headers. Operations say which service
sends to and receives from which topic.

``python -m shared.asyncapi`` writes ``docs/api/asyncapi.json`` (``scripts/api_docs.py``
writes it with the OpenAPI documents); each service serves it at ``/asyncapi``.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from pathlib import Path
from typing import Any

from pydantic.json_schema import models_json_schema

from shared import topics
from shared.events import PAYLOADS, Envelope, Payload

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
CONTENT_TYPE = "application/json"
DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "api" / "asyncapi.json"

#: Which event types travel on which topic (the dead-letter topic carries any of them).
TOPIC_EVENTS: dict[str, tuple[str, ...]] = {
    topics.INBOUND_MESSAGES: (
        "InboundMessageReceived",
        "DeliveryStatusReported",
        "BotReplied",
        "BotFailed",
    ),
    topics.DIRECTORY_EVENTS: (
        "TenantCreated",
        "TenantSettingsChanged",
        "OfficeHoursSet",
        "ContractEnded",
        "EndUserCreated",
        "EndUserUpdated",
        "EndUserDeleted",
        "EndUserActivated",
        "EndUserDeactivated",
        "PresenceChanged",
        "LabelChanged",
        "LabelDeleted",
        "ChannelConnected",
        "ChannelDisconnected",
        "ChannelOriginsSet",
        "ChannelOutOfOfficeSet",
        "ChatbotConnected",
        "ChatbotDisconnected",
        "TenantPurged",
    ),
    topics.CONVERSATION_EVENTS: (
        "ConversationOpened",
        "MessageReceived",
        "ConversationQueued",
        "ConversationAssigned",
        "ConversationTaken",
        "ConversationRequirementsChanged",
        "MessageSent",
        "MessageDeliveryChanged",
        "HandoverChanged",
        "ConversationClosed",
        "ConversationArchived",
    ),
    topics.ROUTING_DECISIONS: ("ConversationRouted",),
    topics.OUTBOUND_MESSAGES: ("OutboundMessageRequested", "BotTurnRequested", "VisitorErased"),
    topics.BILLING_EVENTS: ("InvoiceIssued", "InvoicePaymentRecorded"),
    topics.SLA_EVENTS: ("ServiceCreditGranted",),
    topics.DEAD_LETTERS: (),
}

#: Who sends to and receives from each topic (every consumer may also dead-letter).
SENDS: dict[str, tuple[str, ...]] = {
    "conversation": (topics.CONVERSATION_EVENTS, topics.DIRECTORY_EVENTS, topics.OUTBOUND_MESSAGES),
    "ingest": (topics.INBOUND_MESSAGES,),
    "routing": (topics.ROUTING_DECISIONS,),
    "stats": (),
    "billing": (topics.BILLING_EVENTS,),
    "sla": (topics.SLA_EVENTS,),
}
RECEIVES: dict[str, tuple[str, ...]] = {
    "conversation": (topics.INBOUND_MESSAGES, topics.ROUTING_DECISIONS),
    "ingest": (topics.DIRECTORY_EVENTS, topics.OUTBOUND_MESSAGES),
    "routing": (topics.CONVERSATION_EVENTS, topics.DIRECTORY_EVENTS),
    "stats": (topics.CONVERSATION_EVENTS, topics.DIRECTORY_EVENTS),
    "billing": (topics.DIRECTORY_EVENTS, topics.SLA_EVENTS),
    "sla": (topics.DIRECTORY_EVENTS, topics.BILLING_EVENTS),
}

_EXAMPLE_TENANT = "7d1c2b6e-2f4a-4b8e-9a51-3c0de5a1f001"
_EXAMPLE_UUID = "0b7f3c1e-5d2a-4e6f-8a90-1b2c3d4e5f60"
_EXAMPLE_TIME = "2026-03-02T09:30:00Z"
#: Examples of the string patterns the payloads use (a new pattern needs one here).
_PATTERN_EXAMPLES = {r"^\d{4}-\d{2}$": "2026-02"}


def channel_id(topic: str) -> str:
    """``interact.inbound-messages.v1`` -> ``inboundMessagesV1``."""
    words = re.split(r"[.-]", topic.removeprefix("interact."))
    return words[0] + "".join(word.capitalize() for word in words[1:])


def _example(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """A value that fits ``schema``: the first enum value, the minimum, a fixed uuid/time."""
    if "$ref" in schema:
        return _example(defs[schema["$ref"].rsplit("/", 1)[1]], defs)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema and schema["default"] not in (None, [], {}):
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return _example(options[0], defs)
    kind = schema.get("type")
    if kind == "object":
        return {name: _example(prop, defs) for name, prop in schema.get("properties", {}).items()}
    if kind == "array":
        count = max(schema.get("minItems", 1), 1)
        return [_example(schema.get("items", {}), defs) for _ in range(count)]
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "uuid":
            return _EXAMPLE_UUID
        if fmt == "date-time":
            return _EXAMPLE_TIME
        if fmt == "date":
            return _EXAMPLE_TIME[:10]
        if "pattern" in schema:
            return _PATTERN_EXAMPLES[schema["pattern"]]
        return "x" * max(schema.get("minLength", 1), 1)
    if kind in ("integer", "number"):
        return schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
    if kind == "boolean":
        return False
    return None


def _message(event_type: str, model: type[Payload], defs: dict[str, Any]) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    payload_example = _example(ref, defs)
    envelope_example = Envelope(
        event_id=_EXAMPLE_UUID,
        type=event_type,
        tenant_id=_EXAMPLE_TENANT,
        occurred_at=_EXAMPLE_TIME,
        payload=model.model_validate(payload_example).model_dump(mode="json"),
    ).model_dump(mode="json")
    return {
        "name": event_type,
        "title": event_type,
        "summary": (model.__doc__ or event_type).strip().splitlines()[0],
        "contentType": CONTENT_TYPE,
        "headers": {"$ref": f"#/components/schemas/{event_type}Headers"},
        "payload": {
            "allOf": [
                {"$ref": "#/components/schemas/Envelope"},
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": event_type},
                        "schema_version": {"const": 1},
                        "payload": ref,
                    },
                },
            ]
        },
        "bindings": {
            "kafka": {
                "key": {"type": "string", "format": "uuid", "description": "The tenant id."},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
        "examples": [
            {
                "name": f"{event_type}Example",
                "headers": {"event-type": event_type, "content-type": CONTENT_TYPE},
                "payload": envelope_example,
            }
        ],
    }


def _headers_schema(event_type: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["event-type", "content-type"],
        "properties": {
            "event-type": {"type": "string", "const": event_type},
            "content-type": {"type": "string", "const": CONTENT_TYPE},
        },
    }


@functools.cache
def asyncapi_document() -> dict[str, Any]:
    models = sorted({model for model in PAYLOADS.values()}, key=lambda m: m.__name__)
    _, top = models_json_schema(
        [(Envelope, "validation"), *((m, "validation") for m in models)],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = dict(sorted(top["$defs"].items()))
    messages: dict[str, Any] = {}
    for (event_type, _version), model in sorted(PAYLOADS.items()):
        messages[event_type] = _message(event_type, model, schemas)
        schemas[f"{event_type}Headers"] = _headers_schema(event_type)
    schemas["DeadLetterHeaders"] = {
        "type": "object",
        "required": ["source", "reason", "service"],
        "properties": {
            "source": {
                "type": "string",
                "description": "Where it came from: topic:partition:offset.",
            },
            "topic": {
                "type": "string",
                "description": "The topic it came from (replays go there).",
            },
            "partition": {"type": "string", "description": "Its partition there."},
            "offset": {"type": "string", "description": "Its offset there."},
            "reason": {"type": "string", "description": "Why it could not be read or applied."},
            "reason-code": {
                "type": "string",
                "enum": [
                    "not_an_envelope",
                    "unknown_type",
                    "malformed",
                    "refused_by_database",
                    "other",
                ],
            },
            "service": {"type": "string", "description": "The service that gave up on it."},
            "group": {"type": "string", "description": "The consumer group that gave up on it."},
            "event-type": {"type": "string", "description": "The original event-type header."},
            "dead-lettered-at": {"type": "string", "format": "date-time"},
        },
    }
    messages["DeadLetter"] = {
        "name": "DeadLetter",
        "title": "DeadLetter",
        "summary": "A message a consumer could not read or apply, as it came, with the reason.",
        "contentType": "application/octet-stream",
        "headers": {"$ref": "#/components/schemas/DeadLetterHeaders"},
        "payload": {"type": "string", "format": "binary"},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "The original key (the tenant id)."},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }
    channels: dict[str, Any] = {}
    for topic in topics.ALL:
        names = TOPIC_EVENTS[topic] or ("DeadLetter",)
        channels[channel_id(topic)] = {
            "address": topic,
            "title": topic,
            "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in names},
            "bindings": {"kafka": {"topic": topic, "bindingVersion": KAFKA_BINDING_VERSION}},
        }
    operations: dict[str, Any] = {}
    for action, table in (("send", SENDS), ("receive", RECEIVES)):
        for service, service_topics in table.items():
            for topic in service_topics:
                channel = channel_id(topic)
                operations[f"{service}.{action}.{channel}"] = {
                    "action": action,
                    "title": f"{service} {action}s {topic}",
                    "channel": {"$ref": f"#/channels/{channel}"},
                    "messages": [
                        {"$ref": f"#/channels/{channel}/messages/{name}"}
                        for name in TOPIC_EVENTS[topic]
                    ],
                    "tags": [{"name": service}],
                }
        for service in table:
            if action == "send":  # every service may dead-letter what it cannot apply
                channel = channel_id(topics.DEAD_LETTERS)
                operations[f"{service}.send.{channel}"] = {
                    "action": "send",
                    "title": f"{service} sends {topics.DEAD_LETTERS}",
                    "channel": {"$ref": f"#/channels/{channel}"},
                    "messages": [{"$ref": f"#/channels/{channel}/messages/DeadLetter"}],
                    "tags": [{"name": service}],
                }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Interact events",
            "version": "1.0.0",
            "description": (
                "Every topic of the Interact platform. Each message is an envelope (event_id,"
                " type, schema_version, tenant_id, occurred_at, payload) keyed by tenant id,"
                " with the event-type and content-type headers. Consumers deduplicate on"
                " event_id and dead-letter what they cannot read."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "kafka": {
                "host": "kafka:9092",
                "protocol": "kafka",
                "description": "The cluster of KAFKA_BOOTSTRAP_SERVERS.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


def render() -> str:
    return json.dumps(asyncapi_document(), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DOCUMENT
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render())
    print(target)


if __name__ == "__main__":
    main()
