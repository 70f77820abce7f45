"""``python -m services.ingest``: channel adapters in, replies out.

Wiring only: settings -> database and broker (``ConsumerService``) -> the consumers (the
directory's Meta channels and chatbots, Meta deliveries, chatbot turns, the website chat)
-> the HTTP app (Meta webhook, website chat: widget, socket, messages, files).
"""

from fastapi import FastAPI

from services.ingest.api import meta_media, meta_webhook, webchat_files, webchat_messages
from services.ingest.api import webchat as webchat_api
from services.ingest.api.cors import WidgetCors
from services.ingest.consumers import bot, directory, meta_delivery, webchat
from services.ingest.consumers import meta_media as deferred
from services.ingest.consumers.meta_graph import RetryPolicy
from services.ingest.settings import IngestSettings
from services.ingest.store import channels
from services.ingest.store.webchat_files import WidgetFiles
from shared import topics
from shared.attachment_links import link_key
from shared.blobs import BlobSettings, blob_store_from_settings
from shared.clamd import scanner_from_address
from shared.consumer_service import ConsumerService
from shared.outbound import OutboundPolicy
from shared.service import serve

__all__ = ["IngestSettings", "build", "main"]


def build(settings: IngestSettings) -> FastAPI:
    """The whole service as an app (the tests run it in-process)."""
    key = settings.channel_secrets_key.get_secret_value()
    service = ConsumerService(settings, channels.metadata)
    service.consume(
        topics.DIRECTORY_EVENTS,
        group_id="ingest",
        apply=directory.make_apply(key),
        types=directory.handlers.types,
    )
    meta_channels = channels.MetaChannels(service.engine, key)
    graph = meta_delivery.GraphSettings(
        base_url=settings.meta_graph_url,
        timeout_s=settings.meta_timeout_s,
        retry=RetryPolicy(settings.meta_max_attempts, settings.meta_retry_backoff_s),
        concurrency=settings.delivery_concurrency,
    )
    blobs = blob_store_from_settings(BlobSettings(data_dir=settings.data_dir))
    meta_delivery.register(service, meta_channels, graph, blobs)
    bot.register(
        service,
        key,
        bot.BotSettings(
            settings.bot_timeout_s,
            settings.delivery_concurrency,
            OutboundPolicy.from_settings(settings),
        ),
    )
    chat = webchat.install(service)
    app = service.create_app(
        "Interact ingest",
        [webchat_messages.router, webchat_api.router, webchat_files.router, meta_webhook.router],
    )
    app.state.webchat = chat
    app.add_middleware(WidgetCors)  # outermost: refusals at the door carry CORS headers too
    app.state.body_limits = {"/v1/meta/webhook": meta_webhook.MAX_BODY_BYTES}
    app.state.meta_channels = meta_channels
    app.state.meta_publish_timeout_s = settings.webhook_publish_timeout_s
    app.state.blobs = blobs
    app.state.widget_files = WidgetFiles(
        blobs,
        settings.attachment_max_bytes,
        scanner_from_address(settings.clamd_address),
        link_key(settings.channel_secrets_key.get_secret_value()),
    )
    # A little above the largest file: a file just too large gets its own clear 413.
    app.state.binary_bodies = {webchat_files.UPLOAD_PATH: settings.attachment_max_bytes + 2**20}
    app.state.media = meta_media.MediaFetcher(
        blobs,
        meta_media.MediaSettings(
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
