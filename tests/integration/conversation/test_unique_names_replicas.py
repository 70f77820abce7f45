"""Unique emails and label names hold across replicas: the event store refuses the second.

Two directory applications on one event store stand for two replicas of the conversation
service (no in-process lock is shared between them). Threads on both create the same email,
or rename two labels to the same name, at the same moment: exactly one wins, the others get
``NameTaken`` (the API's 409). A deleted holder frees its name.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator

import pytest

from services.conversation.application.directory import Directory
from services.conversation.application.eventstore import event_store_env
from services.conversation.domain.directory import NameTaken

THREADS = 6


@pytest.fixture(params=["sqlite", "postgresql"])
def replicas(request, tmp_path) -> Iterator[tuple[Directory, Directory]]:  # type: ignore[no-untyped-def]
    url = ""
    if request.param == "postgresql":
        postgres = request.getfixturevalue("postgres")
        name = f"unique_{uuid.uuid4().hex[:8]}"
        postgres.create_database(name)
        url = postgres.url(name)
    pair = tuple(Directory(env=event_store_env(url, tmp_path, "directory")) for _ in range(2))
    try:
        yield pair  # type: ignore[misc]
    finally:
        for directory in pair:
            directory.close()


def _at_once(calls: list[Callable[[], object]]) -> tuple[list[object], int]:
    """Run the calls in threads released together; returns the results and the refusals."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = []
    refused: list[NameTaken] = []
    errors: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            results.append(call())
        except NameTaken as exc:
            refused.append(exc)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results, len(refused)


def test_one_email_one_end_user_across_replicas(replicas) -> None:  # type: ignore[no-untyped-def]
    a, b = replicas
    tenant_id = a.create_tenant("Unique", "pro")

    def create(directory: Directory) -> Callable[[], uuid.UUID]:
        return lambda: directory.create_end_user(
            tenant_id, "Ann", "Lee", " Ann@Example.com", "agent", "en"
        )

    created, refused = _at_once([create(a if n % 2 else b) for n in range(THREADS)])
    assert len(created) == 1 and refused == THREADS - 1

    # another tenant may use the same address
    other = b.create_tenant("Other", "pro")
    b.create_end_user(other, "Ann", "Lee", "ann@example.com", "agent", "en")
    # changing to a taken address is refused on the other replica too
    bob = b.create_end_user(tenant_id, "Bob", "Ray", "bob@example.com", "agent", "en")
    with pytest.raises(NameTaken):
        a.update_end_user(tenant_id, bob, email="ANN@example.com")
    # the holder leaves: the address is free at once, for one of the racers again
    a.delete_end_user(tenant_id, created[0])  # type: ignore[arg-type]
    again, refused = _at_once(
        [
            lambda: a.update_end_user(tenant_id, bob, email="ann@example.com"),
            create(b),
        ]
    )
    assert len(again) == 1 and refused == 1


def test_one_name_per_label_kind_across_replicas(replicas) -> None:  # type: ignore[no-untyped-def]
    a, b = replicas
    tenant_id = a.create_tenant("Labels", "pro")
    labels = [
        (a if n % 2 else b).create_label("competence", tenant_id, f"skill {n}", "")
        for n in range(THREADS)
    ]

    def rename(directory: Directory, label: uuid.UUID) -> Callable[[], uuid.UUID]:
        def call() -> uuid.UUID:
            directory.update_label("competence", tenant_id, label, "French", "")
            return label

        return call

    renamed, refused = _at_once(
        [rename(a if n % 2 else b, label) for n, label in enumerate(labels)]
    )
    assert len(renamed) == 1 and refused == THREADS - 1
    # a topic may have a competence's name; a freed name can be taken again
    a.create_label("topic", tenant_id, "French", "")
    with pytest.raises(NameTaken):
        b.create_label("competence", tenant_id, "French", "")
    b.delete_label("competence", tenant_id, renamed[0])  # type: ignore[arg-type]
    a.create_label("competence", tenant_id, "French", "")
