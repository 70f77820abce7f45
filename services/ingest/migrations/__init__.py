"""The ingest service's schema migrations (Alembic): every table of its database, the
channel adapters' (``services.ingest.store``) and the website chat's (``webchat.store``).

``shared.migrations`` runs them at start-up; the revisions are the other files here.
"""

from pathlib import Path

from services.ingest import store
from services.ingest.meta import deferred  # noqa: F401  (its table: meta_media_pending)
from services.ingest.webchat import store as webchat
from shared.migrations import Schema
from shared.purge import purged_tenants_table
from shared.readmodel import applied_events_table

applied_events_table(store.metadata)  # the consumer's ledger (shared.consumer_service)
purged_tenants_table(store.metadata)  # and its list of purged tenants (shared.purge)

SCHEMA = Schema(
    service="ingest", versions=Path(__file__).parent, metadata=(store.metadata, webchat.metadata)
)
