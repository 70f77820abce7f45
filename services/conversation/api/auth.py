"""Login, logout, password links and session introspection (SPEC §3.1.1).

Failures of login look alike (wrong email, wrong password, locked account, ended
contract): same status, same body. "Forgot password" answers the same whether or not
the email exists.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from fastapi import APIRouter, BackgroundTasks, Depends, Request, Response

from services.conversation.api.deps import Caller, allowed, run, service
from services.conversation.api.schemas import (
    ForgotPassword,
    LoginRequest,
    LoginResponse,
    ResetPassword,
    SessionInfo,
)
from services.conversation.application.security import InvalidResetToken, LoginFailed
from services.conversation.bootstrap import ConversationService
from shared.auth import CSRF_COOKIE, SESSION_COOKIE, csrf_token_for
from shared.http import ApiError, client_address, rate_limited

router = APIRouter(prefix="/v1/auth", tags=["login"])
self_service = allowed("self")
LOGIN_FAILED = ApiError(401, "login_failed", "The email or password is not right.")


@router.post(
    "/login",
    response_model=LoginResponse,
    responses={
        401: {"description": "Wrong email or password, locked account or ended contract"},
        429: {"description": "Too many attempts; try again in a minute"},
    },
)
async def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    svc: ConversationService = Depends(service),
) -> LoginResponse:
    """``"session": "cookie"`` (the Portal): the token goes into the HttpOnly session cookie,
    with the CSRF cookie beside it, and not into the body (docs/portal.md)."""
    email = str(body.email).lower()
    verdict = await asyncio.to_thread(svc.access_limits.login, email, client_address(request))
    if not verdict.allowed:
        raise rate_limited(verdict.retry_after, "Too many login attempts; try again later.")
    try:
        token, session = await asyncio.to_thread(svc.security.login, email, body.password)
    except LoginFailed:
        raise LOGIN_FAILED from None
    if body.session == "cookie":
        set_session_cookies(response, svc, token, session.expires_at)
    return LoginResponse(
        token=token if body.session == "token" else None,
        user_id=session.user_id,
        tenant_id=session.tenant_id,
        role=session.role,
        expires_at=session.expires_at,
    )


def set_session_cookies(
    response: Response, svc: ConversationService, token: str, expires_at: datetime
) -> None:
    """HttpOnly + SameSite=Strict session cookie; the CSRF cookie is readable by the Portal's
    scripts (they copy it into ``X-CSRF-Token``). Secure when the Portal is served over https."""
    secure = svc.settings.public_base_url.startswith("https://")
    for name, value, http_only in (
        (SESSION_COOKIE, token, True),
        (CSRF_COOKIE, csrf_token_for(token), False),
    ):
        response.set_cookie(
            name,
            value,
            expires=expires_at,
            path="/",
            secure=secure,
            httponly=http_only,
            samesite="strict",
        )


@router.post("/logout", status_code=204)
async def logout(
    who: Caller = Depends(self_service), svc: ConversationService = Depends(service)
) -> Response:
    await asyncio.to_thread(svc.security.logout, who.token)
    response = Response(status_code=204)
    secure = svc.settings.public_base_url.startswith("https://")
    for name, http_only in ((SESSION_COOKIE, True), (CSRF_COOKIE, False)):
        response.delete_cookie(name, path="/", secure=secure, httponly=http_only, samesite="strict")
    return response


@router.get(
    "/session", response_model=SessionInfo, summary="Who this token belongs to (other services)"
)
async def session(
    who: Caller = Depends(self_service), svc: ConversationService = Depends(service)
) -> SessionInfo:
    current = await run(svc.security.session, who.token)
    if current is None:
        raise ApiError(401, "unauthorized", "Log in first: a valid session token is required.")
    return SessionInfo(
        user_id=who.user_id, tenant_id=who.tenant_id, role=who.role, expires_at=current.expires_at
    )


@router.post(
    "/forgot-password",
    status_code=202,
    summary="Email a password link",
    responses={429: {"description": "Too many links asked; try again later"}},
)
async def forgot_password(
    body: ForgotPassword,
    request: Request,
    tasks: BackgroundTasks,
    svc: ConversationService = Depends(service),
) -> dict[str, str]:
    """The same answer, as fast, whether or not the address is known: the links are made
    and mailed after the response (one per account of the address, in each tenant)."""
    email = str(body.email).lower()
    verdict = await asyncio.to_thread(
        svc.access_limits.forgot_password, email, client_address(request)
    )
    if not verdict.allowed:
        raise rate_limited(verdict.retry_after, "Too many password links asked; try later.")
    tasks.add_task(svc.send_password_links, email)
    return {"status": "If the address is known, a link is on its way."}


@router.post("/reset-password", status_code=204, summary="Set a new password with an emailed link")
async def reset_password(
    body: ResetPassword, svc: ConversationService = Depends(service)
) -> Response:
    try:
        await asyncio.to_thread(svc.security.reset_password, body.token, body.password)
    except InvalidResetToken:
        raise ApiError(
            400, "invalid_reset_token", "This link is unknown, used or expired; ask a new one."
        ) from None
    return Response(status_code=204)
