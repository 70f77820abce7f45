"""Every service's HTTP app, wired as its ``__main__`` wires it, for in-process tests.

The apps are built but not started: a test that needs the consumers runs the lifespan
(``with TestClient(app)``); one that checks what happens at the HTTP door does not need to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from shared.settings import ServiceSettings

SERVICES = ("conversation", "ingest", "routing", "stats", "billing", "sla")


def service_apps(
    data_dir: Path,
    bootstrap: str,
    database_urls: dict[str, str] | None = None,
    **overrides: Any,
) -> dict[str, FastAPI]:
    """One app per service on the given broker, each on its database of ``database_urls``
    (PostgreSQL) or on ``data_dir``'s SQLite files."""
    from services.billing.__main__ import build as build_billing
    from services.billing.settings import BillingSettings
    from services.conversation.api import create_app
    from services.conversation.bootstrap import ConversationService
    from services.conversation.settings import ConversationSettings
    from services.ingest.__main__ import IngestSettings
    from services.ingest.__main__ import build as build_ingest
    from services.routing.__main__ import build as build_routing
    from services.routing.settings import RoutingSettings
    from services.sla.__main__ import build as build_sla
    from services.sla.settings import SlaSettings
    from services.stats.api import routes as stats_routes
    from services.stats.settings import StatsSettings
    from services.stats.store import metadata as stats_metadata
    from shared.consumer_service import ConsumerService

    common = {
        "data_dir": data_dir,
        "kafka_bootstrap_servers": bootstrap,
        "kafka_enable_idempotence": False,
        **overrides,
    }
    urls = database_urls or {}

    def of(name: str) -> dict[str, Any]:
        return {**common, "database_url": urls.get(name, "")}

    conversation = ConversationService(
        ConversationSettings(**of("conversation")), CollectorRegistry()
    )
    routing = build_routing(RoutingSettings(**of("routing")))
    stats = ConsumerService(StatsSettings(**of("stats")), stats_metadata)
    return {
        "conversation": create_app(conversation),
        "ingest": build_ingest(IngestSettings(**of("ingest"))),
        "routing": routing,
        "stats": stats.create_app("Interact statistics", [stats_routes.router]),
        "billing": build_billing(BillingSettings(**of("billing"))),
        "sla": build_sla(SlaSettings(**of("sla"))),
    }


def settings_for(bootstrap: str, **overrides: object) -> ServiceSettings:
    """Settings of a service under test on the given broker."""
    return ServiceSettings(
        kafka_bootstrap_servers=bootstrap,
        **overrides,  # type: ignore[arg-type]
    )
