"""Who may do what (SPEC §3): the access table, one data structure for every service.

Endpoints name the function they belong to; enforcement and the role-matrix test both
read this table, so they cannot drift apart.
"""

from __future__ import annotations

from typing import Final

ADMINISTRATOR, MANAGER, AGENT, ANALYST = "administrator", "manager", "agent", "analyst"
ROLES: Final = (ADMINISTRATOR, MANAGER, AGENT, ANALYST)

ACCESS: Final[dict[str, frozenset[str]]] = {
    # users, competences, topics, channels, general settings, office hours, chatbot settings
    "administration": frozenset({ADMINISTRATOR}),
    # take from own queue, chat, assign, competences, visitor profile, notes, archive
    "conversations": frozenset({ADMINISTRATOR, MANAGER, AGENT}),
    "dispatch": frozenset({ADMINISTRATOR, MANAGER}),
    "history": frozenset({ADMINISTRATOR, MANAGER}),
    "statistics": frozenset({ADMINISTRATOR, MANAGER, ANALYST}),
    "statistics.per_end_user": frozenset({ADMINISTRATOR, MANAGER}),
    "faq": frozenset(ROLES),
    "chatbot.handover": frozenset({ADMINISTRATOR, MANAGER, AGENT}),
    # one's own session and profile
    "self": frozenset(ROLES),
}

#: Functions a plan must include (SPEC §2); anything not listed is in every plan.
PLAN_FUNCTIONS: Final[dict[str, frozenset[str]]] = {
    "chatbot": frozenset({"bot"}),
    "service_levels": frozenset({"pro", "bot"}),
}

#: Functions of ``ACCESS`` that only exist on a plan with this ``PLAN_FUNCTIONS`` function.
NEEDS_PLAN_FUNCTION: Final[dict[str, str]] = {"chatbot.handover": "chatbot"}


def may(role: str, function: str) -> bool:
    return role in ACCESS[function]


def plan_includes(plan: str | None, function: str) -> bool:
    """Whether a tenant's plan includes a function of ``PLAN_FUNCTIONS`` (e.g. whether the
    SLA of SPEC §6 covers it: ``plan_includes(plan, "service_levels")``). An unknown tenant
    (``None``) has no plan and so none of them."""
    return plan is not None and plan in PLAN_FUNCTIONS[function]


def permitted(role: str, plan: str) -> list[str]:
    """The functions one person may use: those of ``ACCESS`` their role has (and, for those
    in ``NEEDS_PLAN_FUNCTION``, their plan too), and those of ``PLAN_FUNCTIONS`` their
    tenant's plan includes. The Portal builds its navigation from
    this list (``GET /v1/me``), never from a copy of the table."""
    by_plan = [name for name, plans in PLAN_FUNCTIONS.items() if plan in plans]
    by_role = [
        name
        for name, roles in ACCESS.items()
        if role in roles and NEEDS_PLAN_FUNCTION.get(name) in (None, *by_plan)
    ]
    return by_role + by_plan
