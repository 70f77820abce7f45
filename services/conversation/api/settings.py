"""General settings (SPEC §3.1.6) and office hours (§3.1.7)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from services.conversation.api.deps import Caller, allowed, command, run, service
from services.conversation.api.schemas import GeneralSettings
from services.conversation.bootstrap import ConversationService
from shared.office_hours import OfficeHours

router = APIRouter(prefix="/v1/settings", tags=["settings"])
administration = allowed("administration")


@router.get("/general", response_model=GeneralSettings)
async def get_general(
    who: Caller = Depends(administration), svc: ConversationService = Depends(service)
) -> GeneralSettings:
    row = await run(svc.queries.tenant_settings, who.tenant_id)
    return GeneralSettings(
        routing_enabled=row.routing_enabled,
        languages=row.languages,
        default_capacity=row.default_capacity,
        attachment_max_bytes=row.attachment_max_bytes,
    )


@router.put("/general", response_model=GeneralSettings)
async def put_general(
    body: GeneralSettings,
    who: Caller = Depends(administration),
    svc: ConversationService = Depends(service),
) -> GeneralSettings:
    """Routing on or off; the languages offered for user profiles; the default capacity;
    the tenant's file size limit (never above the operator's, docs/attachments.md)."""
    await command(
        svc,
        svc.administration.change_settings,
        who.tenant_id,
        body.routing_enabled,
        body.languages,
        body.default_capacity,
        body.attachment_max_bytes,
        operator_limit=svc.settings.attachment_max_bytes,
    )
    return body


@router.get("/office-hours", response_model=OfficeHours)
async def get_office_hours(
    who: Caller = Depends(administration), svc: ConversationService = Depends(service)
) -> OfficeHours:
    row = await run(svc.queries.tenant_settings, who.tenant_id)
    if row.office_hours is None:  # never configured: open around the clock
        return OfficeHours(time_zone=row.time_zone, always_open=True)
    return OfficeHours.model_validate(row.office_hours)


@router.put("/office-hours", response_model=OfficeHours)
async def put_office_hours(
    body: OfficeHours,
    who: Caller = Depends(administration),
    svc: ConversationService = Depends(service),
) -> OfficeHours:
    await command(svc, svc.directory.set_office_hours, who.tenant_id, body.model_dump(mode="json"))
    return body
