"""Bad input never breaks the SLA service's operator API: schemathesis drives every operator
operation in-process (real broker, SQLite) and checks for server errors and answers that
break the schema. One known tenant and incident are seeded so that ids can hit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from services.sla import consumers
from services.sla.__main__ import build
from services.sla.settings import SlaSettings
from shared import events as ev
from shared.kafka import Delivery

OPERATOR_TOKEN = "fuzz-operator-token"


@pytest.fixture(scope="module")
def app(kafka_bootstrap, tmp_path_factory):  # type: ignore[no-untyped-def]
    app = build(
        SlaSettings(
            service_name=f"sla-fuzz-{uuid.uuid4().hex[:6]}",
            kafka_bootstrap_servers=kafka_bootstrap,
            data_dir=tmp_path_factory.mktemp("sla-fuzz"),
            operator_token=OPERATOR_TOKEN,
        )
    )
    tenant = uuid.uuid4()
    created = ev.TenantCreated(name="Fuzzed", plan="pro")
    with app.state.sla.engine.begin() as conn:
        consumers.apply(conn, [Delivery(ev.Envelope.wrap(created, tenant_id=tenant), created, "x")])
    app.state.sla.incidents.report(tenant, "P2", "phone", datetime.now(UTC) - timedelta(hours=3))
    return app


def test_operator_api_has_no_server_error(app) -> None:  # type: ignore[no-untyped-def]
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(
        path_regex="^/v1/sla/operator"
    )
    headers = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 11
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def run(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(
                headers=headers, checks=[not_a_server_error, response_schema_conformance]
            )

        try:
            run()
        except Exception as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:800]}")
    assert failures == []
