"""The billing service's schema migrations (Alembic): every table of its database.

``shared.migrations`` runs them at start-up; the revisions are the other files here.
"""

from pathlib import Path

from services.billing.store.tables import metadata
from shared.migrations import Schema
from shared.purge import purged_tenants_table
from shared.readmodel import applied_events_table

applied_events_table(metadata)  # the consumer's ledger (shared.consumer_service) is migrated too
purged_tenants_table(metadata)  # and its list of purged tenants (shared.purge)

SCHEMA = Schema(
    service="billing",
    versions=Path(__file__).parent,
    metadata=(metadata,),
    # After a restore the outbox is published again (its consumer skips by event id).
    after_restore=("UPDATE outbox SET sent_at = NULL",),
)
