"""The operator's API: onboarding a tenant from an order (SPEC §5), termination, the FAQ."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Response

from services.conversation.api.deps import command, operator_desk, operator_onboarding, service
from services.conversation.api.schemas import (
    FaqIn,
    FaqOut,
    TenantCreatedResponse,
    TenantOrder,
    Termination,
)
from services.conversation.bootstrap import ConversationService

router = APIRouter(prefix="/v1/operator", tags=["operator"])
ONBOARDING = [Depends(operator_onboarding)]
DESK = [Depends(operator_desk)]


@router.post(
    "/tenants", status_code=201, dependencies=ONBOARDING, response_model=TenantCreatedResponse
)
async def create_tenant(
    order: TenantOrder, svc: ConversationService = Depends(service)
) -> TenantCreatedResponse:
    """Creates the tenant and its first end user, an Administrator, who gets a password email."""
    first = order.first_end_user
    tenant_id, admin_id = await command(
        svc,
        svc.administration.onboard,
        order.model_dump(exclude={"first_end_user"}),
        first.first_name,
        first.last_name,
        str(first.email),
        first.language,
        first.password,
    )
    created = TenantCreatedResponse(tenant_id=tenant_id, administrator_id=admin_id)
    if not first.password:
        await svc.send_first_password_link(str(first.email), created.administrator_id)
    return created


@router.post("/tenants/{tenant_id}/termination", status_code=204, dependencies=ONBOARDING)
async def end_contract(
    tenant_id: uuid.UUID, body: Termination, svc: ConversationService = Depends(service)
) -> Response:
    """From ``contract_end`` on, the tenant's users can no longer log in."""
    await command(svc, svc.directory.end_contract, tenant_id, body.contract_end)
    return Response(status_code=204)


@router.post("/faq", status_code=201, response_model=FaqOut, tags=["FAQ"], dependencies=DESK)
async def create_faq(body: FaqIn, svc: ConversationService = Depends(service)) -> FaqOut:
    entry_id = await command(svc, svc.directory.create_faq, body.question, body.answer)
    return FaqOut(id=entry_id, question=body.question, answer=body.answer)


@router.put("/faq/{entry_id}", response_model=FaqOut, tags=["FAQ"], dependencies=DESK)
async def update_faq(
    entry_id: uuid.UUID, body: FaqIn, svc: ConversationService = Depends(service)
) -> FaqOut:
    await command(svc, svc.directory.update_faq, entry_id, body.question, body.answer)
    return FaqOut(id=entry_id, question=body.question, answer=body.answer)


@router.delete("/faq/{entry_id}", status_code=204, tags=["FAQ"], dependencies=DESK)
async def delete_faq(entry_id: uuid.UUID, svc: ConversationService = Depends(service)) -> Response:
    await command(svc, svc.directory.delete_faq, entry_id)
    return Response(status_code=204)
