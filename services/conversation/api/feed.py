"""The event feed: the notification logs as pages of integration events, from any position.

It is the same contract as Kafka (envelopes with stable ``event_id``s), so a read model
rebuilds from position 0 through it even when the broker has lost its data.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Depends, Query

from services.conversation.api.deps import operator_feed, service
from services.conversation.api.schemas import FeedItem, FeedPage
from services.conversation.application.contracts import to_envelopes
from services.conversation.bootstrap import ConversationService

router = APIRouter(prefix="/v1/feed", tags=["event feed"], dependencies=[Depends(operator_feed)])


@router.get("/{log}", response_model=FeedPage)
async def read_feed(
    log: Literal["directory", "conversations"],
    after: int = Query(
        0, ge=0, le=2**62, description="Last position already read (0 = from the start)"
    ),
    limit: int = Query(500, ge=1, le=5000),
    svc: ConversationService = Depends(service),
) -> FeedPage:
    app = svc.directory if log == "directory" else svc.conversations
    notes = await asyncio.to_thread(app.recorder.select_notifications, after + 1, limit)
    items = [
        FeedItem(position=note.id, event=envelope.model_dump(mode="json"))
        for note in notes
        for envelope in to_envelopes(app.mapper.to_domain_event(note))
    ]
    return FeedPage(log=log, items=items, next_after=notes[-1].id if notes else after)
