"""One login for every service: tokens are checked against the conversation service.

Answers are cached for a few seconds per token, so a logout or deactivation stops a
token everywhere within ``cache_seconds`` while a busy dashboard costs one check.

A token comes either as ``Authorization: Bearer`` (API clients) or, for the Portal in a
browser, as the HttpOnly ``interact_session`` cookie that login sets (docs/portal.md). A
browser sends cookies by itself, also on requests another site makes it send, so every
cookie-authenticated request that changes something must carry ``X-CSRF-Token`` equal to
the readable ``interact_csrf`` cookie, which is derived from the session token: another
site can neither read that cookie nor compute it (403 ``csrf_failed`` otherwise).
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass

import httpx
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.hardening import OperatorAccess
from shared.http import ApiError

bearer = HTTPBearer(auto_error=False, description="Session token from the conversation service")

SESSION_COOKIE = "interact_session"
CSRF_COOKIE = "interact_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token_for(session_token: str) -> str:
    """The CSRF token of a session: a one-way function of it (not the stored hash), so every
    service checks it without state and it changes with every login."""
    return hashlib.sha256(b"interact-csrf:" + session_token.encode()).hexdigest()


def session_token(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    """The caller's token: the Bearer header first, else the session cookie, whose requests
    other than GET/HEAD/OPTIONS must prove they come from the Portal (the CSRF header)."""
    if credentials is not None:
        return credentials.credentials
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    if request.method not in SAFE_METHODS:
        header = request.headers.get(CSRF_HEADER, "")
        cookie = request.cookies.get(CSRF_COOKIE, "")
        expected = csrf_token_for(token)
        if not (
            header and hmac.compare_digest(header, cookie) and hmac.compare_digest(header, expected)
        ):
            raise ApiError(
                403,
                "csrf_failed",
                f"This request needs the {CSRF_HEADER} header equal to the {CSRF_COOKIE} cookie.",
            )
    return token


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
    token = session_token(request, credentials)
    if token is None:
        raise ApiError(401, "unauthorized", "Log in first: a valid session token is required.")
    checker: TokenChecker = request.app.state.token_checker
    who = await checker.check(token)
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
