"""One login for every service: tokens are checked against the conversation service.

Answers are cached for a few seconds per token, so a logout or deactivation stops a
token everywhere within ``cache_seconds`` while a busy dashboard costs one check.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import httpx
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.hardening import OperatorAccess
from shared.http import ApiError

bearer = HTTPBearer(auto_error=False, description="Session token from the conversation service")


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    role: str


class TokenChecker:
    def __init__(self, conversation_url: str, cache_seconds: float = 5.0) -> None:
        self.conversation_url = conversation_url.rstrip("/")
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Caller | None]] = {}
        self._client: httpx.AsyncClient | None = None

    async def check(self, token: str) -> Caller | None:
        now = time.monotonic()
        hit = self._cache.get(token)
        if hit and now - hit[0] < self.cache_seconds:
            return hit[1]
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=5.0)
        try:
            response = await self._client.get(
                f"{self.conversation_url}/v1/auth/session",
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError:
            raise ApiError(503, "auth_unavailable", "Cannot check the login right now.") from None
        caller = None
        if response.status_code == 200:
            body = response.json()
            caller = Caller(uuid.UUID(body["user_id"]), uuid.UUID(body["tenant_id"]), body["role"])
        elif response.status_code != 401:
            raise ApiError(503, "auth_unavailable", "Cannot check the login right now.")
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[token] = (now, caller)
        return caller

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


async def caller(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> Caller:
    if credentials is None:
        raise ApiError(401, "unauthorized", "Log in first: a valid session token is required.")
    checker: TokenChecker = request.app.state.token_checker
    who = await checker.check(credentials.credentials)
    if who is None:
        raise ApiError(401, "unauthorized", "Log in first: a valid session token is required.")
    return who


def role_in(*roles: str):  # type: ignore[no-untyped-def]
    async def check(who: Caller = Depends(caller)) -> Caller:
        if who.role not in roles:
            raise ApiError(403, "forbidden_for_role", f"A {who.role} may not do this.")
        return who

    return check


#: The platform operator's service desk (billing, SLA): a scoped token, not a tenant login.
operator = OperatorAccess("desk")
