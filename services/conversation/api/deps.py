"""Who is calling: a tenant user's session or the operator. The tenant always comes from the session."""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.conversation.bootstrap import ConversationService
from shared.http import ApiError

bearer = HTTPBearer(auto_error=False, description="Session token from POST /v1/auth/login")


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    role: str
    token: str


def service(request: Request) -> ConversationService:
    return request.app.state.service


def _unauthorized() -> ApiError:
    return ApiError(401, "unauthorized", "Log in first: a valid session token is required.")


async def caller(
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    svc: ConversationService = Depends(service),
) -> Caller:
    if credentials is None:
        raise _unauthorized()
    session = svc.security.session(credentials.credentials)
    if session is None:
        raise _unauthorized()
    return Caller(
        uuid.UUID(session.user_id),
        uuid.UUID(session.tenant_id),
        session.role,
        credentials.credentials,
    )


def role_in(*roles: str):  # type: ignore[no-untyped-def]
    async def check(who: Caller = Depends(caller)) -> Caller:
        if who.role not in roles:
            raise ApiError(403, "forbidden_for_role", f"A {who.role} may not do this.")
        return who

    return check


async def operator(
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    svc: ConversationService = Depends(service),
) -> None:
    expected = svc.settings.operator_token.get_secret_value()
    if credentials is None or not hmac.compare_digest(credentials.credentials, expected):
        raise ApiError(401, "unauthorized", "The operator token is required.")
