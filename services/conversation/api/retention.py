"""The operator's view of a tenant's retention purge (SPEC §3.4): its audit record."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

from eventsourcing.application import AggregateNotFoundError
from fastapi import APIRouter, Depends
from pydantic import BaseModel

from services.conversation.api.deps import operator_onboarding, service
from services.conversation.bootstrap import ConversationService
from services.conversation.domain.retention import TenantPurge, retained_until
from shared.http import ApiError

router = APIRouter(prefix="/v1/operator", tags=["operator"])


class PurgeRecord(BaseModel):
    """When the tenant's data was purged and what this service deleted (rows per store);
    the other services delete theirs on ``TenantPurged``."""

    tenant_id: uuid.UUID
    contract_end: datetime
    retained_until: datetime
    purged_at: datetime
    finished_at: datetime | None
    deleted: dict[str, int]


@router.get(
    "/tenants/{tenant_id}/purge",
    response_model=PurgeRecord,
    dependencies=[Depends(operator_onboarding)],
)
async def purge_record(
    tenant_id: uuid.UUID, svc: ConversationService = Depends(service)
) -> PurgeRecord:
    """The audit record of the tenant's purge; 404 while it has not been purged."""

    def load() -> TenantPurge | None:
        try:
            record = svc.directory.repository.get(TenantPurge.create_id(tenant_id))
        except AggregateNotFoundError:
            return None
        return record if isinstance(record, TenantPurge) else None

    record = await asyncio.to_thread(load)
    if record is None:
        raise ApiError(404, "not_found", "No purge of a tenant with this id.")
    return PurgeRecord(
        tenant_id=record.tenant_id,
        contract_end=record.contract_end,
        retained_until=retained_until(record.contract_end),
        purged_at=record.purged_at,
        finished_at=record.finished_at,
        deleted=record.deleted,
    )
