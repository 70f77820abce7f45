"""``python -m services.stats``: the statistics read model and dashboard API."""

import sys

from fastapi import FastAPI

from services.stats import api, consumers
from services.stats.settings import StatsSettings
from services.stats.store import metadata
from services.stats.store.access import outdated_tables
from shared import topics
from shared.consumer_service import ConsumerService
from shared.service import serve


def build(settings: StatsSettings) -> FastAPI:
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
        types=consumers.WANTED,
    )
    return service.create_app("Interact statistics", [api.router])


def main() -> None:
    settings = StatsSettings()
    serve(build(settings), settings)


if __name__ == "__main__":
    main()
