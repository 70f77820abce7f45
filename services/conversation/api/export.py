"""The tenant's export (SPEC §7.2.2.2): an Administrator downloads all of the tenant's
content, and so may the operator for a tenant whose contract is ending or ended."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from services.conversation.api.deps import allowed, operator_onboarding, service
from services.conversation.application.export import summary
from services.conversation.bootstrap import ConversationService
from shared.auth import Caller
from shared.http import ApiError

router = APIRouter(tags=["export"])
ARCHIVE = {200: {"content": {"application/zip": {}}, "description": "The zip archive"}}


class ExportStatus(BaseModel):
    """One download of the archive and how far it got (``rows_written`` of ``total_rows``)."""

    export_id: uuid.UUID
    status: Literal["running", "finished", "aborted"]
    total_rows: int
    rows_written: int
    bytes_written: int
    started_at: datetime
    finished_at: datetime | None


class ExportSummary(BaseModel):
    """What the archive will hold, per kind: the total a download's progress counts to."""

    counts: dict[str, int]
    total_rows: int


async def _download(
    svc: ConversationService, tenant_id: uuid.UUID, requested_by: str
) -> StreamingResponse:
    """Records the export, then streams it; ``X-Export-Id`` names the progress record."""
    exports = svc.exports
    export_id, counts = await asyncio.to_thread(exports.start, tenant_id, requested_by)
    return StreamingResponse(
        exports.stream(export_id, tenant_id, counts),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="interact-export-{tenant_id}.zip"',
            "X-Export-Id": str(export_id),
            "X-Export-Rows": str(sum(counts.values())),
        },
    )


@router.get("/v1/export/summary", response_model=ExportSummary)
async def export_summary(
    who: Caller = Depends(allowed("administration")),
    svc: ConversationService = Depends(service),
) -> ExportSummary:
    counts = await asyncio.to_thread(summary, svc.engine, who.tenant_id)
    return ExportSummary(counts=counts, total_rows=sum(counts.values()))


@router.get("/v1/export", responses=ARCHIVE, response_class=StreamingResponse)
async def export_archive(
    who: Caller = Depends(allowed("administration")),
    svc: ConversationService = Depends(service),
) -> StreamingResponse:
    """All of the tenant's content as one zip: JSON Lines and CSV per kind, streamed.
    ``X-Export-Id`` names the record whose progress ``GET /v1/exports/{id}`` shows."""
    return await _download(svc, who.tenant_id, str(who.user_id))


@router.get("/v1/exports/{export_id}", response_model=ExportStatus)
async def export_status(
    export_id: uuid.UUID,
    who: Caller = Depends(allowed("administration")),
    svc: ConversationService = Depends(service),
) -> ExportStatus:
    """How far a download got (also the operator's); 404 for another tenant's."""
    record = await asyncio.to_thread(svc.exports.get, who.tenant_id, export_id)
    if record is None:
        raise ApiError(404, "not_found", "No export of this tenant has this id.")
    return ExportStatus.model_validate(record)


@router.get(
    "/v1/operator/tenants/{tenant_id}/export",
    responses=ARCHIVE,
    response_class=StreamingResponse,
    dependencies=[Depends(operator_onboarding)],
    tags=["operator"],
)
async def operator_export(
    tenant_id: uuid.UUID, svc: ConversationService = Depends(service)
) -> StreamingResponse:
    """The operator's copy for a terminating tenant (its contract end is set); 404 for a
    tenant that does not exist or is not terminating."""
    try:
        tenant = await asyncio.to_thread(svc.directory.tenant, tenant_id)
    except LookupError:
        tenant = None
    if tenant is None or tenant.contract_end is None:
        raise ApiError(404, "not_found", "No terminating tenant has this id.")
    return await _download(svc, tenant_id, "operator")
