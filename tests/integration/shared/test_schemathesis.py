"""Bad input never breaks any service's API (S2): schemathesis drives every operation of the
OpenAPI document of each of the six services in-process and checks for server errors and
answers that break the schema."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from prometheus_client import CollectorRegistry
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from services.conversation.api import create_app
from services.conversation.bootstrap import ConversationService
from services.conversation.settings import ConversationSettings
from shared.local_broker import free_port
from tests.support.apps import SERVICES, service_apps
from tests.support.tenants import OPERATOR_TOKEN, PASSWORD, new_tenant


def _databases(request, names: list[str]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Empty PostgreSQL databases for ``names`` when the run is on PostgreSQL, else none."""
    if request.param != "postgresql":
        return {}
    server = request.getfixturevalue("postgres")
    urls = {}
    for name in names:
        database = f"fuzz_{name}_{uuid.uuid4().hex[:8]}"
        server.create_database(database)
        urls[name] = server.url(database)
    return urls


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzzed(request, kafka_bootstrap, mail, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Its own service (schemathesis runs the app's lifespan itself) with a seeded tenant."""
    svc = ConversationService(
        ConversationSettings(
            database_url=_databases(request, ["conversation"]).get("conversation", ""),
            data_dir=tmp_path_factory.mktemp("fuzz"),
            kafka_bootstrap_servers=kafka_bootstrap,
            operator_token=OPERATOR_TOKEN,
            smtp_port=mail.port,
            login_attempts_per_account_per_minute=100_000,
            login_attempts_per_address_per_minute=100_000,
        ),
        registry=CollectorRegistry(),
    )
    tenant_id = svc.directory.create_tenant("Fuzzed", "bot", sdk_option=True)
    admin_id = svc.directory.create_end_user(
        tenant_id, "Ada", "Admin", "admin@fuzz.example", "administrator", "nl"
    )
    svc.security.set_password(str(tenant_id), str(admin_id), PASSWORD)
    svc.projector.catch_up_now()
    token, _session = svc.security.login("admin@fuzz.example", PASSWORD)
    svc.directory.create_label("competence", tenant_id, "Existing", "")
    svc.projector.catch_up_now()
    return create_app(svc), token


@pytest.fixture(scope="module")
def api_schema(fuzzed):  # type: ignore[no-untyped-def]
    app, _token = fuzzed
    return schemathesis.openapi.from_asgi("/openapi.json", app).exclude(
        # logout would end the session the run uses; the live stream never ends (its bad
        # input is tested in test_conversation_api)
        path=["/v1/auth/logout", "/v1/events"]
    )


def test_no_server_error_and_answers_match_the_schema(api_schema, fuzzed):  # type: ignore[no-untyped-def]
    """Every operation, with generated (mostly invalid) input: 4xx with a reason, never a 5xx.

    Driven with hypothesis directly: schemathesis' pytest plugin does not run on pytest 9.
    """
    _app, token = fuzzed
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 30
    for operation in operations:
        operator_call = operation.path.startswith(("/v1/operator", "/v1/feed"))
        headers = {"Authorization": f"Bearer {OPERATOR_TOKEN if operator_call else token}"}

        run = _exercise(operation, headers)
        try:
            run()
        except Exception as exc:  # collect all, then fail with every broken operation named
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:800]}")
    assert failures == []


def _exercise(operation, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    @given(case=operation.as_strategy())
    @settings(
        max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def run(case) -> None:  # type: ignore[no-untyped-def]
        case.call_and_validate(
            headers=headers, checks=[not_a_server_error, response_schema_conformance]
        )

    return run


@pytest.fixture(scope="module")
def conversation_url(portal):  # type: ignore[no-untyped-def]
    """The Portal over real HTTP, where the other services check login tokens."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(portal.app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the conversation API did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def other_services(request, kafka_bootstrap, conversation_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    names = [s for s in SERVICES if s != "conversation"]
    apps = service_apps(
        tmp_path_factory.mktemp("fuzz-services"),
        kafka_bootstrap,
        _databases(request, names),
        conversation_url=conversation_url,
        operator_token=OPERATOR_TOKEN,
        auto_issue_invoices=False,
    )
    return {name: app for name, app in apps.items() if name != "conversation"}


@pytest.mark.parametrize("name", [s for s in SERVICES if s != "conversation"])
def test_every_other_service_has_no_server_error_and_answers_match_the_schema(
    name, other_services, portal
):
    """ingest, routing, stats, billing and sla, as an Administrator of a Bot tenant (the
    operator's token for operator paths)."""
    token = new_tenant(portal, plan="bot").tokens["administrator"]["Authorization"]
    schema = schemathesis.openapi.from_asgi("/openapi.json", other_services[name])
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, name
    failures: list[str] = []
    for operation in operations:
        operator_call = "/operator" in operation.path
        headers = {"Authorization": f"Bearer {OPERATOR_TOKEN}" if operator_call else token}
        try:
            _exercise(operation, headers)()
        except Exception as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:800]}")
    assert failures == []
