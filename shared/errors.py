"""One error convention for every service: a rule says no with a :class:`Refusal`.

Domain and application code raise a ``Refusal`` (or a subclass named for its area, such as
``ConversationError``) carrying a stable ``code`` for clients, a human ``message``, optional
``details``, and a ``kind`` that says what sort of no it is. They never name HTTP statuses;
``shared.http`` maps the kind onto one status for every service (``REFUSAL_STATUS``), so the
HTTP layer only parses, calls and maps.
"""

from __future__ import annotations

from typing import Any, Literal

Kind = Literal[
    "invalid",  # the request breaks a rule of its content (422)
    "bad_request",  # the request cannot be answered as asked, e.g. it lacks a value (400)
    "conflict",  # the state of what it names does not allow it now (409)
    "not_found",  # what it names does not exist for this tenant (404)
    "forbidden",  # the caller's role or plan does not allow it (403)
    "too_large",  # over a size limit (413)
    "unsupported",  # a type the rule does not accept (415)
    "gone",  # existed once, no longer (410)
]


class Refusal(Exception):
    """A rule said no: ``code`` names the rule, ``kind`` what sort of refusal it is."""

    kind: Kind = "conflict"

    def __init__(
        self, code: str, message: str, details: Any = None, *, kind: Kind | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.details = code, message, details
        if kind is not None:
            self.kind = kind


def not_found(what: str) -> Refusal:
    return Refusal("not_found", f"No such {what}.", kind="not_found")
