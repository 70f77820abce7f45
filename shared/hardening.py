"""Refusing to start with a dangerous default, and the operator's scoped credentials.

Outside the development mode (``INTERACT_ENV=development``, which the run command and the
tests set) a service does not start when a secret still has a shipped placeholder
(``change-me-...``, the Kubernetes Secret's ``REPLACE-ME``) or is shorter than
:data:`MIN_SECRET_LENGTH` characters: a forgotten default would open every tenant's data
to whoever reads this repository. The refusal names the setting, never its value.

Operator access has three scopes, each with its own optional token:

==================  ==============================  ===========================================
scope               setting                         opens
==================  ==============================  ===========================================
``feed``            ``OPERATOR_FEED_TOKEN``         ``GET /v1/feed/{log}`` (read-model rebuilds)
``onboarding``      ``OPERATOR_ONBOARDING_TOKEN``   ``POST /v1/operator/tenants``, termination
``desk``            ``OPERATOR_DESK_TOKEN``         FAQ, billing operator, SLA service desk
==================  ==============================  ===========================================

A scope whose token is unset is opened by ``OPERATOR_TOKEN`` (one token on a developer's
machine); once a scope has its own token, ``OPERATOR_TOKEN`` no longer opens it, so a
leaked rebuild token cannot onboard tenants and a service-desk token cannot read the feed.
"""

from __future__ import annotations

import hmac
from typing import Any, Literal

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from shared.http import ApiError

OperatorScope = Literal["feed", "onboarding", "desk"]
OPERATOR_SCOPES: tuple[OperatorScope, ...] = ("feed", "onboarding", "desk")
DEVELOPMENT = "development"
MIN_SECRET_LENGTH = 32
#: Settings holding a secret that must not keep a default outside development.
GUARDED_SECRETS = (
    "operator_token",
    "operator_feed_token",
    "operator_onboarding_token",
    "operator_desk_token",
    "channel_secrets_key",
)
#: Settings that must not keep a placeholder (a database URL's password).
GUARDED_PLACEHOLDERS = ("database_url",)
PLACEHOLDERS = ("change-me", "replace-me")


class WeakSecret(ValueError):
    """A setting still holds a default, placeholder or short secret outside development."""


def _plain(value: Any) -> str | None:
    if value is None:
        return None
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


def weak_settings(settings: Any) -> list[str]:
    """The guarded settings of ``settings`` whose value is a placeholder or too short."""
    weak = []
    for name in GUARDED_SECRETS:
        value = _plain(getattr(settings, name, None))
        if value is None:
            continue
        if len(value) < MIN_SECRET_LENGTH or any(p in value.lower() for p in PLACEHOLDERS):
            weak.append(name)
    for name in GUARDED_PLACEHOLDERS:
        value = _plain(getattr(settings, name, None)) or ""
        if any(p in value.lower() for p in PLACEHOLDERS):
            weak.append(name)
    return weak


def refuse_weak_secrets(settings: Any) -> Any:
    """Raises :class:`WeakSecret` naming each weak setting, unless in development mode."""
    if getattr(settings, "interact_env", DEVELOPMENT) == DEVELOPMENT:
        return settings
    weak = weak_settings(settings)
    if weak:
        names = ", ".join(n.upper() for n in weak)
        raise WeakSecret(
            f"refusing to start: {names} still has a default, placeholder or shorter than "
            f"{MIN_SECRET_LENGTH} characters value; set a long random secret, or "
            f"INTERACT_ENV={DEVELOPMENT} on a developer's machine"
        )
    return settings


def operator_token_for(settings: Any, scope: OperatorScope) -> str:
    """The token that opens ``scope``: its own setting, else ``OPERATOR_TOKEN``."""
    own = _plain(getattr(settings, f"operator_{scope}_token", None))
    return own if own else settings.operator_token.get_secret_value()


def is_operator(settings: Any, scope: OperatorScope, presented: str | None) -> bool:
    """Constant-time comparison of the presented bearer token with the scope's token."""
    expected = operator_token_for(settings, scope)
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


operator_bearer = HTTPBearer(auto_error=False, description="An operator token of the scope")


class OperatorAccess:
    """Dependency: the bearer token opens operator ``scope`` (401 otherwise).

    The role-matrix test finds operator endpoints by this class and its ``scope``.
    """

    def __init__(self, scope: OperatorScope) -> None:
        self.scope = scope

    async def __call__(
        self,
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(operator_bearer),
    ) -> None:
        token = credentials.credentials if credentials else None
        if not is_operator(request.app.state.service.settings, self.scope, token):
            raise ApiError(401, "unauthorized", f"The operator's {self.scope} token is required.")
