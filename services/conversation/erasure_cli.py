"""Erasures after a restore: ``python -m services.conversation.erasure_cli reapply``.

A backup holds the data keys as they were when it was made; erasures since then are in the
erasure log (``ERASURE_LOG``, outside the databases and the backups). Run this after a
restore and before the services start: every logged visitor is erased again (event, keys,
views), so nothing erased comes back. Idempotent (docs/data-lifecycle.md).
"""

from __future__ import annotations

import argparse

from services.conversation.application.conversations import Conversations
from services.conversation.application.erasure import ErasureLog, reapply
from services.conversation.application.eventstore import event_store_env
from services.conversation.settings import ConversationSettings
from services.conversation.store.datakeys import SqlKeyStore
from services.conversation.store.projection import Projector, ensure_views_current
from services.conversation.store.tables import metadata
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
    try:
        applied = reapply(conversations, sealer, ErasureLog(settings.erasure_log_path))
        Projector(engine, [conversations]).catch_up_now()
        scrub(engine)
    finally:
        conversations.close()
        engine.dispose()
    print(f"erasures re-applied: {applied}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
