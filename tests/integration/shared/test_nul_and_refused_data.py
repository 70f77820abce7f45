"""Text PostgreSQL cannot hold never stops a service: NUL characters are refused at the HTTP
door and dropped from events; a value a view's column refuses sends only that event to the
dead-letter topic instead of rewinding its batch forever."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import Column, Connection, MetaData, String, Table, insert, select

from shared.consumer_service import ConsumerService, ConsumerServiceSettings
from shared.events import Envelope, TenantCreated, UnreadableEvent, decode
from shared.kafka import Delivery
from tests.support.tenants import OPERATOR


def test_nul_in_a_request_is_refused_with_a_reason(portal) -> None:  # type: ignore[no-untyped-def]
    body = '{"name": "Bad\\u0000Bakery", "plan": "pro"}'
    refused = portal.post(
        "/v1/operator/tenants",
        content=body,
        headers={**OPERATOR, "Content-Type": "application/json"},
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "nul_character"
    query = portal.get("/v1/faq", params={"q": "a\x00b"}, headers=OPERATOR)
    assert query.status_code == 422
    assert portal.get("/health").status_code == 200


def test_events_drop_nul_characters_both_ways() -> None:
    made = TenantCreated(name="Bake\x00ry", plan="pro")
    assert made.name == "Bakery"
    raw = Envelope(
        event_id=uuid.uuid4(),
        type="TenantCreated",
        tenant_id=uuid.uuid4(),
        payload={"name": "A\u0000B", "plan": "bot", "languages": ["n\u0000l"]},
    ).to_bytes()
    assert b"\\u0000" in raw
    _envelope, payload = decode(raw)
    assert payload.name == "AB"


metadata = MetaData()
names = Table("names", metadata, Column("name", String(8), primary_key=True))


def keep_names(conn: Connection, batch: list[Delivery]) -> None:
    for d in batch:
        conn.execute(insert(names).values(name=d.payload.name))


def delivery(name: str) -> Delivery:
    envelope = Envelope.wrap(
        TenantCreated(name=name, plan="pro"),
        tenant_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
    )
    return Delivery(envelope, envelope.parsed(), "test:0:0")


def test_a_value_the_database_refuses_is_unreadable_not_retried(postgres, tmp_path) -> None:  # type: ignore[no-untyped-def]
    database = f"refused_{uuid.uuid4().hex[:8]}"
    postgres.create_database(database)
    service = ConsumerService(
        ConsumerServiceSettings(
            service_name="refusal-test", database_url=postgres.url(database), data_dir=tmp_path
        ),
        metadata,
    )
    good, too_long = delivery("short"), delivery("far too long for the column")
    with pytest.raises(UnreadableEvent, match="the database refuses it"):
        service.apply_batch_now(keep_names, [good, too_long])
    # Nothing of the failed batch stayed; one by one, the good one applies.
    service.apply_batch_now(keep_names, [good])
    with service.engine.connect() as conn:
        assert conn.scalars(select(names.c.name)).all() == ["short"]
    service.engine.dispose()
