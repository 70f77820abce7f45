"""The event store's orjson transcoder writes exactly what the library's JSON transcoder
wrote, so events stored before and after read back the same (issue 11)."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)

from services.conversation.application.eventstore import OrjsonTranscoder


class Status(enum.StrEnum):
    WAITING = "waiting"


class Level(enum.IntEnum):
    HIGH = 3


def transcoders() -> tuple[JSONTranscoder, OrjsonTranscoder]:
    library, ours = JSONTranscoder(), OrjsonTranscoder()
    for transcoder in (library, ours):
        for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
            transcoder.register(transcoding)
    return library, ours


STATE = {
    "originator_id": uuid.UUID("0b5f3f0e-8f0e-4c55-8a35-1d6f0b7b6c11"),
    "timestamp": datetime(2026, 12, 1, 9, 30, 1, 123456, tzinfo=UTC),
    "naive": datetime(2020, 1, 1),
    "count": 3,
    "share": 1.5,
    "flag": True,
    "nothing": None,
    "text": 'Grüße \u2028 "quoted" \\ \n\t',
    "content": {"kind": "text", "text": "hallo", "attachments": [{"id": uuid.uuid4()}]},
    "ids": [uuid.uuid4(), uuid.uuid4()],
    "pair": (1, "a"),
    "amount": Decimal("12.50"),
    "by_number": {3: "three"},
    "status": Status.WAITING,
    "level": Level.HIGH,
    "deep": [[{"at": datetime(2026, 1, 2, tzinfo=UTC)}]],
}


def test_same_bytes_as_the_library_and_the_same_state_back() -> None:
    library, ours = transcoders()
    written = ours.encode(STATE)
    assert written == library.encode(STATE)
    back = library.decode(written)
    assert back["originator_id"] == STATE["originator_id"]
    assert back["timestamp"] == STATE["timestamp"]
    assert back["content"]["attachments"][0]["id"] == STATE["content"]["attachments"][0]["id"]
    assert back["amount"] == Decimal("12.50")


def test_what_orjson_refuses_is_written_by_the_library() -> None:
    library, ours = transcoders()
    huge = {"n": 2**80}
    assert ours.encode(huge) == library.encode(huge)


def test_an_unregistered_type_is_refused_as_before() -> None:
    _library, ours = transcoders()
    with pytest.raises(TranscodingNotRegisteredError):
        ours.encode({"tags": {"a", "b"}})
