"""The routing service's settings (environment variables)."""

from __future__ import annotations

from pydantic import Field

from shared.consumer_service import ConsumerServiceSettings


class RoutingSettings(ConsumerServiceSettings):
    service_name: str = "routing"
    http_port: int = 8002
    #: ``ROUTING_TAKE_TIMEOUT_SECONDS``: an assigned conversation not taken within this
    #: time goes to someone else eligible.
    routing_take_timeout_seconds: float = Field(default=120.0, gt=0)
    #: ``ROUTING_SWEEP_SECONDS``: how often the take deadlines are looked at.
    routing_sweep_seconds: float = Field(default=5.0, gt=0)
    #: ``ROUTING_CONSUMER_GROUP``: instances in one group split the tenants between them.
    routing_consumer_group: str = "routing"
    #: ``ROUTING_SESSION_TIMEOUT_MS``: how soon the group notices a dead instance.
    routing_session_timeout_ms: int = Field(default=10_000, ge=1_000)
    #: ``ROUTING_OUTBOX_KEEP_HOURS``: published decisions stay this long in the outbox
    #: (Kafka keeps them for its retention), then they are deleted.
    routing_outbox_keep_hours: float = Field(default=24.0, gt=0)
    #: ``OUTBOX_POLL_SECONDS``: how often the decisions' relay looks for decisions other
    #: replicas saved (the longest it backs off to); a save in this process wakes it at once.
    outbox_poll_seconds: float = Field(default=0.5, gt=0)
