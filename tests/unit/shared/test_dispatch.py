"""The handler table: the wanted types follow from it, and each payload reaches its handler."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.billing import consumers as billing_consumers
from services.sla import consumers as sla_consumers
from services.stats import consumers as stats_consumers
from shared import events as ev
from shared.dispatch import Handlers
from shared.kafka import Delivery

TENANT = uuid.uuid4()


def _delivery(payload: ev.Payload) -> Delivery:
    return Delivery(ev.Envelope.wrap(payload, tenant_id=TENANT), payload, "t:0:1")


def test_each_payload_reaches_its_handler_and_others_are_ignored():
    handlers: Handlers[list[str], str] = Handlers()

    @handlers.on(ev.TenantCreated, ev.ContractEnded)
    def _tenant(seen: list[str], p: ev.Payload, d: Delivery) -> str:
        seen.append(type(p).__name__)
        return str(d.envelope.tenant_id)

    seen: list[str] = []
    end = datetime(2027, 1, 1, tzinfo=UTC)
    created = ev.TenantCreated(name="T", plan="pro")
    ended = ev.ContractEnded(contract_end=end)
    purged = ev.TenantPurged(contract_end=end, purged_at=end)
    assert handlers.dispatch(seen, _delivery(created)) == str(TENANT)
    assert handlers.dispatch(seen, _delivery(ended)) == str(TENANT)
    assert handlers.dispatch(seen, _delivery(purged)) is None
    assert seen == ["TenantCreated", "ContractEnded"]
    assert handlers.types == {"TenantCreated", "ContractEnded"}


def test_a_type_gets_one_handler():
    handlers: Handlers[None, None] = Handlers()
    handlers.on(ev.TenantCreated)(lambda *_: None)
    with pytest.raises(ValueError, match="TenantCreated"):
        handlers.on(ev.TenantCreated)(lambda *_: None)


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            sla_consumers.handlers,
            {
                "TenantCreated",
                "ContractEnded",
                "InvoiceIssued",
                "InvoicePaymentRecorded",
                "TenantPurged",
            },
        ),
        (
            billing_consumers.handlers,
            {
                "TenantCreated",
                "EndUserActivated",
                "EndUserDeactivated",
                "ContractEnded",
                "ServiceCreditGranted",
                "TenantPurged",
            },
        ),
        (
            stats_consumers.handlers,
            {
                "TenantCreated",
                "EndUserCreated",
                "EndUserUpdated",
                "EndUserDeleted",
                "TenantPurged",
                "ConversationOpened",
                "MessageReceived",
                "MessageSent",
                "ConversationQueued",
                "ConversationAssigned",
                "ConversationTaken",
                "HandoverChanged",
                "ConversationRequirementsChanged",
                "ConversationArchived",
                "ConversationClosed",
            },
        ),
    ],
)
def test_a_consumer_subscribes_to_what_its_table_handles(table: Handlers, expected: set[str]):
    assert table.types == expected
    assert all((name, 1) in ev.PAYLOADS for name in table.types)
