"""``python -m services.ingest``: channel adapters in, replies out."""

from fastapi import FastAPI
from pydantic import Field, SecretStr

from services.ingest import api, store, webchat
from services.ingest.bot import connector as bot_connector
from services.ingest.meta import deferred, media
from services.ingest.meta import webhook as meta_webhook
from services.ingest.outbound import consumer as meta_delivery
from services.ingest.outbound.graph import RetryPolicy
from services.ingest.webchat import file_store
from services.ingest.webchat import files as widget_files
from services.ingest.webchat.cors import WidgetCors
from shared import topics
from shared.attachment_links import link_key
from shared.blobs import BlobSettings, blob_store_from_settings
from shared.clamd import scanner_from_address
from shared.consumer_service import ConsumerService, ConsumerServiceSettings
from shared.outbound import OutboundPolicy
from shared.service import serve


class IngestSettings(ConsumerServiceSettings):
    service_name: str = "ingest"
    http_port: int = 8001
    #: Opens the channel credentials the conversation service sealed (same value there).
    channel_secrets_key: SecretStr = SecretStr("change-me-channel-secrets-key")
    meta_graph_url: str = "https://graph.facebook.com/v21.0"
    meta_timeout_s: float = Field(default=10.0, gt=0)
    meta_max_attempts: int = Field(default=4, ge=1, le=10)
    meta_retry_backoff_s: float = Field(default=0.5, ge=0)
    delivery_concurrency: int = Field(default=16, ge=1, le=256)
    bot_timeout_s: float = Field(default=10.0, gt=0)
    #: How long a webhook waits for Kafka's acks before answering 503 (Meta then retries).
    webhook_publish_timeout_s: float = Field(default=10.0, gt=0)
    #: Attachments (docs/attachments.md): the operator's ceiling per file (each channel's own
    #: limit applies below it), how long fetching one file from Meta may take, and clamd.
    attachment_max_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    media_timeout_s: float = Field(default=15.0, gt=0)
    #: Files of Meta messages are fetched after the webhook's answer (meta.deferred): a file
    #: Meta could not give for a passing reason is tried this often, backing off from this.
    media_attempts: int = Field(default=4, ge=1, le=20)
    media_retry_backoff_s: float = Field(default=2.0, ge=0)
    clamd_address: str = ""


def build(settings: IngestSettings) -> FastAPI:
    key = settings.channel_secrets_key.get_secret_value()
    service = ConsumerService(settings, store.metadata)
    service.consume(
        topics.DIRECTORY_EVENTS,
        group_id="ingest",
        apply=store.make_apply(key),
        types=store.WANTED,
    )
    meta_channels = store.MetaChannels(service.engine, key)
    graph = meta_delivery.GraphSettings(
        base_url=settings.meta_graph_url,
        timeout_s=settings.meta_timeout_s,
        retry=RetryPolicy(settings.meta_max_attempts, settings.meta_retry_backoff_s),
        concurrency=settings.delivery_concurrency,
    )
    blobs = blob_store_from_settings(BlobSettings(data_dir=settings.data_dir))
    meta_delivery.register(service, meta_channels, graph, blobs)
    bot_connector.register(
        service,
        key,
        bot_connector.BotSettings(
            settings.bot_timeout_s,
            settings.delivery_concurrency,
            OutboundPolicy.from_settings(settings),
        ),
    )
    chat = webchat.install(service)
    app = service.create_app(
        "Interact ingest", [api.router, webchat.router, widget_files.router, meta_webhook.router]
    )
    app.state.webchat = chat
    app.add_middleware(WidgetCors)  # outermost: refusals at the door carry CORS headers too
    app.state.body_limits = {"/v1/meta/webhook": meta_webhook.MAX_BODY_BYTES}
    app.state.meta_channels = meta_channels
    app.state.meta_publish_timeout_s = settings.webhook_publish_timeout_s
    app.state.blobs = blobs
    app.state.widget_files = file_store.WidgetFiles(
        blobs,
        settings.attachment_max_bytes,
        scanner_from_address(settings.clamd_address),
        link_key(settings.channel_secrets_key.get_secret_value()),
    )
    # A little above the largest file: a file just too large gets its own clear 413.
    app.state.binary_bodies = {widget_files.UPLOAD_PATH: settings.attachment_max_bytes + 2**20}
    app.state.media = media.MediaFetcher(
        blobs,
        media.MediaSettings(
            settings.meta_graph_url, settings.media_timeout_s, settings.attachment_max_bytes
        ),
        OutboundPolicy.from_settings(settings),
        scanner_from_address(settings.clamd_address),
        engine=service.engine,
    )
    later = deferred.DeferredMedia(
        service.engine,
        app.state.media,
        meta_channels,
        service.broker,
        deferred.DeferredSettings(
            attempts=settings.media_attempts,
            backoff_s=settings.media_retry_backoff_s,
            publish_timeout_s=settings.webhook_publish_timeout_s,
        ),
    )
    app.state.deferred_media = later

    async def start_fetching() -> None:
        service.tasks.start("meta-media", later.run_forever)

    service.on_start.append(start_fetching)
    return app


def main() -> None:
    settings = IngestSettings()
    serve(build(settings), settings)


if __name__ == "__main__":
    main()
