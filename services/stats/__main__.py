"""``python -m services.stats``: the statistics read model and dashboard API.

Wiring only, in the one shape of every service (``shared.service``): ``build(settings)``
gives the app (database and broker through ``ConsumerService``, the consumer of the
conversation and directory topics, the HTTP API); ``main`` serves it.
"""

from __future__ import annotations

import sys

from fastapi import FastAPI

from services.stats import consumers
from services.stats.api import routes
from services.stats.settings import StatsSettings
from services.stats.store import metadata
from services.stats.store.access import outdated_tables
from shared import topics
from shared.consumer_service import ConsumerService
from shared.service import serve


def build(settings: StatsSettings) -> FastAPI:
    """The whole service as an app; ``app.state.service`` is its ``ConsumerService``. A
    database holding an older version of the view is refused (it is rebuilt, not migrated)."""
    service = ConsumerService(settings, metadata)
    if lacking := outdated_tables(service.engine):
        sys.exit(
            f"The statistics view in this database is of an older version ({lacking}). "
            "Rebuild it into an empty database with `python -m services.stats.rebuild "
            "--into <url>` and point DATABASE_URL at that one (docs/stats.md)."
        )
    service.consume(
        topics.CONVERSATION_EVENTS,
        topics.DIRECTORY_EVENTS,
        group_id="stats",
        apply=consumers.apply,
        types=consumers.handlers.types,
    )
    return service.create_app("Interact statistics", [routes.router])


def main() -> None:
    settings = StatsSettings()
    app = build(settings)
    serve(app, settings)


if __name__ == "__main__":
    main()
