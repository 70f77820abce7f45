"""Login, logout and session introspection (the other services check tokens here)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Response

from services.conversation.api.deps import Caller, caller, service
from services.conversation.api.schemas import LoginRequest, LoginResponse, SessionInfo
from services.conversation.application.security import LoginFailed
from services.conversation.bootstrap import ConversationService
from shared.http import ApiError

router = APIRouter(prefix="/v1/auth", tags=["login"])


@router.post(
    "/login",
    response_model=LoginResponse,
    responses={401: {"description": "Wrong email or password, or the account is locked"}},
)
async def login(body: LoginRequest, svc: ConversationService = Depends(service)) -> LoginResponse:
    try:
        token, session = await asyncio.to_thread(svc.security.login, body.email, body.password)
    except LoginFailed:
        raise ApiError(401, "login_failed", "The email or password is not right.") from None
    return LoginResponse(
        token=token,
        user_id=session.user_id,
        tenant_id=session.tenant_id,
        role=session.role,
        expires_at=session.expires_at,
    )


@router.post("/logout", status_code=204)
async def logout(
    who: Caller = Depends(caller), svc: ConversationService = Depends(service)
) -> Response:
    await asyncio.to_thread(svc.security.logout, who.token)
    return Response(status_code=204)


@router.get(
    "/session", response_model=SessionInfo, summary="Who this token belongs to (for other services)"
)
async def session(
    who: Caller = Depends(caller), svc: ConversationService = Depends(service)
) -> SessionInfo:
    current = svc.security.session(who.token)
    assert current is not None
    return SessionInfo(
        user_id=who.user_id, tenant_id=who.tenant_id, role=who.role, expires_at=current.expires_at
    )
