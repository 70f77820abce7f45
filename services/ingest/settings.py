"""The ingest service's settings (environment variables): the service's own, the website
chat's (``WEBCHAT_*``) and the widget's flood limits (``WEBCHAT_*`` counts per minute)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.consumer_service import ConsumerServiceSettings


class IngestSettings(ConsumerServiceSettings):
    service_name: str = "ingest"
    http_port: int = 8001
    #: Opens the channel credentials the conversation service sealed (same value there).
    channel_secrets_key: SecretStr = SecretStr("change-me-channel-secrets-key")
    meta_graph_url: str = "https://graph.facebook.com/v21.0"
    meta_timeout_s: float = Field(default=10.0, gt=0)
    meta_max_attempts: int = Field(default=4, ge=1, le=10)
    meta_retry_backoff_s: float = Field(default=0.5, ge=0)
    delivery_concurrency: int = Field(default=16, ge=1, le=256)
    bot_timeout_s: float = Field(default=10.0, gt=0)
    #: How long a webhook waits for Kafka's acks before answering 503 (Meta then retries).
    webhook_publish_timeout_s: float = Field(default=10.0, gt=0)
    #: Attachments (docs/attachments.md): the operator's ceiling per file (each channel's own
    #: limit applies below it), how long fetching one file from Meta may take, and clamd.
    attachment_max_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    media_timeout_s: float = Field(default=15.0, gt=0)
    #: Files of Meta messages are fetched after the webhook's answer (consumers.meta_media):
    #: a file Meta could not give for a passing reason is tried this often, backing off
    #: from this.
    media_attempts: int = Field(default=4, ge=1, le=20)
    media_retry_backoff_s: float = Field(default=2.0, ge=0)
    clamd_address: str = ""


class WebchatSettings(BaseSettings):
    """``WEBCHAT_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="WEBCHAT_", extra="ignore")

    #: How often a replica looks for replies stored by other replicas for its visitors.
    poll_seconds: float = 1.0
    #: A socket that says nothing for this long after opening is closed (4400).
    hello_timeout_seconds: float = 10.0
    #: Kafka consumer group of the website chat (directory and outbound topics).
    group_id: str = "ingest-webchat"


class WidgetLimitSettings(BaseSettings):
    """``WEBCHAT_*`` environment variables: counts per minute."""

    model_config = SettingsConfigDict(env_prefix="WEBCHAT_", extra="ignore")

    messages_per_visitor_per_minute: int = 30
    messages_per_address_per_minute: int = 120
    messages_per_key_per_minute: int = 6000
    sockets_per_address_per_minute: int = 30
    sockets_per_key_per_minute: int = 3000
