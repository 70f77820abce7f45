"""The caller themselves: who they are for the Portal, and their presence (online, away,
offline), which routing acts on."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from services.conversation.api.deps import Caller, allowed, command, run, service
from services.conversation.api.schemas import Me, PresenceUpdate
from services.conversation.bootstrap import ConversationService
from shared.access import permitted
from shared.http import ApiError

router = APIRouter(prefix="/v1/me", tags=["conversations"])


@router.put("/presence", status_code=204)
async def set_presence(
    body: PresenceUpdate,
    who: Caller = Depends(allowed("conversations")),
    svc: ConversationService = Depends(service),
) -> Response:
    # A deactivated user has no presence: the domain refuses (409 ``inactive_user``).
    await command(svc, svc.directory.set_presence, who.tenant_id, who.user_id, body.presence)
    return Response(status_code=204)


@router.get("", response_model=Me, tags=["login"], summary="The signed-in person, for the Portal")
async def me(
    who: Caller = Depends(allowed("self")), svc: ConversationService = Depends(service)
) -> Me:
    """Read from the event-sourced directory (not a view), so it is right just after a change."""
    session = await run(svc.security.session, who.token)
    if session is None:
        raise ApiError(401, "unauthorized", "Log in first: a valid session token is required.")
    tenant = await run(svc.directory.tenant, who.tenant_id)
    user = await run(svc.directory.end_user, who.tenant_id, who.user_id)
    return Me(
        user_id=who.user_id,
        first_name=user.first_name,
        last_name=user.last_name,
        email=user.email,
        role=session.role,
        language=user.mother_tongue,
        presence=user.presence,
        tenant_id=who.tenant_id,
        tenant_name=tenant.name,
        plan=tenant.plan,
        sdk_option=tenant.sdk_option,
        default_language=tenant.default_language,
        time_zone=tenant.time_zone,
        functions=permitted(session.role, tenant.plan),
        expires_at=session.expires_at,
    )
