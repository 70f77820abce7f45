"""The FAQ (SPEC §3.1.12): readable and searchable by every role; the operator keeps it."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from services.conversation.api.deps import Caller, allowed, service
from services.conversation.api.schemas import FaqOut, Page
from services.conversation.bootstrap import ConversationService
from services.conversation.store import tables as t
from services.conversation.store.queries import page

router = APIRouter(prefix="/v1/faq", tags=["FAQ"])


@router.get("", response_model=Page[FaqOut])
async def read_faq(
    q: str | None = Query(None, max_length=100, description="Search questions and answers"),
    offset: int = Query(0, ge=0, le=1_000_000),
    limit: int = Query(50, ge=1, le=200),
    _who: Caller = Depends(allowed("faq")),
    svc: ConversationService = Depends(service),
) -> Page[FaqOut]:
    with svc.engine.connect() as conn:
        rows, total = page(
            conn,
            t.faq,
            [],
            search=q,
            search_columns=("question", "answer"),
            sort="question",
            sortable=("question",),
            key="entry_id",
            offset=offset,
            limit=limit,
        )
    return Page[FaqOut](
        items=[FaqOut(id=r.entry_id, question=r.question, answer=r.answer) for r in rows],
        total=total,
        offset=offset,
        limit=limit,
    )
