"""Refusals of the SLA use cases, mapped onto HTTP by the API (422 invalid, 409 conflict,
404 not found)."""

from __future__ import annotations

from typing import Any, Literal


class Refused(Exception):
    def __init__(
        self,
        kind: Literal["invalid", "conflict", "not_found"],
        code: str,
        message: str,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.kind, self.code, self.message, self.details = kind, code, message, details
