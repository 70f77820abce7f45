"""Claims for service credits (Dutch §6.2): decided when the claim is recorded.

A claim names an incident; each SLA breach of it (response, restore) is decided on its
own by ``credits.claim_decision``: in time (3 months after the end of the breach month),
no unpaid invoices, the contract not ended. A granted credit's amount is what it adds to
the month's credits under both caps (``credits_for_month`` with and without it), so the
25 % row caps and the monthly cap hold however the claims are spread. The credit row and
its ``ServiceCreditGranted`` envelope in the outbox are written in the same transaction.

A credit is granted when its claim is recorded; a contract that ended before then
(``ContractEnded``) voids it ("lapsed"). The breach month's licence fee, when invoiced,
is the monthly cap; until then the previous month's fee stands in for it. Without any
licence fee invoiced for the month before the breach there is nothing to take a
percentage of: such a breach is refused as ``no_licence_fee`` and may be claimed again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from services.sla.application.errors import Refused
from services.sla.application.incidents import Clock, utc_now
from services.sla.application.ledger import (
    granted_breaches,
    has_unpaid_invoices,
    licence_fee,
    month_key,
    previous_month,
)
from services.sla.application.ports import Records, Store
from services.sla.domain.clock import BRUSSELS
from services.sla.domain.credits import Breach, breaches_of, claim_decision, credits_for_month
from services.sla.domain.incident import measure
from services.sla.domain.targets import Level, level_of
from shared import events as ev
from shared.access import plan_includes

CREDIT_IDS = uuid.UUID("5c1a0c6e-6f1b-4a57-9d0b-7f3c2f9e51a1")


@dataclass(frozen=True)
class Outcome:
    kind: str
    priority: str
    breached_at: datetime
    breach_month: str
    decision: str  # granted, already_granted, late, unpaid_invoices, lapsed, no_licence_fee
    amount_cents: int | None = None
    credit_id: str | None = None


def credit_id_of(incident_id: str, kind: str) -> uuid.UUID:
    """One credit per breach: the same breach always gets the same id (and event id)."""
    return uuid.uuid5(CREDIT_IDS, f"{incident_id}:{kind}")


class Claims:
    def __init__(self, store: Store, clock: Clock = utc_now) -> None:
        self.store, self.clock = store, clock

    def claim(
        self, tenant_id: uuid.UUID, incident_id: uuid.UUID, claimed_at: datetime | None = None
    ) -> list[Outcome]:
        now = self.clock()
        claimed_at = claimed_at or now
        if claimed_at > now:
            raise Refused("in_the_future", "The claim cannot arrive in the future.", kind="invalid")
        with self.store.writing() as records:
            # Claims of one tenant queue here, so two never both use the same cap room.
            tenant = records.queue_claims_of(str(tenant_id))
            if tenant is None:
                raise Refused("unknown_tenant", f"There is no tenant {tenant_id}.", kind="invalid")
            if not plan_includes(tenant.plan, "service_levels"):
                raise Refused(
                    "no_service_levels",
                    "Hub tenants have no service levels (§6).",
                    kind="conflict",
                )
            state = records.load(str(incident_id))
            if state is None or state.tenant_id != str(tenant_id):
                raise Refused("not_found", f"There is no incident {incident_id}.", kind="not_found")
            if claimed_at < state.created_at:
                raise Refused(
                    "claimed_before_created", "Claimed before the incident.", kind="invalid"
                )
            found = [
                b
                for b in breaches_of(measure(state.as_incident(), claimed_at))
                if level_of(b.priority) is Level.SLA
            ]
            if not found:
                raise Refused(
                    "no_sla_breach",
                    f"Incident {incident_id} ({state.priority}) has no SLA breach to credit.",
                    kind="conflict",
                )
            outcomes = [self._decide(records, tenant, b, claimed_at, now) for b in found]
        if not any(o.decision in ("granted", "already_granted") for o in outcomes):
            raise Refused(
                "claim_refused",
                "No service credit is due: " + ", ".join(o.decision for o in outcomes) + ".",
                [_jsonable(o) for o in outcomes],
                kind="conflict",
            )
        return outcomes

    def _decide(
        self, records: Records, tenant, breach: Breach, claimed_at: datetime, now: datetime
    ) -> Outcome:
        local = breach.breached_at.astimezone(BRUSSELS).date().replace(day=1)
        month = month_key(local)
        credit_id = credit_id_of(breach.incident_id, breach.kind.value)
        base = Outcome(breach.kind.value, breach.priority.value, breach.breached_at, month, "")
        existing = records.granted_amount(str(credit_id))
        if existing is not None:
            return _with(base, "already_granted", existing, credit_id)
        today = now.astimezone(BRUSSELS).date()
        ended = tenant.contract_end is not None and now >= tenant.contract_end
        decision = claim_decision(
            breach_month=local,
            claimed_on=claimed_at.astimezone(BRUSSELS).date(),
            has_unpaid_invoices=has_unpaid_invoices(records, tenant.tenant_id),
            # granted now: void if the contract ended at or before this instant
            contract_end=today if ended else None,
            granted_on=today,
        )
        if decision != "granted":
            return _with(base, decision)
        fee = licence_fee(records, tenant.tenant_id, month_key(previous_month(local)))
        if fee is None:
            return _with(base, "no_licence_fee")
        month_fee = licence_fee(records, tenant.tenant_id, month)
        earlier = granted_breaches(records, tenant.tenant_id, month)
        totals = [
            credits_for_month(tenant.plan, found, local.year, local.month, fee, month_fee).total
            for found in (earlier, [*earlier, breach])
        ]
        amount_cents = int((totals[1] - totals[0]) * 100)
        records.insert_credit(
            credit_id=str(credit_id),
            tenant_id=tenant.tenant_id,
            incident_id=breach.incident_id,
            kind=breach.kind.value,
            priority=breach.priority.value,
            breach_month=month,
            breached_at=breach.breached_at,
            claimed_at=claimed_at,
            granted_at=now,
            amount_cents=amount_cents,
        )
        envelope = ev.Envelope.wrap(
            ev.ServiceCreditGranted(
                credit_id=credit_id,
                incident_id=uuid.UUID(breach.incident_id),
                breach_month=month,
                amount_cents=amount_cents,
                granted_at=now,
            ),
            tenant_id=uuid.UUID(tenant.tenant_id),
            event_id=credit_id,
            occurred_at=now,
        )
        records.enqueue(envelope)
        return _with(base, "granted", amount_cents, credit_id)


def _with(
    base: Outcome, decision: str, amount: int | None = None, credit_id: uuid.UUID | None = None
) -> Outcome:
    return Outcome(
        base.kind,
        base.priority,
        base.breached_at,
        base.breach_month,
        decision,
        amount,
        str(credit_id) if credit_id else None,
    )


def _jsonable(outcome: Outcome) -> dict[str, object]:
    return {
        "kind": outcome.kind,
        "priority": outcome.priority,
        "breached_at": outcome.breached_at.isoformat(),
        "breach_month": outcome.breach_month,
        "decision": outcome.decision,
    }
