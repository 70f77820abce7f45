"""The Portal's HTTP API."""

from __future__ import annotations

from eventsourcing.persistence import IntegrityError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.conversation.api import (
    attachments,
    auth,
    channels,
    chatbots,
    conversations,
    erasure,
    export,
    faq,
    feed,
    history,
    labels,
    me,
    operator,
    retention,
    settings,
    stream,
    users,
)
from services.conversation.bootstrap import ConversationService
from shared.http import error_body, install_error_handlers, install_probes, new_app


def create_app(svc: ConversationService) -> FastAPI:
    app = new_app(
        title="Interact Portal API",
        version="1.0.0",
        description="Conversations, queues and administration for the Interact Portal.",
        lifespan=svc.lifespan,
    )
    app.state.service = svc
    # A little above the largest file: a file just too large gets its own clear 413.
    app.state.binary_bodies = {attachments.UPLOAD_PATH: svc.settings.attachment_max_bytes + 2**20}
    install_error_handlers(app, svc.settings.http_max_body_bytes, svc.settings.forwarded_allow_ips)

    @app.exception_handler(LookupError)
    async def _missing(_request: Request, exc: LookupError) -> JSONResponse:
        # Another tenant's id is answered exactly like an unknown one: existence does not leak.
        return JSONResponse(
            error_body("not_found", f"No such {exc.args[0] if exc.args else 'thing'}."), 404
        )

    @app.exception_handler(IntegrityError)
    async def _collided(_request: Request, _exc: IntegrityError) -> JSONResponse:
        # Two changes to one aggregate at once (another replica, another click): one won.
        return JSONResponse(
            error_body("concurrent_change", "Someone changed this at the same moment; retry."),
            409,
        )

    install_probes(app, svc.registry, svc.ready)
    routers = [
        auth.router,
        operator.router,
        users.router,
        users.colleagues_router,
        labels.competences_router,
        labels.topics_router,
        channels.router,
        chatbots.router,
        settings.router,
        faq.router,
        me.router,
        conversations.router,
        attachments.router,
        history.router,
        erasure.router,
        stream.router,
        feed.router,
        export.router,
        retention.router,
    ]
    for router in routers:
        app.include_router(router)
    return app
