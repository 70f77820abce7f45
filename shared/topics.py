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

#: Topics between ingest and the conversation service that carry clear text; nobody
#: rebuilds from them, and a visitor's erasure truncates them (docs/data-lifecycle.md).
TRANSIT = (INBOUND_MESSAGES, OUTBOUND_MESSAGES)

DAY_MS = 86_400_000
#: ``retention.ms`` of each topic: finite everywhere. The event store and the feed
#: (``GET /v1/feed/...``) are the system of record for rebuilds, not the topics.
#: ``KAFKA_EVENT_RETENTION_MS`` and ``KAFKA_TRANSIT_RETENTION_MS`` override the defaults.
#: Event topics' retention: consumers that fall further behind rebuild from the feed.
EVENT_RETENTION_MS = 90 * DAY_MS
RETENTION_MS = {
    INBOUND_MESSAGES: 7 * DAY_MS,
    OUTBOUND_MESSAGES: 7 * DAY_MS,
    DEAD_LETTERS: 30 * DAY_MS,
    ROUTING_DECISIONS: 14 * DAY_MS,
    CONVERSATION_EVENTS: 90 * DAY_MS,
    DIRECTORY_EVENTS: 90 * DAY_MS,
    BILLING_EVENTS: 90 * DAY_MS,
    SLA_EVENTS: 90 * DAY_MS,
}


def retention_ms(name: str, event_ms: int | None = None, transit_ms: int | None = None) -> int:
    """The topic's retention, with the settings' overrides for event and transit topics."""
    if name in TRANSIT and transit_ms is not None:
        return transit_ms
    if name not in TRANSIT and name != DEAD_LETTERS and event_ms is not None:
        return event_ms
    # A topic of no contract (a test's, an operator's) keeps events as long as event topics.
    return RETENTION_MS.get(name, EVENT_RETENTION_MS)
