"""``python -m services.stats``: the statistics read model and dashboard API."""

from services.stats import api, consumers
from services.stats.store import metadata
from shared import topics
from shared.consumer_service import ConsumerService, ConsumerServiceSettings
from shared.service import serve


class StatsSettings(ConsumerServiceSettings):
    service_name: str = "stats"
    http_port: int = 8003


def main() -> None:
    settings = StatsSettings()
    service = ConsumerService(settings, metadata)
    service.consume(
        topics.CONVERSATION_EVENTS,
        topics.DIRECTORY_EVENTS,
        group_id="stats",
        apply=consumers.apply,
        wanted=lambda e: e.type in consumers.WANTED,
    )
    serve(service.create_app("Interact statistics", [api.router]), settings)


if __name__ == "__main__":
    main()
