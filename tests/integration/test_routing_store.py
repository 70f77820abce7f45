"""Routing's state survives a save and a load exactly, and a stale writer is refused."""

from __future__ import annotations

import pytest

from services.routing import store
from shared.readmodel import make_engine
from tests.unit.test_routing_state import (
    ANN,
    BOB,
    TENANT,
    feed,
    new_state,
    opened,
    presence,
    tenant_created,
    user_created,
)


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'routing.sqlite'}"
    else:
        pg = request.getfixturevalue("postgres")
        name = f"routing_{tmp_path.name[-8:].lower().replace('-', '_')}"
        pg.create_database(name)
        url = pg.url(name)
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
    with engine.begin() as conn:
        store.save(conn, state)
    with engine.connect() as conn:
        loaded = store.load(conn, TENANT)
    assert loaded.version == state.version == 1
    assert loaded.agents == state.agents
    assert loaded.conversations == state.conversations
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
