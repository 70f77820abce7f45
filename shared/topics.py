"""Kafka topic names: the one place they are spelled.

A topic name carries its contract version; a breaking change to what a topic carries
gets a new name (``.v2``) so old and new consumers can run side by side.
Every message is keyed by ``tenant_id``: one tenant's messages stay in order on one
partition, and a consumer group splits the tenants between its members.
"""

INBOUND_MESSAGES = "interact.inbound-messages.v1"
CONVERSATION_EVENTS = "interact.conversation-events.v1"
DIRECTORY_EVENTS = "interact.directory-events.v1"
ROUTING_DECISIONS = "interact.routing-decisions.v1"
OUTBOUND_MESSAGES = "interact.outbound-messages.v1"
BILLING_EVENTS = "interact.billing-events.v1"
SLA_EVENTS = "interact.sla-events.v1"
DEAD_LETTERS = "interact.dead-letters.v1"

ALL = (
    INBOUND_MESSAGES,
    CONVERSATION_EVENTS,
    DIRECTORY_EVENTS,
    ROUTING_DECISIONS,
    OUTBOUND_MESSAGES,
    BILLING_EVENTS,
    SLA_EVENTS,
    DEAD_LETTERS,
)
