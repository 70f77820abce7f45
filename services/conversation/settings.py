"""The conversation service's settings (see ``shared.settings`` for the common ones)."""

from __future__ import annotations

from pydantic import SecretStr

from shared.settings import ServiceSettings


class ConversationSettings(ServiceSettings):
    service_name: str = "conversation"
    http_port: int = 8000
    #: Bearer token of the operator API (tenant onboarding) and the event feed.
    operator_token: SecretStr = SecretStr("change-me-operator-token")
    session_ttl_hours: int = 12
    public_base_url: str = "http://127.0.0.1:8000"
