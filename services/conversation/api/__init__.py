"""The Portal's HTTP API."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import REGISTRY

from services.conversation.api import auth, conversations, directory, feed, operator
from services.conversation.bootstrap import ConversationService
from shared.http import install_error_handlers, install_probes


def create_app(svc: ConversationService) -> FastAPI:
    app = FastAPI(
        title="Interact Portal API",
        version="1.0.0",
        description="Conversations, queues and administration for the Interact Portal.",
        lifespan=svc.lifespan,
    )
    app.state.service = svc
    install_error_handlers(app)
    install_probes(app, REGISTRY, svc.ready)
    for module in (auth, operator, directory, conversations, feed):
        app.include_router(module.router)
    return app
