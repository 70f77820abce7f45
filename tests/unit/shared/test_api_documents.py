"""The API contracts in docs/api: the AsyncAPI 3 document of the Kafka topics and each
service's OpenAPI document. They are generated (``scripts/api_docs.py``) and committed
so that a change of contract shows in review; these tests fail when they are stale,
incomplete or not valid AsyncAPI.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from shared import asyncapi, topics
from shared.events import PAYLOADS, decode
from shared.http import new_app

ROOT = Path(__file__).resolve().parents[3]
API_DOCS = ROOT / "docs" / "api"
COMMITTED_ASYNCAPI = API_DOCS / "asyncapi.json"
ASYNCAPI_SCHEMA = Path(__file__).parents[1] / "schemas" / "asyncapi-3.0.0.json"
KAFKA_USERS = ROOT / "deploy" / "k8s" / "kafka-users.yaml"
SERVICES = ("conversation", "ingest", "routing", "stats", "billing", "sla")


def _committed() -> dict[str, Any]:
    return json.loads(COMMITTED_ASYNCAPI.read_text())


def missing_event_types(document: dict[str, Any]) -> set[str]:
    """Event types of shared/events.py that the document has no channel message for."""
    on_channels = {
        name for channel in document["channels"].values() for name in channel["messages"]
    }
    return {
        event_type
        for event_type, _version in PAYLOADS
        if event_type not in document["components"]["messages"] or event_type not in on_channels
    }


def test_committed_asyncapi_has_every_event_type() -> None:
    assert not missing_event_types(_committed()), "run scripts/api_docs.py"


def test_a_new_event_type_is_reported_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.events import Payload

    class ParcelLost(Payload):
        parcel_id: str

    monkeypatch.setitem(PAYLOADS, ("ParcelLost", 1), ParcelLost)
    assert missing_event_types(_committed()) == {"ParcelLost"}


def test_every_event_type_is_on_exactly_one_topic_and_every_topic_is_a_channel() -> None:
    listed = [name for names in asyncapi.TOPIC_EVENTS.values() for name in names]
    assert sorted(listed) == sorted(event_type for event_type, _ in PAYLOADS)
    addresses = [channel["address"] for channel in _committed()["channels"].values()]
    assert sorted(addresses) == sorted(topics.ALL)


def test_committed_asyncapi_is_current() -> None:
    assert COMMITTED_ASYNCAPI.read_text() == asyncapi.render(), "run scripts/api_docs.py"


def test_asyncapi_is_valid_asyncapi_3() -> None:
    validator = jsonschema.Draft7Validator(json.loads(ASYNCAPI_SCHEMA.read_text()))
    document = _committed()
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(document)]
    assert not errors, errors[:5]
    # The schema bites: an AsyncAPI 2 action is refused.
    operation = next(iter(document["operations"].values()))
    operation["action"] = "publish"
    assert list(validator.iter_errors(document))


@pytest.mark.parametrize("event_type", sorted(t for t, _ in PAYLOADS))
def test_message_has_key_headers_schema_and_an_example_that_decodes(event_type: str) -> None:
    message = _committed()["components"]["messages"][event_type]
    assert message["bindings"]["kafka"]["key"]["format"] == "uuid"
    headers = _committed()["components"]["schemas"][message["headers"]["$ref"].rsplit("/", 1)[1]]
    assert headers["properties"]["event-type"]["const"] == event_type
    assert headers["properties"]["content-type"]["const"] == "application/json"
    (example,) = message["examples"]
    assert example["headers"] == {"event-type": event_type, "content-type": "application/json"}
    # The example is what a consumer really reads: shared.events.decode accepts it.
    envelope, payload = decode(json.dumps(example["payload"]).encode())
    assert envelope.type == event_type
    assert isinstance(payload, PAYLOADS[(event_type, 1)])
    # ... and it fits the schema the document gives for the message.
    components = _committed()["components"]["schemas"]
    schema = {**message["payload"], "components": {"schemas": components}}
    jsonschema.Draft202012Validator(json.loads(json.dumps(schema))).validate(example["payload"])


def test_operations_match_the_kafka_users_acls() -> None:
    """The document and the KafkaUsers of deploy/k8s agree on who reads and writes what."""
    users = {u["metadata"]["name"]: u for u in yaml.safe_load_all(KAFKA_USERS.read_text()) if u}
    for service in SERVICES:
        acls = users[service]["spec"]["authorization"]["acls"]

        def allowed(operation: str, acls: list[dict[str, Any]] = acls) -> set[str]:
            return {
                acl["resource"]["name"]
                for acl in acls
                if acl["resource"]["type"] == "topic" and operation in acl["operations"]
            }

        assert set(asyncapi.SENDS[service]) | {topics.DEAD_LETTERS} == allowed("Write"), service
        assert set(asyncapi.RECEIVES[service]) == allowed("Read"), service


async def test_every_app_serves_the_document_at_asyncapi() -> None:
    transport = httpx.ASGITransport(app=new_app(title="any service"))
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        response = await client.get("/asyncapi")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == _committed()


def test_committed_openapi_documents_are_current(tmp_path: Path) -> None:
    generated = subprocess.run(
        [sys.executable, "scripts/api_docs.py", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert generated.returncode == 0, generated.stderr
    for service in SERVICES:
        name = f"{service}.openapi.json"
        fresh = json.loads((tmp_path / name).read_text())
        assert fresh["openapi"].startswith("3.") and fresh["paths"], name
        assert (API_DOCS / name).read_text() == (tmp_path / name).read_text(), (
            f"docs/api/{name} is stale: run scripts/api_docs.py"
        )
