"""What the relay and the projector read (``events_after``): the events this replica saved
come from memory, and a page with anything it did not save (another replica's write, an
erasure's forgetting) comes from the store - either way exactly the stored log, in order."""

from __future__ import annotations

import pytest

from services.conversation.application.directory import Directory
from services.conversation.application.eventstore import event_store_env
from tests.support.databases import BOTH, database_for


@pytest.fixture(params=BOTH)
def replicas(request, tmp_path):  # type: ignore[no-untyped-def]
    env = event_store_env(database_for(request, "after"), tmp_path, "directory")
    apps = [Directory(env=env), Directory(env=env)]
    yield apps
    for app in apps:
        app.close()


def stored(app: Directory, position: int) -> list[tuple[int, type, object, int]]:
    notes = app.recorder.select_notifications(start=position + 1, limit=1000)
    return [(n.id, *_shape(app.mapper.to_domain_event(n))) for n in notes]


def _shape(event: object) -> tuple[type, object, int]:
    return type(event), event.originator_id, event.originator_version  # type: ignore[attr-defined]


def read(app: Directory, position: int, limit: int = 1000) -> list[tuple[int, type, object, int]]:
    return [(i, *_shape(e)) for i, e in app.events_after(position, limit)]


def test_own_events_another_replica_s_and_forgotten_ones_read_as_stored(replicas) -> None:  # type: ignore[no-untyped-def]
    mine, theirs = replicas
    for n in range(3):
        mine.create_tenant(f"mine {n}", "pro")
    assert read(mine, 0) == stored(mine, 0)  # all kept here
    assert len(read(mine, 0)) >= 3

    head = mine.recorder.max_notification_id()
    theirs.create_tenant("theirs", "pro")  # not in ``mine``'s memory
    mine.create_tenant("mine again", "pro")
    assert read(mine, 0) == stored(mine, 0)
    assert {t for _, t, _, _ in read(mine, head)} == {t for _, t, _, _ in stored(mine, head)}
    assert read(mine, head) == stored(mine, head)

    first = read(mine, 0)[0][2]
    mine.forget_recent({first})  # an erasure: that aggregate's events are read again
    assert read(mine, 0) == stored(mine, 0)

    assert read(mine, 0, limit=2) == stored(mine, 0)[:2]  # a page ends at its limit
    assert read(mine, mine.recorder.max_notification_id()) == []  # nothing after the head
