"""Conversations in the Portal (SPEC §3.1.8, §3.1.10, §3.2.2): queues, taking, replying,
passing on, dispatch, requirements, notes, closing and archiving, the bot's pause/resume.

Commands go through the ``Conversations`` application; answers come from the views after
``after_change`` has caught them up, so a caller reads its own write. A command the
conversation's state refuses is a 409 with the rule's code; two people deciding at once:
one wins, the other gets 409 ``concurrent_change``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import and_, func, or_, select

from services.conversation.api import attachments
from services.conversation.api.competences import check_known, conversations_out
from services.conversation.api.deps import Caller, allowed, require_plan, service
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
from services.conversation.bootstrap import ConversationService
from services.conversation.domain.conversation import ConversationError
from services.conversation.store import tables as t
from shared.access import ADMINISTRATOR, MANAGER, NEEDS_PLAN_FUNCTION
from shared.events import HANDLING_ROLES, HELD_STATUSES, OPEN_STATUSES, ConversationStatus
from shared.http import ApiError

router = APIRouter(prefix="/v1", tags=["conversations"])
handler = allowed("conversations")
dispatcher = allowed("dispatch")
handover = allowed("chatbot.handover")

#: Rules that are about the request rather than the conversation's state.
UNPROCESSABLE = frozenset({"topics_required", "unknown_field"})


def _page(  # type: ignore[no-untyped-def]
    svc: ConversationService,
    tenant_id: uuid.UUID,
    scope: Any,
    order: list[Any],
    offset: int,
    limit: int,
):
    c = t.conversations
    with svc.engine.connect() as conn:
        total = conn.scalar(select(func.count()).select_from(c).where(scope)) or 0
        rows = conn.execute(
            select(c).where(scope).order_by(*order).offset(offset).limit(limit)
        ).all()
        items = conversations_out(conn, tenant_id, rows)
    return Page[ConversationOut](items=items, total=total, offset=offset, limit=limit)


def _routing_enabled(svc: ConversationService, tenant_id: uuid.UUID) -> bool:
    with svc.engine.connect() as conn:
        return bool(
            conn.scalar(
                select(t.tenants.c.routing_enabled).where(t.tenants.c.tenant_id == str(tenant_id))
            )
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
    c = t.conversations
    mine = and_(c.c.assignee_id == str(who.user_id), c.c.status.in_(HELD_STATUSES))
    shared = and_(c.c.assignee_id.is_(None), c.c.status == ConversationStatus.WAITING)
    routing = _routing_enabled(svc, who.tenant_id)
    scope = and_(c.c.tenant_id == str(who.tenant_id), mine if routing else or_(mine, shared))
    return _page(svc, who.tenant_id, scope, [c.c.opened_at, c.c.conversation_id], offset, limit)


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
    c = t.conversations
    statuses = OPEN_STATUSES if status == "open" else {status}
    scope = and_(c.c.tenant_id == str(who.tenant_id), c.c.status.in_(statuses))
    return _page(svc, who.tenant_id, scope, [c.c.opened_at, c.c.conversation_id], offset, limit)


def detail(
    svc: ConversationService, tenant_id: uuid.UUID, conversation_id: uuid.UUID
) -> ConversationDetail:
    c, m, n = t.conversations, t.messages, t.notes
    with svc.engine.connect() as conn:
        row = conn.execute(
            select(c).where(
                c.c.conversation_id == str(conversation_id), c.c.tenant_id == str(tenant_id)
            )
        ).first()
        if row is None:
            raise ApiError(404, "not_found", "No such conversation.")
        messages = conn.execute(
            select(m)
            .where(m.c.conversation_id == str(conversation_id))
            .order_by(m.c.at, m.c.message_id)
        ).all()
        notes = conn.execute(
            select(n).where(n.c.conversation_id == str(conversation_id)).order_by(n.c.at)
        ).all()
        (out,) = conversations_out(conn, tenant_id, [row])
        files = attachments.of_messages(svc, tenant_id, conn, conversation_id)
    return ConversationDetail(
        **out.model_dump(),
        messages=[_message_out(r, files) for r in messages],
        notes=[NoteOut.model_validate(r, from_attributes=True) for r in notes],
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
    u = t.end_users
    with svc.engine.connect() as conn:
        names = {
            r.user_id: f"{r.first_name} {r.last_name}"
            for r in conn.execute(
                select(u.c.user_id, u.c.first_name, u.c.last_name).where(
                    u.c.tenant_id == str(tenant_id), u.c.user_id.in_(ids - {None})
                )
            )
        }
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
    found = await asyncio.to_thread(detail, svc, who.tenant_id, conversation_id)
    if found.assignee_id is not None and found.status in HELD_STATUSES:
        found.assignment = await asyncio.to_thread(
            assignment, svc, who.tenant_id, conversation_id, str(found.assignee_id)
        )
    return found


async def _run(svc: ConversationService, command: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    """A command off the event loop; the conversation's refusal becomes a 409 (or 422)."""
    try:
        result = await asyncio.to_thread(command, *args, **kw)
    except ConversationError as exc:
        raise ApiError(422 if exc.code in UNPROCESSABLE else 409, exc.code, str(exc)) from None
    await svc.after_change()
    return result


def _now() -> datetime:
    return datetime.now(UTC)


def _labels_exist(svc: ConversationService, who: Caller, kind: str, names: list[str]) -> None:
    if not names:
        return
    lb = t.labels
    with svc.engine.connect() as conn:
        known = set(
            conn.scalars(
                select(lb.c.name).where(
                    lb.c.tenant_id == str(who.tenant_id), lb.c.kind == kind, lb.c.name.in_(names)
                )
            )
        )
    unknown = sorted(set(names) - known)
    if unknown:
        raise ApiError(
            422, f"unknown_{kind}", f"No such {kind}: {', '.join(unknown)}.", {"unknown": unknown}
        )


def _handler_in_tenant(svc: ConversationService, who: Caller, user_id: uuid.UUID) -> None:
    eu = t.end_users
    with svc.engine.connect() as conn:
        row = conn.execute(
            select(eu.c.role, eu.c.active).where(
                eu.c.user_id == str(user_id), eu.c.tenant_id == str(who.tenant_id)
            )
        ).first()
    if row is None:
        raise ApiError(422, "unknown_user", "No such end user in your organisation.")
    if not row.active or row.role not in HANDLING_ROLES:
        raise ApiError(
            422,
            "not_a_handler",
            "Only active Administrators, Managers and Agents take conversations.",
        )


def _language_offered(svc: ConversationService, who: Caller, language: str | None) -> None:
    if language is None:
        return
    with svc.engine.connect() as conn:
        languages = (
            conn.scalar(
                select(t.tenants.c.languages).where(t.tenants.c.tenant_id == str(who.tenant_id))
            )
            or []
        )
    if language not in languages:
        raise ApiError(
            422,
            "unknown_language",
            f"{language} is not one of your languages.",
            {"languages": languages},
        )


@router.post("/conversations/{conversation_id}/take", response_model=ConversationDetail)
async def take(
    conversation_id: uuid.UUID,
    who: Caller = Depends(handler),
    svc: ConversationService = Depends(service),
) -> ConversationDetail:
    """It becomes mine, in progress. From my queue; from the shared queue when routing is
    off; Managers and Administrators may take any waiting conversation."""
    shared = who.role in (ADMINISTRATOR, MANAGER) or not _routing_enabled(svc, who.tenant_id)
    await _run(
        svc,
        svc.conversations.take,
        who.tenant_id,
        conversation_id,
        who.user_id,
        _now(),
        from_shared_queue=shared,
    )
    return detail(svc, who.tenant_id, conversation_id)


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
    message_id = await _run(
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
    _handler_in_tenant(svc, who, body.user_id)
    await _run(
        svc,
        svc.conversations.assign,
        who.tenant_id,
        conversation_id,
        body.user_id,
        who.user_id,
        _now(),
        dispatch=dispatch,
    )
    return detail(svc, who.tenant_id, conversation_id)


def _holder(
    svc: ConversationService, tenant_id: uuid.UUID, conversation_id: uuid.UUID
) -> str | None:
    """Who has the conversation now (404 if it is not this tenant's); no messages loaded."""
    c = t.conversations
    with svc.engine.connect() as conn:
        row = conn.execute(
            select(c.c.assignee_id).where(
                c.c.conversation_id == str(conversation_id), c.c.tenant_id == str(tenant_id)
            )
        ).first()
    if row is None:
        raise ApiError(404, "not_found", "No such conversation.")
    return row.assignee_id


@router.put("/conversations/{conversation_id}/requirements", response_model=ConversationDetail)
async def change_requirements(
    conversation_id: uuid.UUID,
    body: Requirements,
    who: Caller = Depends(handler),
    svc: ConversationService = Depends(service),
) -> ConversationDetail:
    """Correct the language or add/remove competences of my conversation: routing checks
    whether I still fit, and routes it on if not."""
    if _holder(svc, who.tenant_id, conversation_id) != str(who.user_id):
        raise ApiError(409, "not_yours", "Only its holder can change it; dispatch can too.")
    return await _requirements(svc, who, conversation_id, body, dispatched=False)


async def _requirements(
    svc: ConversationService,
    who: Caller,
    conversation_id: uuid.UUID,
    body: Requirements,
    *,
    dispatched: bool,
) -> ConversationDetail:
    _language_offered(svc, who, body.language)
    competences = None
    if body.competences is not None:
        with svc.engine.connect() as conn:
            competences = check_known(conn, who.tenant_id, body.competences)
    await _run(
        svc,
        svc.conversations.change_requirements,
        who.tenant_id,
        conversation_id,
        body.language,
        competences,
        who.user_id,
        _now(),
        dispatched=dispatched,
    )
    return detail(svc, who.tenant_id, conversation_id)


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
    note_id = await _run(
        svc, svc.conversations.add_note, who.tenant_id, conversation_id, who.user_id, body.text, at
    )
    return NoteOut(note_id=note_id, author_id=who.user_id, text=body.text, at=at)


def _may_finish(svc: ConversationService, who: Caller, conversation_id: uuid.UUID) -> None:
    holder = _holder(svc, who.tenant_id, conversation_id)
    if holder != str(who.user_id) and who.role not in (ADMINISTRATOR, MANAGER):
        raise ApiError(409, "not_yours", "Only its holder (or a Manager) can do this.")


@router.post("/conversations/{conversation_id}/close", response_model=ConversationDetail)
async def close(
    conversation_id: uuid.UUID,
    body: Closing,
    who: Caller = Depends(handler),
    svc: ConversationService = Depends(service),
) -> ConversationDetail:
    """Done: it moves to History. With topics it is archived at once."""
    _may_finish(svc, who, conversation_id)
    _labels_exist(svc, who, "topic", body.topics)
    await _run(
        svc,
        svc.conversations.close_conversation,
        who.tenant_id,
        conversation_id,
        _now(),
        who.user_id,
        body.topics,
    )
    return detail(svc, who.tenant_id, conversation_id)


@router.post("/conversations/{conversation_id}/archive", response_model=ConversationDetail)
async def archive(
    conversation_id: uuid.UUID,
    body: Archiving,
    who: Caller = Depends(handler),
    svc: ConversationService = Depends(service),
) -> ConversationDetail:
    """File a closed conversation under one or more topics (SPEC §3.1.4)."""
    _may_finish(svc, who, conversation_id)
    _labels_exist(svc, who, "topic", body.topics)
    await _run(svc, svc.conversations.archive, who.tenant_id, conversation_id, body.topics, _now())
    return detail(svc, who.tenant_id, conversation_id)


@router.post("/conversations/{conversation_id}/bot/pause", response_model=ConversationDetail)
async def pause_bot(
    conversation_id: uuid.UUID,
    who: Caller = Depends(handover),
    svc: ConversationService = Depends(service),
) -> ConversationDetail:
    """The bot stops answering this visitor; the conversation goes to humans until resumed."""
    require_plan(svc, who.tenant_id, NEEDS_PLAN_FUNCTION[handover.function])
    await _run(
        svc, svc.conversations.pause_bot, who.tenant_id, conversation_id, who.user_id, _now()
    )
    return detail(svc, who.tenant_id, conversation_id)


@router.post("/conversations/{conversation_id}/bot/resume", response_model=ConversationDetail)
async def resume_bot(
    conversation_id: uuid.UUID,
    who: Caller = Depends(handover),
    svc: ConversationService = Depends(service),
) -> ConversationDetail:
    """The bot answers this visitor again; the conversation leaves the humans' queues.
    Its holder or a Manager/Administrator gives it back."""
    require_plan(svc, who.tenant_id, NEEDS_PLAN_FUNCTION[handover.function])
    _may_finish(svc, who, conversation_id)
    await _run(
        svc, svc.conversations.resume_bot, who.tenant_id, conversation_id, who.user_id, _now()
    )
    return detail(svc, who.tenant_id, conversation_id)
