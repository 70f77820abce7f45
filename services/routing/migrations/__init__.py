"""The routing service's schema migrations (Alembic): every table of its database.

``shared.migrations`` runs them at start-up; the revisions are the other files here.
"""

from pathlib import Path

from services.routing.store.snapshots import metadata
from shared.migrations import Schema
from shared.purge import purged_tenants_table
from shared.readmodel import applied_events_table

applied_events_table(metadata)  # the consumer's ledger (shared.consumer_service) is migrated too
purged_tenants_table(metadata)  # and its list of purged tenants (shared.purge)

SCHEMA = Schema(service="routing", versions=Path(__file__).parent, metadata=(metadata,))
