"""The FAQ (SPEC §3.1.12): readable and searchable by every role; the operator keeps it."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from services.conversation.api.deps import Caller, allowed, run, service
from services.conversation.api.schemas import FaqOut, Page
from services.conversation.bootstrap import ConversationService

router = APIRouter(prefix="/v1/faq", tags=["FAQ"])


@router.get("", response_model=Page[FaqOut])
async def read_faq(
    q: str | None = Query(None, max_length=100, description="Search questions and answers"),
    offset: int = Query(0, ge=0, le=1_000_000),
    limit: int = Query(50, ge=1, le=200),
    _who: Caller = Depends(allowed("faq")),
    svc: ConversationService = Depends(service),
) -> Page[FaqOut]:
    found = await run(svc.queries.faq, q, offset, limit)
    return Page[FaqOut](
        items=[FaqOut(id=r.entry_id, question=r.question, answer=r.answer) for r in found.items],
        total=found.total,
        offset=offset,
        limit=limit,
    )
