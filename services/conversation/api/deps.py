"""Who is calling and what they may do. The tenant always comes from the session.

``allowed(function)`` enforces the access table of ``shared.access``; the role-matrix
test finds every endpoint's function through the dependency's ``function`` attribute.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.conversation.bootstrap import ConversationService
from shared.access import ACCESS, PLAN_FUNCTIONS
from shared.auth import session_token
from shared.errors import Refusal
from shared.hardening import OperatorAccess
from shared.http import ApiError

T = TypeVar("T")

bearer = HTTPBearer(auto_error=False, description="Session token from POST /v1/auth/login")


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    role: str
    token: str


def service(request: Request) -> ConversationService:
    return request.app.state.service


async def run(work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A query or other blocking work (database, event store) off the event loop."""
    return await asyncio.to_thread(work, *args, **kwargs)


async def command(
    svc: ConversationService, use_case: Callable[..., T], *args: Any, **kwargs: Any
) -> T:
    """A use case off the event loop, then read-your-writes: the views have caught up when
    it returns, so the answer read next shows the change. Refusals reach the shared
    handler (``shared.http``), which maps their kind onto the status."""
    result = await asyncio.to_thread(use_case, *args, **kwargs)
    await svc.after_change()
    return result


def _unauthorized() -> ApiError:
    return ApiError(401, "unauthorized", "Log in first: a valid session token is required.")


async def caller(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    svc: ConversationService = Depends(service),
) -> Caller:
    """The Bearer token or the Portal's session cookie (with its CSRF check, ``shared.auth``)."""
    token = session_token(request, credentials)
    if token is None:
        raise _unauthorized()
    session = await run(svc.security.session, token)
    if session is None:
        raise _unauthorized()
    return Caller(uuid.UUID(session.user_id), uuid.UUID(session.tenant_id), session.role, token)


class Allowed:
    """Dependency: the caller's role may use ``function`` (403 otherwise)."""

    def __init__(self, function: str) -> None:
        if function not in ACCESS:
            raise KeyError(function)
        self.function = function

    async def __call__(self, who: Caller = Depends(caller)) -> Caller:
        if who.role not in ACCESS[self.function]:
            raise ApiError(403, "forbidden_for_role", f"A {who.role} may not use {self.function}.")
        return who


def allowed(function: str) -> Allowed:
    return Allowed(function)


async def require_plan(svc: ConversationService, tenant_id: uuid.UUID, function: str) -> None:
    """``plan_required`` (403) with the plan needed, when the tenant's plan lacks the
    function (SPEC §2)."""
    plans = PLAN_FUNCTIONS[function]
    tenant = await run(svc.directory.tenant, tenant_id)
    if tenant.plan not in plans:
        needed = " or ".join(sorted(plans))
        raise Refusal(
            "plan_required",
            f"This needs the {needed} plan.",
            {"plans": sorted(plans)},
            kind="forbidden",
        )


#: Operator scopes (``shared.hardening``): rebuilds read the feed, onboarding creates and
#: ends tenants, the service desk keeps the FAQ.
operator_feed = OperatorAccess("feed")
operator_onboarding = OperatorAccess("onboarding")
operator_desk = OperatorAccess("desk")
