"""The Portal API's routes as the access tests see them: every documented operation with the function (SPEC's role capabilities) or operator scope its route requires."""

from __future__ import annotations

from fastapi.routing import APIRoute

from services.conversation.api.deps import Allowed
from shared.hardening import OperatorAccess


def function_of(route: APIRoute) -> str | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop()
        if isinstance(dependency.call, Allowed):
            return dependency.call.function
        stack.extend(dependency.dependencies)
    return None


def operator_scope(route: APIRoute) -> str | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop()
        if isinstance(dependency.call, OperatorAccess):
            return dependency.call.scope
        stack.extend(dependency.dependencies)
    return None


def is_operator_only(route: APIRoute) -> bool:
    return operator_scope(route) is not None


def api_routes(routes):  # type: ignore[no-untyped-def]
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # an included router (FastAPI keeps them nested)
            yield from api_routes(route.original_router.routes)


def endpoints(app) -> list[tuple[str, str, APIRoute]]:  # type: ignore[no-untyped-def]
    found = [
        (method, route.path, route)
        for route in api_routes(app.routes)
        for method in sorted(route.methods)
    ]
    documented = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops}
    # Every documented operation is found here, so none escapes the checks below.
    assert documented <= {(m, p) for m, p, _ in found}
    return found
