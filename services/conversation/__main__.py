"""``python -m services.conversation``: conversations, the tenant's directory, the Portal API.

Wiring only: settings -> the service's parts (``bootstrap.ConversationService``: event
stores, views, outbox relays, broker) -> the consumers of the inbound and routing topics
-> the HTTP API.
"""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import REGISTRY, CollectorRegistry

from services.conversation.api import create_app
from services.conversation.bootstrap import ConversationService
from services.conversation.consumers import register
from services.conversation.settings import ConversationSettings
from shared.service import serve

__all__ = ["ConversationSettings", "build", "main"]


def build(settings: ConversationSettings, registry: CollectorRegistry = REGISTRY) -> FastAPI:
    """The whole service as an app, in the one shape of every service (the tests run it
    in-process with a registry of their own); ``app.state.service`` is the
    :class:`ConversationService` the routes and consumers use."""
    service = ConversationService(settings, registry)
    register(service)
    return create_app(service)


def main() -> None:
    settings = ConversationSettings()
    serve(build(settings), settings)


if __name__ == "__main__":
    main()
