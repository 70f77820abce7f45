"""The same events (and sweeps at the same moments) into a fresh state give the same decisions."""

from __future__ import annotations

from datetime import datetime

from services.routing.domain.state import TenantRouting
from shared import events as ev
from shared.events import Envelope
from tests.support.routing import (
    ANN,
    BOB,
    MORNING,
    TENANT,
    TIMEOUT,
    at,
    conv,
)


def replay(script: list[Envelope | datetime]) -> list[Envelope]:
    state = TenantRouting(tenant_id=TENANT)
    out: list[Envelope] = []
    for item in script:
        if isinstance(item, datetime):
            out += state.sweep(item, TIMEOUT)
        else:
            out += state.apply(item, item.parsed())
    return out


def test_a_replay_gives_byte_identical_decisions_timed_by_the_events() -> None:
    first, second = replay(MORNING), replay(MORNING)
    assert [e.to_bytes() for e in first] == [e.to_bytes() for e in second]
    for envelope in first:  # written as the contract's JSON, byte for byte
        routed = ev.ConversationRouted.model_validate(envelope.payload)
        again = Envelope.wrap(
            routed,
            tenant_id=TENANT,
            event_id=envelope.event_id,
            occurred_at=envelope.occurred_at,
            causation_id=envelope.causation_id,
        )
        assert again.to_bytes() == envelope.to_bytes()
    summary = [
        (
            d.conversation_id,
            d.assignee_id,
            d.replaces_assignee_id,
            d.reroute_reason,
            d.decided_at,
        )
        for d in (e.parsed() for e in first)
    ]
    assert summary == [
        (conv(1), None, None, None, at(2)),
        (conv(1), ANN, None, None, at(3)),  # Ann comes online
        (conv(2), None, None, None, at(4)),  # legal: only Bob, offline
        (conv(2), BOB, None, None, at(6)),
        (conv(3), ANN, None, None, at(7)),  # handed over by the bot; French: Ann only
        (conv(4), BOB, None, None, at(9)),  # Ann is full (conv 1 and 3)
        # Sweep at 20: all three assigned are overdue, but nobody else could hold them.
        # Conv 1 now needs legal: not Ann; Bob is full (conv 2 and 4): it waits.
        (conv(1), None, ANN, "requirements", at(21)),
        # Conv 4 dispatched to Ann: Bob has room for conv 1.
        (conv(1), BOB, None, None, at(22)),
        # Ann goes offline: conv 3 (French) has nobody; the dispatched conv 4 stays.
        (conv(3), None, ANN, "offline", at(23)),
        # Capacity 4 for both and conv 2 closed: nobody new fits French conv 3.
        (conv(1), None, BOB, "deactivated", at(26)),
        (conv(3), ANN, None, None, at(27)),  # Ann back; the sweep at 40 has nobody else
    ]
    assert len({e.event_id for e in first}) == len(first)
