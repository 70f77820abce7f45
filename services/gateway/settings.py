"""The gateway's settings: where each service listens, and where the built Portal is."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from shared.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    service_name: str = "gateway"
    http_port: int = 8080
    conversation_url: str = "http://127.0.0.1:8000"
    ingest_url: str = "http://127.0.0.1:8001"
    stats_url: str = "http://127.0.0.1:8003"
    billing_url: str = "http://127.0.0.1:8004"
    sla_url: str = "http://127.0.0.1:8005"
    #: ``PORTAL_DIST``: the built Portal (``npm run build`` in ``portal/``), served at ``/``.
    portal_dist: Path = Path("portal/dist")
    #: How long to wait for a service to accept a connection; answers may stream forever (SSE).
    upstream_connect_timeout_s: float = Field(default=5.0, gt=0)
    upstream_max_connections: int = Field(default=1000, ge=1)
    #: ``GATEWAY_MAX_BODY_BYTES``: the largest request body held while forwarding (413 above);
    #: above every service's own limit (Meta's batched webhooks take 3 MB), which each
    #: service still enforces.
    gateway_max_body_bytes: int = Field(default=4_000_000, ge=1)
    #: ``GATEWAY_MAX_UPLOAD_BYTES``: the same for file uploads (``routes.UPLOAD_PATHS``):
    #: above the services' ``ATTACHMENT_MAX_BYTES`` + 1 MiB (25 MB + 1 MiB by default).
    gateway_max_upload_bytes: int = Field(default=27 * 1024 * 1024, ge=1)

    def upstreams(self) -> dict[str, str]:
        return {
            "conversation": self.conversation_url,
            "ingest": self.ingest_url,
            "stats": self.stats_url,
            "billing": self.billing_url,
            "sla": self.sla_url,
        }
