"""S3: the cross-tenant matrix, generated from the app's routes and the access table: every
endpoint x every role of tenant A x every id of tenant B, in the path, the query and the
body (docs/security.md, T8). Not one attempt may succeed, and B is unchanged afterwards.

"Succeed" means: a 2xx for a request that names one of B's resources in its path, or any
answer that carries one of B's ids or names (a leak through a list, filter or error).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from shared.access import ROLES
from tests.integration.conftest import new_tenant
from tests.integration.test_access import _endpoints, _function_of

#: Never fuzzed here: the login itself, the live stream (never ends), operator paths.
SKIPPED_PREFIXES = ("/v1/auth/", "/v1/events", "/v1/operator", "/v1/feed")
WRITE = {"POST", "PUT", "PATCH", "DELETE"}


def _b_snapshot(portal, b) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    admin = b.tokens["administrator"]
    return {
        path: portal.get(path, headers=admin, params=params).json()
        for path, params in [
            ("/v1/users", {"limit": 200}),
            ("/v1/competences", None),
            ("/v1/topics", None),
            ("/v1/channels", None),
            ("/v1/chatbots", None),
            ("/v1/settings/general", None),
            ("/v1/settings/office-hours", None),
            *[(f"/v1/users/{u}", None) for u in b.users.values()],
        ]
    }


@pytest.fixture(scope="module")
def tenants(portal):  # type: ignore[no-untyped-def]
    a, b = new_tenant(portal, plan="bot"), new_tenant(portal, plan="bot")
    admin_b = b.tokens["administrator"]
    ids: dict[str, str] = {f"user:{role}": user for role, user in b.users.items()}
    for n in range(2):
        ids[f"channel:{n}"] = portal.post(
            "/v1/channels", headers=admin_b, json={"channel_type": "webchat", "name": f"B{n}"}
        ).json()["channel_id"]
        ids[f"competence:{n}"] = portal.post(
            "/v1/competences", headers=admin_b, json={"name": f"B skill {n}"}
        ).json()["id"]
        ids[f"topic:{n}"] = portal.post(
            "/v1/topics", headers=admin_b, json={"name": f"B topic {n}"}
        ).json()["id"]
    return a, b, ids


def _body_with(b_id: str) -> dict[str, Any]:
    """A body naming ``b_id`` in every field that holds an id somewhere in the API."""
    return {
        "user_ids": [b_id],
        "channel_ids": [b_id],
        "competences": [b_id],
        "required_competences": [b_id],
        "topics": [b_id],
        "assignee_id": b_id,
        "user_id": b_id,
        "channel_id": b_id,
        "to_user_id": b_id,
        "text": "cross-tenant probe",
        "client_message_id": str(uuid.uuid4()),
    }


def test_no_request_of_tenant_a_reaches_anything_of_tenant_b(portal, tenants):
    a, b, b_ids = tenants
    before = _b_snapshot(portal, b)
    secrets_of_b = set(b_ids.values()) | {"B skill 0", "B skill 1", "B topic 0", "B topic 1"}
    attempts, succeeded = 0, []
    for method, path, route in _endpoints(portal.app):
        if path.startswith(SKIPPED_PREFIXES) or _function_of(route) is None:
            continue
        params = re.findall(r"\{([^}]+)\}", path)
        queries = [q.alias or q.name for q in route.dependant.query_params]
        for role in ROLES:
            for b_id in b_ids.values():
                variants: list[tuple[str, dict | None, dict | None]] = []
                if params:  # B's id in the path
                    variants.append((re.sub(r"\{[^}]+\}", b_id, path), None, None))
                for q in queries:  # B's id in a query parameter
                    variants.append(
                        (re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path), {q: b_id}, None)
                    )
                if method in WRITE - {"DELETE"}:  # B's id in the body
                    filled = re.sub(r"\{[^}]+\}", b_id, path)
                    variants.append((filled, None, _body_with(b_id)))
                for url, query, body in variants:
                    response = portal.request(
                        method, url, headers=a.tokens[role], params=query, json=body
                    )
                    attempts += 1
                    assert response.status_code < 500, f"{method} {url}: {response.text[:300]}"
                    names_b = b_id in url and 200 <= response.status_code < 300
                    leaks = any(
                        s in response.text
                        for s in secrets_of_b - {b_id} | {b_id}
                        if s not in url and s not in str(query) and s not in str(body)
                    )
                    if names_b or leaks:
                        succeeded.append(f"{role} {method} {url} {query} -> {response.status_code}")
    print(f"cross-tenant attempts: {attempts}")
    assert attempts >= 2000, attempts
    assert succeeded == []
    assert _b_snapshot(portal, b) == before  # nothing of B changed
