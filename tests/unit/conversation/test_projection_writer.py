"""The projector's Writer groups writes into few statements; every row must still end as if
each write had run alone, in the events' order (services/conversation/store/projection.py)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from sqlalchemy import create_engine, select

from services.conversation.store import projection
from services.conversation.store import tables as t

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _ops(rng: random.Random) -> list[tuple]:
    """A shuffled story of inserts, keyed updates, counted messages and label rewrites."""
    ops: list[tuple] = []
    opened: list[str] = []
    for n in range(300):
        roll = rng.random()
        if roll < 0.25 or not opened:
            cid = f"c{n:04d}"
            opened.append(cid)
            # Some rows are inserted without the columns a message changes: its count
            # cannot be folded into those INSERTs, and must not be lost.
            ops.append(("open" if rng.random() < 0.7 else "open-short", cid))
        elif roll < 0.5:
            ops.append(("message", rng.choice(opened), f"m{n}", f"text {n}"))
        elif roll < 0.7:
            ops.append(("assign", rng.choice(opened), f"agent-{n}"))
        elif roll < 0.85:
            ops.append(("labels", rng.choice(opened), [f"l{n}", f"l{n + 1}"]))
        else:
            ops.append(("close", rng.choice(opened), n))
    return ops


def _apply(w: projection.Writer, op: tuple) -> None:
    kind, cid = op[0], op[1]
    if kind.startswith("open"):
        latest = {"last_message_at": None, "preview": None} if kind == "open" else {}
        w.insert(
            t.conversations,
            **latest,
            conversation_id=cid,
            tenant_id="t",
            channel_id="ch",
            channel_type="webchat",
            visitor_id="v",
            language="nl",
            assignee_id=None,
            opened_at=AT,
            message_count=0,
            status="waiting",
            handover=None,
            required_competences=[],
            topics=[],
            dispatched=False,
        )
    elif kind == "message":
        w.insert(
            t.messages,
            message_id=op[2],
            conversation_id=cid,
            tenant_id="t",
            kind="text",
            text=op[3],
            at=AT,
            direction="in",
            author="visitor",
            author_id=None,
            delivery_status=None,
        )
        projection.count_message(w, cid, AT, op[3])
    elif kind == "assign":
        w.update(t.conversations, "conversation_id", cid, assignee_id=op[2], status="assigned")
    elif kind == "labels":
        w.run(projection._DROP_LABELS, {"k": cid, "v_kind": "topic"})
        for name in op[2]:
            w.insert(
                t.conversation_labels, conversation_id=cid, tenant_id="t", kind="topic", name=name
            )
    else:
        w.update(t.conversations, "conversation_id", cid, status=f"closed-{op[2]}")


def _state(url: str, ops: list[tuple], grouped: bool) -> tuple:
    engine = create_engine(url)
    t.metadata.create_all(engine, tables=[t.conversations, t.messages, t.conversation_labels])
    with engine.begin() as conn:
        writer = projection.Writer(conn)
        for op in ops:
            _apply(writer, op)
            if not grouped:
                writer.flush()  # each write alone, as the events came
        writer.flush()
        state = tuple(
            sorted(tuple(map(str, row)) for row in conn.execute(select(table)))
            for table in (t.conversations, t.messages, t.conversation_labels)
        )
    engine.dispose()
    return state


def test_grouped_writes_leave_every_row_as_writes_one_by_one_would(tmp_path):
    rng = random.Random(11)
    for attempt in range(5):
        ops = _ops(rng)
        one_by_one = _state(f"sqlite:///{tmp_path / f'a{attempt}.sqlite'}", ops, grouped=False)
        grouped = _state(f"sqlite:///{tmp_path / f'b{attempt}.sqlite'}", ops, grouped=True)
        assert grouped == one_by_one
        assert any(row[9] != "0" for row in grouped[0])  # messages were counted


def test_a_batch_of_new_conversations_takes_a_few_statements(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'c.sqlite'}")
    t.metadata.create_all(engine, tables=[t.conversations, t.messages, t.conversation_labels])
    statements: list[str] = []
    with engine.begin() as conn:
        writer = projection.Writer(conn)
        for n in range(100):
            cid = f"c{n}"
            _apply(writer, ("open", cid))
            _apply(writer, ("message", cid, f"m{n}", "hello"))
            _apply(writer, ("assign", cid, "agent"))
        original = conn.execute

        def counting(statement, *args, **kwargs):  # type: ignore[no-untyped-def]
            statements.append(str(statement))
            return original(statement, *args, **kwargs)

        conn.execute = counting  # type: ignore[method-assign]
        writer.flush()
        conn.execute = original  # type: ignore[method-assign]
        counts = conn.execute(select(t.conversations.c.message_count)).scalars().all()
    engine.dispose()
    # conversations (their first message counted in the INSERT), messages, the assignments
    assert len(statements) == 3
    assert counts == [1] * 100
