"""What each plan includes (SPEC §2, §6): one table in ``shared/access.py``, read by every
service (the SLA service's views and claims, the Portal's navigation)."""

from __future__ import annotations

import pytest

from shared.access import permitted, plan_includes


@pytest.mark.parametrize(
    ("plan", "function", "included"),
    [
        ("hub", "service_levels", False),
        ("pro", "service_levels", True),
        ("bot", "service_levels", True),
        (None, "service_levels", False),
        ("hub", "chatbot", False),
        ("pro", "chatbot", False),
        ("bot", "chatbot", True),
        ("gold", "service_levels", False),
    ],
)
def test_plan_includes(plan: str | None, function: str, included: bool) -> None:
    assert plan_includes(plan, function) is included


@pytest.mark.parametrize("plan", ["hub", "pro", "bot"])
def test_navigation_agrees_with_the_plan_rule(plan: str) -> None:
    functions = permitted("administrator", plan)
    assert ("service_levels" in functions) is plan_includes(plan, "service_levels")
    assert ("chatbot" in functions) is plan_includes(plan, "chatbot")
