"""The operator's API: onboarding a tenant from an order (SPEC §5)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends

from services.conversation.api.deps import operator, service
from services.conversation.api.schemas import TenantCreatedResponse, TenantOrder
from services.conversation.bootstrap import ConversationService

router = APIRouter(prefix="/v1/operator", tags=["operator"], dependencies=[Depends(operator)])


@router.post("/tenants", status_code=201, response_model=TenantCreatedResponse)
async def create_tenant(
    order: TenantOrder, svc: ConversationService = Depends(service)
) -> TenantCreatedResponse:
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

    created = await asyncio.to_thread(onboard)
    svc.changed()
    await svc.projector.catch_up()
    return created
