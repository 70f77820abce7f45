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

    def onboard() -> TenantCreatedResponse:
        tenant_id = svc.directory.create_tenant(
            name=order.name,
            plan=order.plan,
            sdk_option=order.sdk_option,
            minimum_end_users=order.minimum_end_users,
            contract_start=order.contract_start,
            time_zone=order.time_zone,
            default_language=order.default_language,
            routing_enabled=order.routing_enabled,
            default_capacity=order.default_capacity,
        )
        first = order.first_end_user
        admin_id = svc.directory.create_end_user(
            tenant_id,
            first.first_name,
            first.last_name,
            str(first.email),
            "administrator",
            first.language,
            languages=[first.language],
        )
        if first.password:
            svc.security.set_password(str(tenant_id), str(admin_id), first.password)
        return TenantCreatedResponse(tenant_id=tenant_id, administrator_id=admin_id)

    created = await command(svc, onboard)
    if not order.first_end_user.password:
        await svc.send_first_password_link(
            str(order.first_end_user.email), created.administrator_id
        )
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
