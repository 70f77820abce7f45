"""Routing's state survives a save and a load exactly, and a stale writer is refused."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from services.routing.application.router import Router
from services.routing.domain.state import TenantRouting
from services.routing.store import snapshots as store
from shared import events as ev
from shared.events import Envelope
from shared.readmodel import make_engine
from tests.support.databases import BOTH, database_for
from tests.support.routing import (
    ANN,
    BOB,
    MORNING,
    TENANT,
    TIMEOUT,
    at,
    competence,
    conv,
    feed,
    new_state,
    opened,
    presence,
    tenant_created,
    user_created,
)


@pytest.fixture(params=BOTH)
def engine(request, tmp_path):  # type: ignore[no-untyped-def]
    url = database_for(request, "routing", f"sqlite:///{tmp_path / 'routing.sqlite'}")
    engine = make_engine(url)
    store.metadata.create_all(engine)
    yield engine
    engine.dispose()


def test_saved_state_loads_back_the_same_and_stale_writers_are_refused(engine):
    state = new_state(
        tenant_created(default_capacity=3),
        user_created(ANN, competences=("c1",), capacity=2),
        user_created(BOB, languages=("nl", "fr")),
        presence(ANN, "online", 0),
    )
    for n in range(4):
        feed(state, opened(n, n + 1))  # two to Ann (capacity 2), two waiting
    for name in ("c1", "c2"):
        feed(state, ev.LabelChanged(kind="competence", label_id=competence(name), name=name))
    feed(state, ev.LabelDeleted(kind="competence", label_id=competence("c2")))
    with engine.begin() as conn:
        store.save(conn, state)
    with engine.connect() as conn:
        loaded = store.load(conn, TENANT)
    assert loaded.version == state.version == 1
    assert loaded.agents == state.agents
    assert loaded.conversations == state.conversations
    assert loaded.competences == {competence("c1"): "c1"}
    assert loaded.deleted_competences == {competence("c2")}
    assert (loaded.routing_enabled, loaded.default_capacity) == (True, 3)

    feed(state, presence(BOB, "online", 10))  # Bob takes the waiting two
    with engine.begin() as conn:
        store.save(conn, state)
    with engine.connect() as conn:
        again = store.load(conn, TENANT)
    assert again.agents[BOB].load == 2 and again.conversations == state.conversations

    # The copy loaded before Bob's change is stale now: its save must fail, not overwrite.
    feed(loaded, presence(BOB, "away", 11))
    with pytest.raises(store.StaleState), engine.begin() as conn:
        store.save(conn, loaded)


def replay(script: list[Envelope | datetime], state: TenantRouting | None = None) -> list[Envelope]:
    state = state or TenantRouting(tenant_id=TENANT)
    out: list[Envelope] = []
    for item in script:
        if isinstance(item, datetime):
            out += state.sweep(item, TIMEOUT)
        else:
            out += state.apply(item, item.parsed())
    return out


def test_a_state_saved_and_loaded_midway_decides_as_if_never_stopped(engine):
    """Statuses, take clocks, dispatch marks and own capacities survive; the indexes are
    rebuilt on load, so the rest of the morning gives byte-identical decisions."""
    whole = replay(MORNING)
    cut = 12  # after the first sweep: in progress, assigned, bot-handed-over conversations
    state = TenantRouting(tenant_id=TENANT)
    first = replay(MORNING[:cut], state)
    with engine.begin() as conn:
        store.save(conn, state)
    with engine.connect() as conn:
        loaded = store.load(conn, TENANT)
    assert loaded.conversations == state.conversations
    assert loaded.agents == state.agents
    assert {t.status for t in loaded.conversations.values()} == {"in_progress", "assigned"}
    rest = replay(MORNING[cut:], loaded)
    assert [e.to_bytes() for e in first + rest] == [e.to_bytes() for e in whole]


async def test_the_take_deadline_is_swept_after_a_restart_on_the_owner_only(engine):
    state = new_state(
        tenant_created(),
        user_created(ANN),
        user_created(BOB),
        presence(ANN, "online", 0),
        presence(BOB, "online", 1),
    )
    feed(state, opened(1, 2))  # to Ann, who never takes it
    with engine.begin() as conn:
        store.save(conn, state)

    commits: list[str] = []

    def published() -> list[Envelope]:
        """What the sweeps put in the outbox (and have not been published yet), in order."""
        o = store.outbox.c
        with engine.connect() as conn:
            rows = conn.execute(select(o.envelope).where(o.sent_at.is_(None)).order_by(o.seq))
            return [Envelope.model_validate_json(row.envelope) for row in rows]

    router = Router(after_commit=lambda: commits.append("wake"))  # a fresh process
    timeout = timedelta(minutes=2)
    args = (engine, at(3.5), timeout)
    assert await asyncio.to_thread(router.sweep, *args) == 0  # not due yet
    assert await asyncio.to_thread(router.sweep, engine, at(4), timeout, lambda _t: False) == 0
    assert published() == [] and commits == []
    assert await asyncio.to_thread(router.sweep, engine, at(4), timeout) == 1
    assert commits == ["wake"]  # after the commit, the relay is woken
    (decision,) = [e.parsed() for e in published()]
    assert (decision.assignee_id, decision.replaces_assignee_id, decision.reroute_reason) == (
        BOB,
        ANN,
        "not_taken",
    )
    with engine.connect() as conn:
        saved = store.load(conn, TENANT)
        # Bob's clock runs from minute 4.
        assert store.tenants_with_assignments_up_to(conn, at(3.9)) == []
        assert store.tenants_with_assignments_up_to(conn, at(4)) == [TENANT]
    assert saved.conversations[conv(1)].assignee_id == BOB
    assert (saved.agents[ANN].load, saved.agents[BOB].load) == (0, 1)
    # Someone else saved this tenant meanwhile: the cached copy is stale, so the sweep
    # decides on the saved state instead (Ann has room again: she gets it back).
    saved.agents[BOB].presence = "away"
    saved.dirty_agents.add(BOB)
    with engine.begin() as conn:
        store.save(conn, saved)
    with engine.begin() as conn:  # as the relay does once the broker has them
        conn.execute(update(store.outbox).values(sent_at=at(5)))
    assert await asyncio.to_thread(router.sweep, engine, at(30), timeout) == 1
    (again,) = [e.parsed() for e in published()]
    assert (again.assignee_id, again.replaces_assignee_id) == (ANN, BOB)
    assert [(c.user_id, c.excluded_by) for c in again.candidates] == [
        (ANN, []),
        (BOB, ["presence", "not_taken"]),
    ]
    with engine.connect() as conn:
        assert store.load(conn, TENANT).conversations[conv(1)].assignee_id == ANN


def test_published_decisions_are_pruned_after_a_while_and_unsent_ones_never(engine):
    """``prune_sent`` deletes what the relay marked sent before the moment, nothing else;
    the decisions keep their order (``seq``) in the outbox."""
    state = new_state(
        tenant_created(default_capacity=3), user_created(ANN), presence(ANN, "online", 0)
    )
    decided = [feed(state, opened(n, n)) for n in (1, 2, 3)]
    assert all(len(d) == 1 for d in decided)
    with engine.begin() as conn:
        store.save(conn, state)
        for decision in decided:
            store.enqueue_decisions(conn, decision)
        first, second, _third = conn.scalars(select(store.outbox.c.seq).order_by("seq"))
        for seq, sent in ((first, at(10)), (second, at(70))):
            conn.execute(update(store.outbox).where(store.outbox.c.seq == seq).values(sent_at=sent))
    assert store.prune_sent(engine, at(60)) == 1  # sent at minute 10
    assert store.prune_sent(engine, at(60)) == 0
    with engine.connect() as conn:
        left = conn.execute(
            select(store.outbox.c.event_id, store.outbox.c.sent_at).order_by(store.outbox.c.seq)
        ).all()
    assert [(event_id, sent is None) for event_id, sent in left] == [
        (str(decided[1][0].event_id), False),  # sent at minute 70: kept a while yet
        (str(decided[2][0].event_id), True),  # never sent: kept until it is
    ]


def test_outbox_rows_become_visible_in_seq_order(engine):
    """The relay reads forward by ``seq``: a row must never be visible while one with a
    lower ``seq`` may still commit. A second writer waits for the first one's commit (the
    advisory lock on PostgreSQL, the write lock on SQLite), so readers see both or none."""
    state = new_state(tenant_created(), user_created(ANN), presence(ANN, "online", 0))
    first, second = feed(state, opened(1, 1)), feed(state, opened(2, 2))
    o = store.outbox.c
    visible: list[list[str]] = []

    def look() -> None:
        with engine.connect() as conn:
            visible.append(list(conn.scalars(select(o.event_id).order_by(o.seq))))

    with engine.connect() as one:
        one.begin()
        store.enqueue_decisions(one, first)
        other = threading.Thread(target=lambda: _enqueue_and_commit(engine, second))
        other.start()
        other.join(0.5)  # what a writer without the lock would have committed by now
        look()
        one.commit()
    other.join(30)
    look()
    assert visible == [[], [str(first[0].event_id), str(second[0].event_id)]]


def _enqueue_and_commit(engine, decisions: list[Envelope]) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        store.enqueue_decisions(conn, decisions)
