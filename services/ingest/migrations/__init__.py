"""The ingest service's schema migrations (Alembic): every table of its database, the
channel adapters' (``store/channels.py``) and the website chat's (``store/webchat.py``,
``store/webchat_files.py``). Every module that defines a table is imported here, so the
schema is whole whichever modules the process loaded before.

``shared.migrations`` runs them at start-up; the revisions are the other files here.
"""

from pathlib import Path

from services.ingest.consumers import meta_media  # noqa: F401  (its table: meta_media_pending)
from services.ingest.store import channels as store
from services.ingest.store import (
    webchat,
    webchat_files,  # noqa: F401  (webchat_mailbox_files)
)
from shared.migrations import Schema
from shared.purge import purged_tenants_table
from shared.readmodel import applied_events_table

applied_events_table(store.metadata)  # the consumer's ledger (shared.consumer_service)
purged_tenants_table(store.metadata)  # and its list of purged tenants (shared.purge)

SCHEMA = Schema(
    service="ingest", versions=Path(__file__).parent, metadata=(store.metadata, webchat.metadata)
)
