"""Refusals of the SLA use cases: ``shared.errors.Refusal`` with the SLA's codes.

Their kinds are the shared ones (``invalid``, ``conflict``, ``not_found``), mapped onto
HTTP once, by ``shared.http`` (422, 409, 404); the routes let them through untranslated.
"""

from __future__ import annotations

from shared.errors import Refusal


class Refused(Refusal):
    """An SLA command or claim said no (``code`` names the rule, ``kind`` the sort)."""
