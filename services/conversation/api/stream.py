"""Real-time updates for the Portal (SPEC §3.1.8): server-sent events from the conversation log.

Each event's SSE ``id`` is ``<log position>.<n>``: the position in the conversations'
notification log and the event's index within that notification. A client that reconnects
sends it back as ``Last-Event-ID`` (browsers' ``EventSource`` do so by themselves) and
resumes right after it, so it misses nothing and sees nothing twice. Without one the
stream starts at the current end of the log (read the queue first, then listen).

Administrators and Managers see all of their tenant's conversation events; Agents see
those of conversations in their hands, assigned to them, or in the shared queue.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from services.conversation.api.deps import Caller, allowed, run, service
from services.conversation.application.contracts import to_envelopes, topic_of
from services.conversation.bootstrap import ConversationService
from shared import topics
from shared.access import AGENT
from shared.events import Envelope
from shared.http import ApiError

router = APIRouter(prefix="/v1", tags=["conversations"])
POLL_SECONDS = 0.25
HEARTBEAT_SECONDS = 15.0
PAGE = 500


def parse_position(value: str | None) -> tuple[int, int] | None:
    """``"42.1"`` -> (42, 1); a bare ``"42"`` means after all of notification 42."""
    if value is None or value == "":
        return None
    head, _, tail = value.partition(".")
    try:
        position, index = int(head), int(tail) if tail else 1_000_000
    except ValueError:
        raise ApiError(
            422, "bad_position", "Last-Event-ID must look like '<position>.<n>'."
        ) from None
    if position < 0 or index < 0 or position > 2**62:
        raise ApiError(422, "bad_position", "Last-Event-ID is out of range.")
    return position, index


def _read(
    svc: ConversationService, after: int, tenant: str
) -> tuple[int, list[tuple[int, int, Envelope]]]:
    """The tenant's events after ``after``, no further than the views have got: visibility
    is decided on the views, so an event is never judged before its effect is in them."""
    app = svc.conversations
    projected = svc.queries.projected(app.name)
    if projected <= after:
        return after, []
    notes = app.recorder.select_notifications(start=after + 1, limit=PAGE, stop=projected)
    found = []
    for note in notes:
        for n, envelope in enumerate(to_envelopes(app.mapper.to_domain_event(note))):
            if str(envelope.tenant_id) == tenant and (
                topic_of(envelope, topics.CONVERSATION_EVENTS) == topics.CONVERSATION_EVENTS
            ):
                found.append((note.id, n, envelope))
    return (notes[-1].id if notes else after), found


def _visible_to_agent(
    svc: ConversationService, who: Caller, envelopes: list[Envelope], followed: set[str]
) -> set[str]:
    """Conversation ids among ``envelopes`` that this agent may follow: theirs, in the
    shared queue, naming them, or followed on this connection already (so they also see
    a conversation leave them)."""
    ids = {str(e.payload.get("conversation_id")) for e in envelopes}
    visible = svc.queries.in_queue_of(who.tenant_id, who.user_id, ids)
    me = str(who.user_id)
    for e in envelopes:
        named = {str(e.payload.get(k)) for k in ("assignee_id", "by_user_id", "user_id")}
        if me in named:
            visible.add(str(e.payload.get("conversation_id")))
    return visible | (ids & followed)


def _frame(position: int, n: int, envelope: Envelope) -> bytes:
    data = orjson.dumps(envelope.model_dump(mode="json"))
    return f"id: {position}.{n}\nevent: {envelope.type}\ndata: ".encode() + data + b"\n\n"


async def _events(
    request: Request, svc: ConversationService, who: Caller, start: tuple[int, int] | None
) -> AsyncIterator[bytes]:
    if start is None:
        end = await run(svc.conversations.recorder.max_notification_id)
        start = (end or 0, 1_000_000)
    position, index = start
    after = position - 1 if index < 1_000_000 else position
    tenant = str(who.tenant_id)
    followed: set[str] = set()
    yield b"retry: 2000\n\n"
    last_sent = time.monotonic()
    while not await request.is_disconnected():
        session = await run(svc.security.session, who.token)
        if session is None:  # logged out or deactivated: stop
            yield b"event: session_ended\ndata: {}\n\n"
            return
        new_after, found = await run(_read, svc, after, tenant)
        found = [f for f in found if (f[0], f[1]) > (position, index)]
        if found and session.role == AGENT:  # read fresh: a role change applies at once
            envelopes = [e for _, _, e in found]
            visible = await run(_visible_to_agent, svc, who, envelopes, followed)
            found = [f for f in found if str(f[2].payload.get("conversation_id")) in visible]
            followed |= visible
        for note_id, n, envelope in found:
            yield _frame(note_id, n, envelope)
            last_sent = time.monotonic()
        moved, after = new_after != after, new_after
        if not moved:
            if time.monotonic() - last_sent > HEARTBEAT_SECONDS:
                yield b": keep-alive\n\n"
                last_sent = time.monotonic()
            await asyncio.sleep(POLL_SECONDS)


@router.get(
    "/events",
    summary="Live conversation and queue updates (server-sent events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def live_events(
    request: Request,
    after: str | None = Query(
        None, max_length=40, description="Resume after this event id (as Last-Event-ID)"
    ),
    last_event_id: str | None = Header(None, max_length=40),
    who: Caller = Depends(allowed("conversations")),
    svc: ConversationService = Depends(service),
) -> StreamingResponse:
    start = parse_position(last_event_id or after)
    return StreamingResponse(
        _events(request, svc, who, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
