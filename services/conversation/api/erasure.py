"""Erasing a visitor (GDPR art. 17): an Administrator's request, answered with what is done.

Idempotent: erasing again finishes what an interrupted erasure left (the transit topics'
cut, keys a crash left alive) and changes nothing else. Another tenant's visitor is 404.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.conversation.api.deps import Caller, allowed, service
from services.conversation.bootstrap import ConversationService

router = APIRouter(prefix="/v1", tags=["conversations"])


class ErasureOut(BaseModel):
    visitor_id: uuid.UUID
    #: Conversations whose texts now read "[erased]" (they stay for the statistics).
    conversation_ids: list[uuid.UUID]
    #: Data keys destroyed by this request (0 when a previous one had destroyed them).
    keys_destroyed: int
    #: False: the transit topics still hold records a consumer has not read; erase again.
    complete: bool


@router.post(
    "/visitors/{visitor_id}/erasure",
    response_model=ErasureOut,
    summary="Erase a visitor's personal data and messages everywhere",
    responses={202: {"model": ErasureOut, "description": "Erased; transit topics still to cut"}},
)
async def erase_visitor(
    visitor_id: uuid.UUID,
    who: Caller = Depends(allowed("administration")),
    svc: ConversationService = Depends(service),
) -> JSONResponse:
    """Name, contact fields, profile, message texts and notes become unreadable in every
    store, topic and backup (docs/data-lifecycle.md); the conversations stay for the
    counts. Audited by ``Visitor.Erased`` (who and when, nothing personal)."""
    outcome = await svc.erasure.erase(who.tenant_id, visitor_id, who.user_id)
    body = ErasureOut(
        visitor_id=outcome.visitor_id,
        conversation_ids=[s for s in outcome.subjects if s != outcome.visitor_id],
        keys_destroyed=outcome.keys_destroyed,
        complete=outcome.transit_truncated,
    )
    return JSONResponse(body.model_dump(mode="json"), 200 if body.complete else 202)
