"""History (SPEC §3.1.11) and the visitor's profile (SPEC §3.1.8).

The searches are ``Queries.history`` and ``Queries.visitor``; this module parses and maps.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime

from services.conversation.api.conversations import conversations_page
from services.conversation.api.deps import Caller, allowed, command, run, service
from services.conversation.api.schemas import ConversationOut, Page, VisitorOut, VisitorProfile
from services.conversation.application.queries import HistoryFilter
from services.conversation.bootstrap import ConversationService
from shared.http import ApiError

router = APIRouter(prefix="/v1", tags=["history"])


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
    wanted = HistoryFilter(
        channel_id=channel_id,
        language=language,
        topic=topic,
        competence=competence,
        end_user=end_user,
        visitor=visitor,
        opened_from=opened_from,
        opened_to=opened_to,
        sort=sort,
    )
    found = await run(svc.queries.history, who.tenant_id, wanted, offset, limit)
    return conversations_page(found, offset, limit)


def _visitor(svc: ConversationService, tenant_id: uuid.UUID, visitor_id: uuid.UUID) -> VisitorOut:
    row, earlier = svc.queries.visitor(tenant_id, visitor_id)
    return VisitorOut(
        **{k: getattr(row, k) for k in VisitorOut.model_fields if k != "earlier_conversations"},
        earlier_conversations=[ConversationOut.model_validate(c) for c in earlier],
    )


@router.get("/visitors/{visitor_id}", response_model=VisitorOut, tags=["conversations"])
async def visitor_profile(
    visitor_id: uuid.UUID,
    who: Caller = Depends(allowed("conversations")),
    svc: ConversationService = Depends(service),
) -> VisitorOut:
    """The visitor's channel identity, profile and conversations on this channel (newest first)."""
    return await run(_visitor, svc, who.tenant_id, visitor_id)


@router.patch("/visitors/{visitor_id}", response_model=VisitorOut, tags=["conversations"])
async def edit_visitor(
    visitor_id: uuid.UUID,
    body: VisitorProfile,
    who: Caller = Depends(allowed("conversations")),
    svc: ConversationService = Depends(service),
) -> VisitorOut:
    await run(_visitor, svc, who.tenant_id, visitor_id)
    changes = {
        k: (v.isoformat() if hasattr(v, "isoformat") else v)
        for k, v in body.model_dump(exclude_unset=True).items()
    }
    if not changes:
        raise ApiError(422, "nothing_to_change", "Send at least one profile field.")
    await command(
        svc, svc.conversations.update_visitor, who.tenant_id, visitor_id, changes, who.user_id
    )
    return await run(_visitor, svc, who.tenant_id, visitor_id)
