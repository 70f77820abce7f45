"""Conversations in the Portal (SPEC §3.1.8, §3.1.10, §3.2.2): queues, taking, replying,
passing on, dispatch, requirements, notes, closing and archiving, the bot's pause/resume.

Thin: each route parses, calls one use case (``Handling``, ``Conversations``) or query
(``Queries``) off the event loop, and maps the result. Commands are answered from the views
after ``after_change`` has caught them up, so a caller reads its own write. A command the
rules refuse is answered by the shared handler (409 with the rule's code, 422 for what the
request carries); two people deciding at once: one wins, the other gets 409
``concurrent_change``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query

from services.conversation.api import attachments
from services.conversation.api.deps import Caller, allowed, command, require_plan, run, service
from services.conversation.api.schemas import (
    Archiving,
    Assignment,
    AssignmentOut,
    CandidateOut,
    Closing,
    ConversationDetail,
    ConversationOut,
    MessageOut,
    NewNote,
    NewReply,
    NoteOut,
    Page,
    Requirements,
    Sent,
)
from services.conversation.application.queries import Found
from services.conversation.bootstrap import ConversationService
from shared.access import NEEDS_PLAN_FUNCTION
from shared.events import HELD_STATUSES, OPEN_STATUSES

router = APIRouter(prefix="/v1", tags=["conversations"])
handler = allowed("conversations")
dispatcher = allowed("dispatch")
handover = allowed("chatbot.handover")


def conversations_page(found: Found, offset: int, limit: int) -> Page[ConversationOut]:
    """A page of conversations (from ``Queries``) as the Portal shows them."""
    return Page[ConversationOut](
        items=[ConversationOut.model_validate(c) for c in found.items],
        total=found.total,
        offset=offset,
        limit=limit,
    )


@router.get("/queue", response_model=Page[ConversationOut], summary="My queue")
async def my_queue(
    offset: int = Query(0, ge=0, le=1_000_000),
    limit: int = Query(50, ge=1, le=200),
    who: Caller = Depends(handler),
    svc: ConversationService = Depends(service),
) -> Page[ConversationOut]:
    """Open conversations assigned to me and, when routing is off, the tenant's shared
    waiting queue; oldest first."""
    found = await run(svc.queries.queue, who.tenant_id, who.user_id, offset, limit)
    return conversations_page(found, offset, limit)


@router.get(
    "/dispatch/conversations",
    response_model=Page[ConversationOut],
    summary="Open conversations to dispatch",
)
async def dispatch_overview(
    status: str = Query(
        "waiting", pattern="^(bot|waiting|assigned|in_progress|open)$", description="open: all"
    ),
    offset: int = Query(0, ge=0, le=1_000_000),
    limit: int = Query(50, ge=1, le=200),
    who: Caller = Depends(dispatcher),
    svc: ConversationService = Depends(service),
) -> Page[ConversationOut]:
    """The tenant's queue (``waiting``, oldest first) or every open conversation."""
    statuses = OPEN_STATUSES if status == "open" else {status}
    found = await run(svc.queries.open_conversations, who.tenant_id, statuses, offset, limit)
    return conversations_page(found, offset, limit)


def detail(
    svc: ConversationService, tenant_id: uuid.UUID, conversation_id: uuid.UUID
) -> ConversationDetail:
    """The conversation as the views hold it, with signed links to its files (blocking)."""
    read = svc.queries.conversation(tenant_id, conversation_id)
    files = attachments.of_messages(svc, tenant_id, read.attachments)
    return ConversationDetail(
        **ConversationOut.model_validate(read.conversation).model_dump(),
        messages=[_message_out(r, files) for r in read.messages],
        notes=[NoteOut.model_validate(r, from_attributes=True) for r in read.notes],
    )


def _message_out(row: Any, files: dict[str, Any]) -> MessageOut:
    message = MessageOut.model_validate(row, from_attributes=True)
    kept, refused = files.get(row.message_id, ([], []))
    return message.model_copy(update={"attachments": kept, "refused_attachments": refused})


def assignment(
    svc: ConversationService, tenant_id: uuid.UUID, conversation_id: uuid.UUID, assignee: str
) -> AssignmentOut | None:
    """The reasons kept with the conversation's last assignment, with people's names."""
    kept = svc.conversations.assignment(tenant_id, conversation_id)
    if not kept:
        return None
    reasons = kept.get("reasons") or {}
    ids = {c["user_id"] for c in reasons.get("candidates", [])} | {kept.get("by_user_id")}
    names = svc.queries.names(tenant_id, ids)
    return AssignmentOut(
        assigned_by=kept["assigned_by"],
        by_user_id=kept.get("by_user_id"),
        by_name=names.get(kept.get("by_user_id")),
        at=kept["at"],
        tie_break=reasons.get("tie_break"),
        reroute_reason=reasons.get("reroute_reason"),
        candidates=[
            CandidateOut(
                user_id=c["user_id"],
                name=names.get(c["user_id"]),
                excluded_by=c["excluded_by"],
                load=c["load"],
                chosen=c["user_id"] == assignee,
            )
            for c in reasons.get("candidates", [])
        ],
    )


@router.get("/conversations/{conversation_id}", response_model=ConversationDetail)
async def conversation_detail(
    conversation_id: uuid.UUID,
    who: Caller = Depends(handler),
    svc: ConversationService = Depends(service),
) -> ConversationDetail:
    """With ``assignment``: why it is with its assignee (routing's reasons, or who passed it)."""
    found = await run(detail, svc, who.tenant_id, conversation_id)
    if found.assignee_id is not None and found.status in HELD_STATUSES:
        found.assignment = await run(
            assignment, svc, who.tenant_id, conversation_id, str(found.assignee_id)
        )
    return found


def _now() -> datetime:
    return datetime.now(UTC)


@router.post("/conversations/{conversation_id}/take", response_model=ConversationDetail)
async def take(
    conversation_id: uuid.UUID,
    who: Caller = Depends(handler),
    svc: ConversationService = Depends(service),
) -> ConversationDetail:
    """It becomes mine, in progress. From my queue; from the shared queue when routing is
    off; Managers and Administrators may take any waiting conversation."""
    await command(
        svc, svc.handling.take, who.tenant_id, conversation_id, who.user_id, who.role, _now()
    )
    return await run(detail, svc, who.tenant_id, conversation_id)


@router.post("/conversations/{conversation_id}/messages", status_code=201, response_model=Sent)
async def reply(
    conversation_id: uuid.UUID,
    body: NewReply,
    who: Caller = Depends(handler),
    svc: ConversationService = Depends(service),
) -> Sent:
    """A reply to the visitor; delivered by the channel adapter, whose status comes back
    on the message. Replying to a conversation assigned to me takes it."""
    files = await attachments.uploaded_for_reply(svc, who, conversation_id, body.attachment_ids)
    message_id = await command(
        svc,
        svc.conversations.reply,
        who.tenant_id,
        conversation_id,
        who.user_id,
        body.text,
        _now(),
        body.client_message_id,
        files,
    )
    return Sent(message_id=message_id)


@router.post("/conversations/{conversation_id}/assign", response_model=ConversationDetail)
async def pass_on(
    conversation_id: uuid.UUID,
    body: Assignment,
    who: Caller = Depends(handler),
    svc: ConversationService = Depends(service),
) -> ConversationDetail:
    """Pass my conversation to a colleague: it lands in their queue."""
    return await _assign(svc, who, conversation_id, body, dispatch=False)


async def _assign(
    svc: ConversationService,
    who: Caller,
    conversation_id: uuid.UUID,
    body: Assignment,
    *,
    dispatch: bool,
) -> ConversationDetail:
    await command(
        svc,
        svc.handling.assign,
        who.tenant_id,
        conversation_id,
        body.user_id,
        who.user_id,
        _now(),
        dispatch=dispatch,
    )
    return await run(detail, svc, who.tenant_id, conversation_id)


@router.put("/conversations/{conversation_id}/requirements", response_model=ConversationDetail)
async def change_requirements(
    conversation_id: uuid.UUID,
    body: Requirements,
    who: Caller = Depends(handler),
    svc: ConversationService = Depends(service),
) -> ConversationDetail:
    """Correct the language or add/remove competences of my conversation: routing checks
    whether I still fit, and routes it on if not."""
    return await _requirements(svc, who, conversation_id, body, dispatched=False)


async def _requirements(
    svc: ConversationService,
    who: Caller,
    conversation_id: uuid.UUID,
    body: Requirements,
    *,
    dispatched: bool,
) -> ConversationDetail:
    await command(
        svc,
        svc.handling.change_requirements,
        who.tenant_id,
        conversation_id,
        body.language,
        body.competences,
        who.user_id,
        _now(),
        dispatched=dispatched,
    )
    return await run(detail, svc, who.tenant_id, conversation_id)


@router.post("/dispatch/conversations/{conversation_id}/assign", response_model=ConversationDetail)
async def dispatch_assign(
    conversation_id: uuid.UUID,
    body: Assignment,
    who: Caller = Depends(dispatcher),
    svc: ConversationService = Depends(service),
) -> ConversationDetail:
    """Assign by hand (SPEC §3.1.10): it lands in that person's queue and automatic
    routing leaves it alone."""
    return await _assign(svc, who, conversation_id, body, dispatch=True)


@router.put(
    "/dispatch/conversations/{conversation_id}/requirements", response_model=ConversationDetail
)
async def dispatch_requirements(
    conversation_id: uuid.UUID,
    body: Requirements,
    who: Caller = Depends(dispatcher),
    svc: ConversationService = Depends(service),
) -> ConversationDetail:
    """Change competences or language of any open conversation; routing routes it again."""
    return await _requirements(svc, who, conversation_id, body, dispatched=True)


@router.post("/conversations/{conversation_id}/notes", status_code=201, response_model=NoteOut)
async def add_note(
    conversation_id: uuid.UUID,
    body: NewNote,
    who: Caller = Depends(handler),
    svc: ConversationService = Depends(service),
) -> NoteOut:
    """An internal note: colleagues see it, the visitor never does."""
    at = _now()
    note_id = await command(
        svc, svc.conversations.add_note, who.tenant_id, conversation_id, who.user_id, body.text, at
    )
    return NoteOut(note_id=note_id, author_id=who.user_id, text=body.text, at=at)


@router.post("/conversations/{conversation_id}/close", response_model=ConversationDetail)
async def close(
    conversation_id: uuid.UUID,
    body: Closing,
    who: Caller = Depends(handler),
    svc: ConversationService = Depends(service),
) -> ConversationDetail:
    """Done: it moves to History. With topics it is archived at once."""
    await command(
        svc,
        svc.handling.close,
        who.tenant_id,
        conversation_id,
        who.user_id,
        who.role,
        body.topics,
        _now(),
    )
    return await run(detail, svc, who.tenant_id, conversation_id)


@router.post("/conversations/{conversation_id}/archive", response_model=ConversationDetail)
async def archive(
    conversation_id: uuid.UUID,
    body: Archiving,
    who: Caller = Depends(handler),
    svc: ConversationService = Depends(service),
) -> ConversationDetail:
    """File a closed conversation under one or more topics (SPEC §3.1.4)."""
    await command(
        svc,
        svc.handling.archive,
        who.tenant_id,
        conversation_id,
        who.user_id,
        who.role,
        body.topics,
        _now(),
    )
    return await run(detail, svc, who.tenant_id, conversation_id)


@router.post("/conversations/{conversation_id}/bot/pause", response_model=ConversationDetail)
async def pause_bot(
    conversation_id: uuid.UUID,
    who: Caller = Depends(handover),
    svc: ConversationService = Depends(service),
) -> ConversationDetail:
    """The bot stops answering this visitor; the conversation goes to humans until resumed."""
    await require_plan(svc, who.tenant_id, NEEDS_PLAN_FUNCTION[handover.function])
    await command(
        svc, svc.conversations.pause_bot, who.tenant_id, conversation_id, who.user_id, _now()
    )
    return await run(detail, svc, who.tenant_id, conversation_id)


@router.post("/conversations/{conversation_id}/bot/resume", response_model=ConversationDetail)
async def resume_bot(
    conversation_id: uuid.UUID,
    who: Caller = Depends(handover),
    svc: ConversationService = Depends(service),
) -> ConversationDetail:
    """The bot answers this visitor again; the conversation leaves the humans' queues.
    Its holder or a Manager/Administrator gives it back."""
    await require_plan(svc, who.tenant_id, NEEDS_PLAN_FUNCTION[handover.function])
    await command(
        svc,
        svc.handling.resume_bot,
        who.tenant_id,
        conversation_id,
        who.user_id,
        who.role,
        _now(),
    )
    return await run(detail, svc, who.tenant_id, conversation_id)
