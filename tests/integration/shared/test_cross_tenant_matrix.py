"""S3: the cross-tenant matrix, generated from the app's routes and the access table: every
endpoint x every role of tenant A x every id of tenant B, in the path, the query and the
body (docs/security.md, T8). Not one attempt may succeed, and B is unchanged afterwards.

Both tenants have real conversations and visitors: website-chat messages posted to ingest,
carried by the broker to the conversation service's consumers (as in production), then
taken, answered, noted and dispatched by B's own people. Billing and the SLA service run
beside them with an invoice and an incident of each tenant: their tenant routes that take
an id get B's ids too (statistics take no ids: its filters are dates and channel types).

"Succeed" means: a 2xx for a request that names one of B's resources in its path or body,
or any answer that carries one of B's ids or names (a leak through a list, filter or error).

The generators are chosen by the names of the routes' path parameters, query parameters
and body fields; a name no generator knows fails the test, so a new endpoint or field that
takes an id is covered (or noticed) automatically.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from services.billing.__main__ import build as build_billing
from services.billing.domain.invoice import Period
from services.billing.settings import BillingSettings
from services.conversation.__main__ import build as build_conversation
from services.conversation.settings import ConversationSettings
from services.ingest.__main__ import IngestSettings
from services.ingest.__main__ import build as build_ingest
from services.sla.__main__ import build as build_sla
from services.sla.settings import SlaSettings
from shared.access import ROLES
from shared.local_broker import free_port
from tests.support import files
from tests.support.access import endpoints, function_of, is_operator_only
from tests.support.tenants import OPERATOR_TOKEN, PUBLIC_BASE_URL, new_tenant
from tests.support.tenants import TestTenant as Tenant

#: Never fuzzed here: one's own login and session (logout would end A's sessions), and the
#: operator's paths (no tenant role reaches them; test_access checks that).
SKIPPED_PREFIXES = ("/v1/auth/", "/v1/operator", "/v1/feed")
#: The live stream never ends: it has its own generator below.
EVENTS = "/v1/events"

#: Path parameter -> the kinds of resource it names.
PATH_KINDS: dict[str, tuple[str, ...]] = {
    "user_id": ("user",),
    "label_id": ("competence", "topic"),
    "channel_id": ("channel",),
    "conversation_id": ("conversation",),
    "visitor_id": ("visitor",),
    "export_id": ("export",),
}
#: Query parameters that name a resource (by id or by name): B's ids and names go in them.
ID_QUERIES = {"q", "channel_id", "topic", "competence", "end_user", "visitor", "after"}
#: Query parameters that name nothing of a tenant.
PLAIN_QUERIES = {"role", "mother_tongue", "sort", "offset", "limit", "status", "language"}
PLAIN_QUERIES |= {"from", "to", "file_name"}
#: Body field -> (kind of B's resource, a list?).
ID_FIELDS: dict[str, tuple[str, bool]] = {
    "user_id": ("user", False),
    "user_ids": ("user", True),
    "channel_ids": ("channel", True),
    "competences": ("competence", True),
    "topics": ("topic_name", True),  # closing and archiving name topics
    "attachment_ids": ("attachment", True),  # files uploaded for a reply
}
#: Body fields that look like ids but name nothing another tenant owns.
NOT_CROSSING = {"client_message_id", "external_id"}
#: Valid values for the body fields that are not ids, so only the ids can be refused.
SAMPLES: dict[str, Any] = {
    "first_name": "Probe",
    "last_name": "Probe",
    "email": "probe@probe.example",
    "role": "agent",
    "mother_tongue": "nl",
    "text": "cross-tenant probe",
    "name": "Probe",
    "message": "Closed for the probe",
    "allowed_origins": ["https://probe.example"],
    "platform": "webhook",
    "url": "https://93.184.216.34/hook",  # public and literal: no DNS look-up
}
#: Optional fields still sent, so a change that crossed would show in B's snapshot.
OPTIONAL_SENT = {"first_name", "message"}


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` on a loopback port with its lifespan (its consumers) running."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the app did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@dataclass
class Live:
    app: FastAPI
    portal: httpx.Client
    ingest: httpx.Client


@pytest.fixture(scope="module")
def live(kafka_bootstrap, mail, tmp_path_factory) -> Iterator[Live]:  # type: ignore[no-untyped-def]
    """The conversation service with its consumers and ingest, both over HTTP, on the broker."""
    app = build_conversation(
        ConversationSettings(
            data_dir=tmp_path_factory.mktemp("matrix-conversation"),
            kafka_bootstrap_servers=kafka_bootstrap,
            operator_token=OPERATOR_TOKEN,
            public_base_url=PUBLIC_BASE_URL,
            smtp_port=mail.port,
            login_attempts_per_address_per_minute=10_000,
            password_links_per_address_per_hour=10_000,
        ),
        registry=CollectorRegistry(),
    )
    ingest_app = build_ingest(
        IngestSettings(
            data_dir=tmp_path_factory.mktemp("matrix-ingest"),
            kafka_bootstrap_servers=kafka_bootstrap,
            kafka_enable_idempotence=False,
        )
    )
    ingest_app.state.webchat.channels.ttl = 0  # see a new channel at once
    with (
        serving(app) as portal_url,
        serving(ingest_app) as ingest_url,
        httpx.Client(base_url=portal_url, timeout=30) as portal,
        httpx.Client(base_url=ingest_url, timeout=30) as ingest,
    ):
        yield Live(app, portal, ingest)


def _ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, f"{response.request.url}: {response.text}"
    return response.json() if response.content else None


def _desk(live: Live, tag: str) -> tuple[Tenant, dict[str, list[str]]]:
    """A tenant whose visitors wrote on its website chat, and whose people worked on it:
    one conversation taken, answered and noted; one dispatched; one left waiting; one closed."""
    portal = live.portal
    tenant = new_tenant(portal, plan="bot")  # type: ignore[arg-type]
    admin = tenant.tokens["administrator"]
    general = _ok(portal.get("/v1/settings/general", headers=admin))
    _ok(
        portal.put(
            "/v1/settings/general", headers=admin, json={**general, "routing_enabled": False}
        )
    )
    ids: dict[str, list[str]] = {"user": list(tenant.users.values())}
    ids["competence"] = [
        _ok(portal.post("/v1/competences", headers=admin, json={"name": f"{tag} skill {n}"}))["id"]
        for n in range(2)
    ]
    ids["topic_name"] = [f"{tag} topic {n}" for n in range(2)]
    ids["topic"] = [
        _ok(portal.post("/v1/topics", headers=admin, json={"name": name}))["id"]
        for name in ids["topic_name"]
    ]
    channels = [
        _ok(
            portal.post(
                "/v1/channels", headers=admin, json={"channel_type": "webchat", "name": f"{tag}{n}"}
            )
        )
        for n in range(2)
    ]
    ids["channel"] = [c["channel_id"] for c in channels]
    key = channels[0]["public_key"]
    visitors = [f"{tag}-visitor-{n}-{uuid.uuid4().hex[:6]}" for n in range(4)]
    # Generous: the consumers may first wait out a rebalance left by an earlier test's service.
    deadline = time.monotonic() + 120
    for n, visitor in enumerate(visitors):
        while True:  # ingest learns of the channel from the broker; message_id makes it safe
            sent = live.ingest.post(
                f"/v1/webchat/{key}/messages",
                json={
                    "visitor_id": visitor,
                    "message_id": f"{visitor}-m1",
                    "text": f"{tag} question {n}",
                    "visitor_name": f"{tag} Visitor {n}",
                },
            )
            if sent.status_code != 404 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert sent.status_code == 202, sent.text
    while True:
        listed = _ok(portal.get("/v1/dispatch/conversations", headers=admin))["items"]
        if len(listed) == len(visitors) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(listed) == len(visitors), listed
    ids["conversation"] = [c["conversation_id"] for c in listed]
    ids["visitor"] = [c["visitor_id"] for c in listed]
    first, second, _waiting, closed = ids["conversation"]
    _ok(portal.post(f"/v1/conversations/{closed}/take", headers=admin))
    _ok(
        portal.post(
            f"/v1/conversations/{closed}/close", headers=admin, json={"topics": ids["topic_name"]}
        )
    )
    _ok(portal.post(f"/v1/conversations/{first}/take", headers=admin))
    reply = {"text": f"{tag} reply"}
    _ok(portal.post(f"/v1/conversations/{first}/messages", headers=admin, json=reply))
    # A file uploaded for a reply (not sent: its signed links would change B's snapshot).
    uploaded = portal.post(
        f"/v1/conversations/{first}/attachments",
        headers=admin,
        params={"file_name": f"{tag}.png"},
        content=files.png(),
    )
    ids["attachment"] = [_ok(uploaded)["attachment_id"]]
    note = {"text": f"{tag} note"}
    _ok(portal.post(f"/v1/conversations/{first}/notes", headers=admin, json=note))
    exported = portal.get("/v1/export", headers=admin)  # a finished export B can look at
    assert exported.status_code == 200, exported.text
    ids["export"] = [exported.headers["X-Export-Id"]]
    _ok(
        portal.put(
            f"/v1/conversations/{first}/requirements",
            headers=admin,
            json={"competences": ids["competence"][:1]},
        )
    )
    _ok(
        portal.post(
            f"/v1/dispatch/conversations/{second}/assign",
            headers=admin,
            json={"user_id": tenant.users["agent"]},
        )
    )
    _ok(
        portal.patch(
            f"/v1/visitors/{ids['visitor'][0]}",
            headers=admin,
            json={"first_name": f"{tag}first", "email": f"{tag.lower()}@visitor.example"},
        )
    )
    # What B's people and visitors wrote: searched for, and looked for in every answer.
    ids["text"] = [f"{tag} question {n}" for n in range(4)] + [f"{tag} reply", f"{tag} note"]
    ids["visitor_external"] = visitors
    return tenant, ids


@pytest.fixture(scope="module")
def tenants(live):  # type: ignore[no-untyped-def]
    a, a_ids = _desk(live, "A")
    b, b_ids = _desk(live, "B")
    return a, a_ids, b, b_ids


def _b_snapshot(portal: httpx.Client, b: Tenant, b_ids: dict[str, list[str]]) -> dict:
    admin = b.tokens["administrator"]
    reads: list[tuple[str, dict | None]] = [
        ("/v1/users", {"limit": 200}),
        ("/v1/competences", None),
        ("/v1/topics", None),
        ("/v1/channels", None),
        ("/v1/chatbots", None),
        ("/v1/settings/general", None),
        ("/v1/settings/office-hours", None),
        ("/v1/dispatch/conversations", {"limit": 200}),
        ("/v1/history", {"limit": 200}),
        *[(f"/v1/users/{u}", None) for u in b_ids["user"]],
        *[(f"/v1/competences/{c}/users", None) for c in b_ids["competence"]],
        *[(f"/v1/conversations/{c}", None) for c in b_ids["conversation"]],
        *[(f"/v1/visitors/{v}", None) for v in b_ids["visitor"]],
    ]
    snapshot = {}
    for path, params in reads:
        response = portal.get(path, headers=admin, params=params)
        assert response.status_code == 200, f"{path}: {response.text}"
        snapshot[path] = response.json()
    return snapshot


def _queries(route: APIRoute) -> list[str]:
    """Every query parameter of the route, its dependencies' too (e.g. shared filters)."""
    found, stack = [], [route.dependant]
    while stack:
        dependant = stack.pop()
        found += [q.alias or q.name for q in dependant.query_params]
        stack.extend(dependant.dependencies)
    return found


def _body_model(route: APIRoute) -> Any:
    params = route.dependant.body_params
    return params[0].field_info.annotation if params else None


def _body(route: APIRoute, ids: dict[str, list[str]], n: int) -> dict[str, Any] | None:
    """A valid body for the route (None if it takes none) with every id field naming
    ``ids``' n-th resource of its kind: only those ids can make it be refused."""
    model = _body_model(route)
    if model is None:
        return None
    body: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if name in ID_FIELDS:
            kind, many = ID_FIELDS[name]
            value = ids[kind][n % len(ids[kind])]
            body[name] = [value] if many else value
        elif field.is_required() or name in OPTIONAL_SENT:
            body[name] = SAMPLES[name]
    if "email" in body:
        body["email"] = f"probe-{uuid.uuid4().hex[:10]}@probe.example"
    return body


def _names_ids(route: APIRoute) -> bool:
    return bool(set(getattr(_body_model(route), "model_fields", {})) & set(ID_FIELDS))


def _unclassified(routes: list[tuple[str, str, APIRoute]]) -> list[str]:
    """Path parameters, query parameters and body fields no generator knows."""
    unknown = []
    for method, path, route in routes:
        for name in re.findall(r"\{([^}]+)\}", path):
            if name not in PATH_KINDS:
                unknown.append(f"{method} {path}: path {name}")
        for q in _queries(route):
            if q not in ID_QUERIES | PLAIN_QUERIES:
                unknown.append(f"{method} {path}: query {q}")
        fields = getattr(_body_model(route), "model_fields", {})
        for name, field in fields.items():
            looks_like_id = name.endswith(("_id", "_ids")) or "UUID" in str(field.annotation)
            if name not in ID_FIELDS and looks_like_id and name not in NOT_CROSSING:
                unknown.append(f"{method} {path}: body {name}")
            probed = "{" in path or _names_ids(route)
            sent = probed and (field.is_required() or name in OPTIONAL_SENT)
            if name not in ID_FIELDS and sent and name not in SAMPLES:
                unknown.append(f"{method} {path}: required body field {name} has no sample")
    return unknown


def _crosses(
    response: httpx.Response,
    url: str,
    query: dict | None,
    body: dict | None,
    b_values: list[str],
    secrets: set[str],
) -> bool:
    """Whether an answer let a request through to B: a 2xx for B's resource in the path or
    B's ids in the body, or any of B's ids or names in the answer that the request did not
    bring along itself."""
    accepted = 200 <= response.status_code < 300
    in_path = any(v in url for v in b_values)
    in_body = any(v in str(body) for v in b_values)
    sent = f"{url} {query} {body}"
    leaks = any(s in response.text for s in secrets if s not in sent)
    return (accepted and (in_path or in_body)) or leaks


def _fill(path: str, ids: dict[str, list[str]], n: int) -> str:
    """``path`` naming ``ids``' n-th resource of each parameter's first kind."""

    def one(match: re.Match[str]) -> str:
        values = ids[PATH_KINDS[match.group(1)][0]]
        return values[n % len(values)]

    return re.sub(r"\{([^}]+)\}", one, path)


def _events_attempts(live: Live, a: Tenant, secrets: set[str]) -> tuple[int, list[str]]:
    """The live stream, from the very start of the log (which holds B's events too), with
    B's ids as the position, and resumed by Last-Event-ID: nothing of B comes out."""
    attempts, succeeded = 0, []
    for role in ROLES:
        for params, headers in [
            ({"after": "0"}, {}),
            ({}, {"Last-Event-ID": "0.0"}),
            *[({"after": s}, {}) for s in sorted(secrets)],
        ]:
            attempts += 1
            seen = b""
            status = 0
            try:
                with live.portal.stream(
                    "GET",
                    EVENTS,
                    params=params,
                    headers={**a.tokens[role], **headers},
                    timeout=httpx.Timeout(30, read=1.5),
                ) as response:
                    status = response.status_code
                    for chunk in response.iter_bytes():
                        seen += chunk
            except httpx.ReadTimeout:
                pass  # the stream stays open: what it sent so far is what counts
            assert status < 500, f"{role} GET {EVENTS} {params}: {seen[:300]!r}"
            text = seen.decode(errors="replace")
            if any(s in text for s in secrets if s not in str(params)):
                succeeded.append(f"{role} GET {EVENTS} {params} {headers} -> {status}: leaks B")
    return attempts, succeeded


def test_no_request_of_tenant_a_reaches_anything_of_tenant_b(live, tenants):  # type: ignore[no-untyped-def]
    a, a_ids, b, b_ids = tenants
    portal = live.portal
    routes = [
        (method, path, route)
        for method, path, route in endpoints(live.app)
        if not path.startswith(SKIPPED_PREFIXES) and function_of(route) is not None
    ]
    assert _unclassified(routes) == []
    b_values = sorted({v for kind in b_ids.values() for v in kind})
    secrets = set(b_values) | {f"B Visitor {n}" for n in range(4)} | {"Bfirst", "b@visitor"}
    attempts, succeeded = 0, []
    covered: set[tuple[str, str]] = set()
    control_refused: list[str] = []

    def attempt(role: str, method: str, url: str, query: dict | None, body: dict | None) -> None:
        """One request as A's ``role``; the body, if any, names B only when ``crossing``."""
        nonlocal attempts
        response = portal.request(method, url, headers=a.tokens[role], params=query, json=body)
        attempts += 1
        assert response.status_code < 500, f"{method} {url}: {response.text[:300]}"
        if _crosses(response, url, query, body, b_values, secrets):
            succeeded.append(f"{role} {method} {url} {query} {body} -> {response.status_code}")

    # The detector itself sees a success: B's administrator reading and changing B's own.
    b_admin = b.tokens["administrator"]
    for method, url, body in [
        ("GET", f"/v1/conversations/{b_ids['conversation'][0]}", None),
        ("GET", f"/v1/visitors/{b_ids['visitor'][0]}", None),
        ("GET", "/v1/dispatch/conversations", None),  # no id asked for: the leak check
        ("POST", f"/v1/conversations/{b_ids['conversation'][0]}/notes", {"text": "own"}),
    ]:
        own = portal.request(method, url, headers=b_admin, json=body)
        assert _crosses(own, url, None, body, b_values, secrets), own.text
    before = _b_snapshot(portal, b, b_ids)  # after B's own note
    assert (
        before["/v1/history"]["total"] >= 1 and before["/v1/dispatch/conversations"]["total"] >= 1
    )

    for method, path, route in routes:
        if path == EVENTS:
            continue
        has_path_ids = bool(re.findall(r"\{([^}]+)\}", path))
        queries = [q for q in _queries(route) if q in ID_QUERIES]
        controlled = False
        for role in ROLES:
            for n, b_value in enumerate(b_values):
                if has_path_ids:  # B's id in the path, a body valid in A
                    url = re.sub(r"\{[^}]+\}", b_value, path)
                    attempt(role, method, url, None, _body(route, a_ids, n))
                    covered.add((method, path))
                for q in queries:  # B's id or name in a query, on A's own resource
                    attempt(role, method, _fill(path, a_ids, n), {q: b_value}, None)
                    covered.add((method, path))
            if _names_ids(route):
                for n in range(3):  # B's ids in the body, on A's own resource
                    attempt(role, method, _fill(path, a_ids, n), None, _body(route, b_ids, n))
                    covered.add((method, path))
        if _body_model(route) is not None and (has_path_ids or _names_ids(route)):
            # Control: the same request all in A is well formed, so B's ids were the reason.
            control = portal.request(
                method,
                _fill(path, a_ids, 0),
                headers=a.tokens["administrator"],
                json=_body(route, a_ids, 0),
            )
            controlled = True
            if control.status_code == 422 and "invalid_request" in control.text:
                control_refused.append(f"{method} {path}: {control.text[:300]}")
        assert controlled or _body_model(route) is None or not (has_path_ids or _names_ids(route))
    events_attempts, events_succeeded = _events_attempts(live, a, secrets)
    attempts += events_attempts
    succeeded += events_succeeded
    covered.add(("GET", EVENTS))

    takes_ids = {
        (method, path)
        for method, path, route in routes
        if "{" in path or set(_queries(route)) & ID_QUERIES or _names_ids(route)
    }
    print(f"cross-tenant attempts: {attempts}")
    assert takes_ids - covered == set()  # every route that takes an id had B's ids
    assert control_refused == []  # the probes' bodies are valid but for B's ids
    assert attempts >= 2000, attempts
    assert succeeded == []
    assert _b_snapshot(portal, b, b_ids) == before  # nothing of B changed


#: The other services' path parameters: the kind of B's resource, or None for a plain value.
SERVICE_PATH_KINDS: dict[str, str | None] = {
    "invoice_id": "invoice",
    "incident_id": "incident",
    "month": None,
}
SERVICE_PLAIN_QUERIES = {"format", "from", "to", "bucket", "channel"}


def _eventually(check, what: str, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return found


@pytest.fixture(scope="module")
def services(live, tenants, kafka_bootstrap, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Billing and SLA on the broker, checking logins with the live Portal; each tenant has
    an invoice (issued by the operator) and an incident (reported by the service desk)."""
    a, _a_ids, b, _b_ids = tenants
    operator = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    url = str(live.portal.base_url).rstrip("/")
    billing_app = build_billing(
        BillingSettings(
            data_dir=tmp_path_factory.mktemp("matrix-billing"),
            kafka_bootstrap_servers=kafka_bootstrap,
            conversation_url=url,
            operator_token=OPERATOR_TOKEN,
            auto_issue_invoices=False,
        ),
        group_id=f"billing-matrix-{uuid.uuid4().hex[:6]}",
    )
    sla_app = build_sla(
        SlaSettings(
            service_name=f"sla-matrix-{uuid.uuid4().hex[:6]}",
            data_dir=tmp_path_factory.mktemp("matrix-sla"),
            kafka_bootstrap_servers=kafka_bootstrap,
            conversation_url=url,
            operator_token=OPERATOR_TOKEN,
        )
    )
    with (
        TestClient(billing_app) as billing,
        TestClient(sla_app) as sla,
    ):
        brussels = ZoneInfo("Europe/Brussels")
        period = Period.of(datetime.now(UTC).astimezone(brussels).date())
        billing_app.state.invoicing.clock = lambda: period.bounds(brussels)[1] + timedelta(hours=1)

        def issued() -> dict[str, str] | None:
            answer = billing.post(
                "/v1/billing/operator/invoices", headers=operator, json={"period": str(period)}
            )
            outcomes = {o["tenant_id"]: o.get("invoice_id") for o in answer.json()["outcomes"]}
            wanted = {t.tenant_id: outcomes.get(t.tenant_id) for t in (a, b)}
            return wanted if all(wanted.values()) else None

        invoices = _eventually(issued, "both tenants' invoices")

        def incident(tenant: Tenant) -> str | None:
            answer = sla.post(
                "/v1/sla/operator/incidents",
                headers=operator,
                json={
                    "tenant_id": tenant.tenant_id,
                    "priority": "P1",
                    "reported_via": "phone",
                    "created_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
                    "summary": f"probe {tenant.tenant_id}",
                },
            )
            return answer.json()["incident_id"] if answer.status_code == 201 else None

        incidents = {
            t.tenant_id: _eventually(lambda t=t: incident(t), "an incident") for t in (a, b)
        }
        ids = {
            t.tenant_id: {"invoice": [invoices[t.tenant_id]], "incident": [incidents[t.tenant_id]]}
            for t in (a, b)
        }
        yield {"billing": billing, "sla": sla}, ids


def _without_clock(found: Any) -> Any:
    """An answer without the figures the clock moves (an open incident's time used and
    left against its targets), so before and after compare what was stored."""
    if isinstance(found, list):
        return [_without_clock(item) for item in found]
    if isinstance(found, dict):
        return {k: _without_clock(v) for k, v in found.items() if k not in {"response", "restore"}}
    return found


def _tenant_routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    """The routes a tenant's people call (not the operator's, not the probes)."""
    return [
        (method, path, route)
        for method, path, route in endpoints(app)
        if path.startswith("/v1/") and not is_operator_only(route)
    ]


def test_no_request_of_tenant_a_reaches_bs_invoices_or_incidents(live, tenants, services):  # type: ignore[no-untyped-def]
    a, _a_ids, b, b_ids = tenants
    clients, ids = services
    b_own = ids[b.tenant_id]
    b_values = sorted({v for kind in (*b_ids.values(), *b_own.values()) for v in kind})
    secrets = set(b_values) | {b.tenant_id}
    month = time.strftime("%Y-%m")

    def snapshot() -> dict[str, Any]:
        admin = b.tokens["administrator"]
        reads = {
            "billing": [
                "/v1/billing/invoices",
                *[f"/v1/billing/invoices/{i}" for i in b_own["invoice"]],
            ],
            "sla": ["/v1/sla/incidents", *[f"/v1/sla/incidents/{i}" for i in b_own["incident"]]],
        }
        taken = {}
        for name, paths in reads.items():
            for path in paths:
                answer = clients[name].get(path, headers=admin)
                assert answer.status_code == 200, f"{path}: {answer.text}"
                taken[path] = _without_clock(answer.json())
        return taken

    before = snapshot()
    # The detector sees B's own administrator reach B's invoice and incident.
    for name, path in [
        ("billing", f"/v1/billing/invoices/{b_own['invoice'][0]}"),
        ("sla", f"/v1/sla/incidents/{b_own['incident'][0]}"),
    ]:
        own = clients[name].get(path, headers=b.tokens["administrator"])
        assert _crosses(own, path, None, None, b_values, secrets), own.text

    attempts, id_routes, succeeded, unknown = 0, 0, [], []
    for name, client in clients.items():
        for method, path, route in _tenant_routes(client.app):
            params = re.findall(r"\{([^}]+)\}", path)
            unknown += [f"{name} {path}: path {p}" for p in params if p not in SERVICE_PATH_KINDS]
            unknown += [
                f"{name} {path}: query {q}"
                for q in _queries(route)
                if q not in SERVICE_PLAIN_QUERIES
            ]
            id_params = [p for p in params if SERVICE_PATH_KINDS.get(p)]
            id_routes += bool(id_params)
            values = b_values if id_params else [None]  # a list or report: read, no leak
            formats = [None, {"format": "csv"}] if "format" in _queries(route) else [None]
            for role in ROLES:
                for value in values:
                    url = path.replace("{month}", month)
                    if value is not None:
                        url = re.sub(r"\{[^}]+\}", value, url)
                    for query in formats:
                        answer = client.request(method, url, headers=a.tokens[role], params=query)
                        attempts += 1
                        assert answer.status_code < 500, f"{name} {url}: {answer.text[:300]}"
                        if _crosses(answer, url, query, None, b_values, secrets):
                            succeeded.append(
                                f"{role} {method} {url} {query} -> {answer.status_code}"
                            )
    print(f"cross-tenant attempts on billing and SLA: {attempts}")
    assert unknown == []
    assert id_routes >= 2  # the invoice and the incident, each by id
    assert succeeded == []
    assert snapshot() == before
