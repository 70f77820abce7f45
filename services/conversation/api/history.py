"""History (SPEC §3.1.11) and the visitor's profile (SPEC §3.1.8).

History searches the indexed views (conversations, conversation_labels, visitors,
end_users), never the event log: every filter is an indexed equality or a bounded
``LIKE`` inside one tenant.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime
from sqlalchemy import Connection, and_, exists, func, or_, select

from services.conversation.api.competences import conversations_out
from services.conversation.api.conversations import _run
from services.conversation.api.deps import Caller, allowed, service
from services.conversation.api.schemas import ConversationOut, Page, VisitorOut, VisitorProfile
from services.conversation.bootstrap import ConversationService
from services.conversation.store import tables as t
from shared.events import ConversationStatus
from shared.http import ApiError

router = APIRouter(prefix="/v1", tags=["history"])
SORTS = {
    "opened_at": t.conversations.c.opened_at,
    "closed_at": t.conversations.c.closed_at,
    "language": t.conversations.c.language,
    "channel": t.conversations.c.channel_type,
}


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@router.get(
    "/history", response_model=Page[ConversationOut], summary="Search handled conversations"
)
async def history(
    channel_id: uuid.UUID | None = None,
    language: str | None = Query(None, min_length=2, max_length=16),
    topic: str | None = Query(None, min_length=1, max_length=100),
    competence: str | None = Query(
        None, min_length=1, max_length=100, description="A competence's id (or its name)"
    ),
    end_user: str | None = Query(None, min_length=1, max_length=100, description="Part of a name"),
    visitor: str | None = Query(None, min_length=1, max_length=100, description="Part of a name"),
    opened_from: AwareDatetime | None = Query(None, alias="from"),
    opened_to: AwareDatetime | None = Query(None, alias="to"),
    sort: str = Query("-opened_at", pattern=r"^-?(opened_at|closed_at|language|channel)$"),
    offset: int = Query(0, ge=0, le=1_000_000),
    limit: int = Query(50, ge=1, le=200),
    who: Caller = Depends(allowed("history")),
    svc: ConversationService = Depends(service),
) -> Page[ConversationOut]:
    """Closed and archived conversations; ``from``/``to`` bound when they were opened
    (``from`` inclusive, ``to`` exclusive). Names match case-insensitively on any part."""
    if opened_from and opened_to and opened_from >= opened_to:
        raise ApiError(422, "bad_period", "'from' must be before 'to'.")
    c, v, eu = t.conversations, t.visitors, t.end_users
    tenant = str(who.tenant_id)
    where = [
        c.c.tenant_id == tenant,
        c.c.status.in_((ConversationStatus.CLOSED, ConversationStatus.ARCHIVED)),
    ]
    if channel_id:
        where.append(c.c.channel_id == str(channel_id))
    if language:
        where.append(c.c.language == language)
    if topic:
        where.append(_labelled(tenant, "topic", [topic]))
    if competence:
        with svc.engine.connect() as conn:
            where.append(
                _labelled(tenant, "competence", _competence_keys(conn, tenant, competence))
            )
    if end_user:
        pattern = _like(end_user)
        where.append(
            c.c.assignee_id.in_(
                select(eu.c.user_id).where(
                    eu.c.tenant_id == tenant,
                    or_(
                        func.lower(eu.c.first_name + " " + eu.c.last_name).like(
                            pattern, escape="\\"
                        ),
                        func.lower(eu.c.last_name).like(pattern, escape="\\"),
                    ),
                )
            )
        )
    if visitor:
        pattern = _like(visitor)
        where.append(
            c.c.visitor_id.in_(
                select(v.c.visitor_id).where(
                    v.c.tenant_id == tenant,
                    or_(
                        func.lower(func.coalesce(v.c.name, "")).like(pattern, escape="\\"),
                        func.lower(
                            func.coalesce(v.c.first_name, "")
                            + " "
                            + func.coalesce(v.c.last_name, "")
                        ).like(pattern, escape="\\"),
                    ),
                )
            )
        )
    if opened_from:
        where.append(c.c.opened_at >= opened_from)
    if opened_to:
        where.append(c.c.opened_at < opened_to)
    column = SORTS[sort.lstrip("-")]
    order = [column.desc() if sort.startswith("-") else column.asc(), c.c.conversation_id]
    scope = and_(*where)
    with svc.engine.connect() as conn:
        total = conn.scalar(select(func.count()).select_from(c).where(scope)) or 0
        rows = conn.execute(
            select(c).where(scope).order_by(*order).offset(offset).limit(limit)
        ).all()
        items = conversations_out(conn, who.tenant_id, rows)
    return Page[ConversationOut](items=items, total=total, offset=offset, limit=limit)


def _labelled(tenant: str, kind: str, keys: list[str]):  # type: ignore[no-untyped-def]
    cl = t.conversation_labels
    return exists().where(
        cl.c.conversation_id == t.conversations.c.conversation_id,
        cl.c.tenant_id == tenant,
        cl.c.kind == kind,
        cl.c.name.in_(keys),
    )


def _competence_keys(conn: Connection, tenant: str, competence: str) -> list[str]:
    """What a conversation's competence rows may hold for this filter: the competence's id
    and, for conversations recorded before competences were ids, its name. The filter is an
    id or a name (names are unique within a tenant, so a name means one competence)."""
    lb = t.labels
    try:
        competence = str(uuid.UUID(competence))
        match = lb.c.label_id == competence
    except ValueError:
        match = lb.c.name == competence
    row = conn.execute(
        select(lb.c.label_id, lb.c.name).where(
            lb.c.tenant_id == tenant, lb.c.kind == "competence", match
        )
    ).first()
    return [competence] if row is None else [row.label_id, row.name]


def _visitor(svc: ConversationService, tenant_id: uuid.UUID, visitor_id: uuid.UUID) -> VisitorOut:
    v, c = t.visitors, t.conversations
    with svc.engine.connect() as conn:
        row = conn.execute(
            select(v).where(v.c.visitor_id == str(visitor_id), v.c.tenant_id == str(tenant_id))
        ).first()
        if row is None:
            raise ApiError(404, "not_found", "No such visitor.")
        earlier = conn.execute(
            select(c)
            .where(c.c.visitor_id == str(visitor_id), c.c.tenant_id == str(tenant_id))
            .order_by(c.c.opened_at.desc())
            .limit(100)
        ).all()
        earlier_out = conversations_out(conn, tenant_id, earlier)
    return VisitorOut(
        **{k: getattr(row, k) for k in VisitorOut.model_fields if k != "earlier_conversations"},
        earlier_conversations=earlier_out,
    )


@router.get("/visitors/{visitor_id}", response_model=VisitorOut, tags=["conversations"])
async def visitor_profile(
    visitor_id: uuid.UUID,
    who: Caller = Depends(allowed("conversations")),
    svc: ConversationService = Depends(service),
) -> VisitorOut:
    """The visitor's channel identity, profile and conversations on this channel (newest first)."""
    return _visitor(svc, who.tenant_id, visitor_id)


@router.patch("/visitors/{visitor_id}", response_model=VisitorOut, tags=["conversations"])
async def edit_visitor(
    visitor_id: uuid.UUID,
    body: VisitorProfile,
    who: Caller = Depends(allowed("conversations")),
    svc: ConversationService = Depends(service),
) -> VisitorOut:
    _visitor(svc, who.tenant_id, visitor_id)
    changes = {
        k: (v.isoformat() if hasattr(v, "isoformat") else v)
        for k, v in body.model_dump(exclude_unset=True).items()
    }
    if not changes:
        raise ApiError(422, "nothing_to_change", "Send at least one profile field.")
    await _run(
        svc, svc.conversations.update_visitor, who.tenant_id, visitor_id, changes, who.user_id
    )
    return _visitor(svc, who.tenant_id, visitor_id)
