"""Erasures after a restore: ``python -m services.conversation.erasure_cli reapply``.

A backup holds the data keys as they were when it was made, and the blob store's files;
erasures since then are in the erasure log (``ERASURE_LOG``, outside the databases and the
backups). Run this after a restore and before the services start: every logged visitor is
erased again (event, keys, views, files), so nothing erased comes back. Idempotent
(docs/data-lifecycle.md).

The views are brought up to date first, while the restored keys still open the events:
they say which files each conversation has (the ``attachments`` view keeps the ids of an
erased conversation's files), so the files can be found and deleted after the keys went.
"""

from __future__ import annotations

import argparse
import asyncio

from services.conversation.application.conversations import Conversations
from services.conversation.application.erasure import ErasureLog, forget_files_again, reapply
from services.conversation.application.eventstore import event_store_env
from services.conversation.settings import ConversationSettings
from services.conversation.store.datakeys import SqlKeyStore
from services.conversation.store.files import forget_files
from services.conversation.store.projection import Projector, ensure_views_current
from services.conversation.store.tables import metadata
from shared.blobs import BlobSettings, blob_store_from_settings
from shared.datakeys import Sealer
from shared.readmodel import make_engine, scrub


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.conversation.erasure_cli")
    parser.add_argument("command", choices=["reapply"])
    parser.parse_args(argv)
    settings = ConversationSettings()
    engine = make_engine(settings.sqlalchemy_url("conversation"))
    metadata.create_all(engine)
    ensure_views_current(engine)
    sealer = Sealer(SqlKeyStore(engine), ttl=settings.data_key_cache_seconds)
    conversations = Conversations(
        env=event_store_env(settings.database_url, settings.data_dir, "conversations"),
        sealer=sealer,
    )
    log = ErasureLog(settings.erasure_log_path)
    blobs = blob_store_from_settings(BlobSettings(data_dir=settings.data_dir))
    projector = Projector(engine, [conversations])
    try:
        projector.catch_up_now()  # the restored views, with the files of every conversation
        applied = reapply(conversations, sealer, log)
        projector.catch_up_now()
        files = asyncio.run(
            forget_files_again(log, lambda t, ids: forget_files(engine, blobs, t, ids))
        )
        scrub(engine)
    finally:
        conversations.close()
        engine.dispose()
    print(f"erasures re-applied: {applied} (files deleted again: {files})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
