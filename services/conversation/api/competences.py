"""Competences as conversations carry them: ids everywhere, names resolved when read.

A conversation's required competences are competence ids, the identity end users and
routing use too. The name is looked up when the conversation is shown, so a rename shows
at once and changes nothing else, and a deleted competence drops out of the list.
Conversations recorded before competences were ids hold names; those are resolved by
name here (names are unique within a tenant), the same way routing maps them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, or_, select

from services.conversation.api.schemas import CompetenceRef, ConversationOut
from services.conversation.store import tables as t
from shared.http import ApiError


def resolve(
    conn: Connection, tenant_id: uuid.UUID, values: Iterable[str]
) -> dict[str, CompetenceRef]:
    """Each stored value (an id, or a name in older conversations) -> the competence now."""
    wanted = {str(v) for v in values}
    if not wanted:
        return {}
    lb = t.labels
    rows = conn.execute(
        select(lb.c.label_id, lb.c.name).where(
            lb.c.tenant_id == str(tenant_id),
            lb.c.kind == "competence",
            or_(lb.c.label_id.in_(wanted), lb.c.name.in_(wanted)),
        )
    )
    found: dict[str, CompetenceRef] = {}
    for row in rows:
        ref = CompetenceRef(id=uuid.UUID(row.label_id), name=row.name)
        for key in (row.label_id, row.name):
            if key in wanted:
                found[key] = ref
    return found


def conversations_out(
    conn: Connection, tenant_id: uuid.UUID, rows: Sequence[Any]
) -> list[ConversationOut]:
    """Rows of the conversations view as the Portal shows them (one lookup per page)."""
    known = resolve(conn, tenant_id, (v for r in rows for v in r.required_competences or []))
    return [_out(row, known) for row in rows]


def _out(row: Any, known: dict[str, CompetenceRef]) -> ConversationOut:
    data = dict(row._mapping)
    shown = {}
    for value in data.pop("required_competences") or []:
        if (ref := known.get(value)) is not None:
            shown[ref.id] = ref
    return ConversationOut.model_validate(
        {**data, "required_competences": list(shown), "competences": list(shown.values())}
    )


def check_known(conn: Connection, tenant_id: uuid.UUID, ids: Iterable[uuid.UUID]) -> list[str]:
    """The ids as stored, or 422 ``unknown_competence`` naming those that are not this
    tenant's competences (another tenant's id is refused exactly like a made-up one)."""
    wanted = sorted({str(i) for i in ids})
    if not wanted:
        return []
    lb = t.labels
    known = set(
        conn.scalars(
            select(lb.c.label_id).where(
                lb.c.tenant_id == str(tenant_id),
                lb.c.kind == "competence",
                lb.c.label_id.in_(wanted),
            )
        )
    )
    unknown = [i for i in wanted if i not in known]
    if unknown:
        raise ApiError(
            422,
            "unknown_competence",
            "No such competence: give ids from GET /v1/competences.",
            {"unknown": unknown},
        )
    return wanted
