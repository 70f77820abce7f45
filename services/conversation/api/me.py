"""The caller's own presence (online, away, offline), which routing acts on."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Response

from services.conversation.api.deps import Caller, allowed, service
from services.conversation.api.schemas import PresenceUpdate
from services.conversation.bootstrap import ConversationService
from services.conversation.domain.directory import DirectoryError
from shared.http import ApiError

router = APIRouter(prefix="/v1/me", tags=["conversations"])


@router.put("/presence", status_code=204)
async def set_presence(
    body: PresenceUpdate,
    who: Caller = Depends(allowed("conversations")),
    svc: ConversationService = Depends(service),
) -> Response:
    try:
        await asyncio.to_thread(
            svc.directory.set_presence, who.tenant_id, who.user_id, body.presence
        )
    except DirectoryError as exc:
        raise ApiError(409, "inactive_user", str(exc)) from None
    await svc.after_change()
    return Response(status_code=204)
