"""``python -m services.ingest``: channel adapters in, replies out."""

from services.ingest import api, store
from shared import topics
from shared.consumer_service import ConsumerService, ConsumerServiceSettings
from shared.service import serve


class IngestSettings(ConsumerServiceSettings):
    service_name: str = "ingest"
    http_port: int = 8001


def main() -> None:
    settings = IngestSettings()
    service = ConsumerService(settings, store.metadata)
    service.consume(
        topics.DIRECTORY_EVENTS,
        group_id="ingest",
        apply=store.apply,
        wanted=lambda e: e.type in store.WANTED,
    )
    app = service.create_app("Interact ingest", [api.router])
    app.state.channels = store.ChannelLookup(service.engine)
    serve(app, settings)


if __name__ == "__main__":
    main()
