"""The conversation service's schema migrations (Alembic): the tables no event rebuilds.

Migrated: the security store (credentials, sessions, reset tokens), the rate limits and the
log positions (the outbox relays' and the projector's). Not migrated: the views
(``tables.VIEWS``), which are dropped and replayed from the event store when
``VIEWS_VERSION`` changes, and the event store's tables, which are the eventsourcing library's.
"""

from pathlib import Path

from services.conversation.store import datakeys, exports, retention, tables
from shared.migrations import Schema

#: The export records, the purge's runs and the data keys are tables of ``tables.metadata`` too.
_ALSO_MIGRATED = (exports.exports, retention.retention_runs, datakeys.data_keys)

SCHEMA = Schema(
    service="conversation",
    versions=Path(__file__).parent,
    metadata=(tables.metadata,),
    rebuilt=frozenset(t.name for t in tables.VIEWS),
    # After a restore: the views are replayed from the restored event store (no version:
    # ``ensure_views_current`` rebuilds them) and both logs are published again from their
    # start to the (clean) Kafka; consumers skip by event id what they already applied.
    after_restore=("DELETE FROM log_positions WHERE name LIKE 'outbox:%' OR name LIKE 'views:%'",),
)
