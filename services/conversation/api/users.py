"""End users (SPEC §3.1.2): list, search, sort, create, update, deactivate, delete."""

from __future__ import annotations

import asyncio
import uuid
from typing import Literal

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy import select

from services.conversation.api.deps import Caller, allowed, service
from services.conversation.api.schemas import (
    ColleagueOut,
    EndUserOut,
    EndUserUpdate,
    NewEndUser,
    Page,
)
from services.conversation.bootstrap import ConversationService
from services.conversation.domain.directory import DirectoryError, NameTaken
from services.conversation.store import tables as t
from services.conversation.store.queries import page
from shared.events import HANDLING_ROLES
from shared.http import ApiError

router = APIRouter(prefix="/v1/users", tags=["end users"])
colleagues_router = APIRouter(prefix="/v1/colleagues", tags=["conversations"])
administration = allowed("administration")
SORTABLE = ("first_name", "last_name", "email", "role", "mother_tongue")
UserSort = Literal[
    "first_name",
    "last_name",
    "email",
    "role",
    "mother_tongue",
    "-first_name",
    "-last_name",
    "-email",
    "-role",
    "-mother_tongue",
]


def user_out(row) -> EndUserOut:  # type: ignore[no-untyped-def]
    return EndUserOut.model_validate(row, from_attributes=True)


def _check_references(
    svc: ConversationService,
    tenant_id: uuid.UUID,
    channel_ids: list[uuid.UUID] | None,
    competences: list[uuid.UUID] | None,
    languages: list[str] | None,
) -> None:
    """Ids in the body must be this tenant's; languages must be among the tenant's offer."""
    tenant = str(tenant_id)
    with svc.engine.connect() as conn:
        if channel_ids:
            known = set(
                conn.scalars(
                    select(t.channels.c.channel_id).where(t.channels.c.tenant_id == tenant)
                )
            )
            unknown = [str(c) for c in channel_ids if str(c) not in known]
            if unknown:
                raise ApiError(422, "unknown_channel", "No such channel.", {"channel_ids": unknown})
        if competences:
            known = set(
                conn.scalars(
                    select(t.labels.c.label_id).where(
                        t.labels.c.tenant_id == tenant, t.labels.c.kind == "competence"
                    )
                )
            )
            unknown = [str(c) for c in competences if str(c) not in known]
            if unknown:
                raise ApiError(
                    422, "unknown_competence", "No such competence.", {"competences": unknown}
                )
        if languages:
            offered = (
                conn.scalar(select(t.tenants.c.languages).where(t.tenants.c.tenant_id == tenant))
                or []
            )
            extra = [language for language in languages if language not in offered]
            if extra:
                raise ApiError(
                    422,
                    "language_not_offered",
                    "Add the language to the general settings first.",
                    {"languages": extra},
                )


def _email_taken(
    svc: ConversationService, tenant_id: uuid.UUID, email: str, but: uuid.UUID | None = None
) -> bool:
    with svc.engine.connect() as conn:
        owner = conn.scalar(
            select(t.end_users.c.user_id).where(
                t.end_users.c.tenant_id == str(tenant_id), t.end_users.c.email == email.lower()
            )
        )
    return owner is not None and owner != str(but)


def _load(svc: ConversationService, tenant_id: uuid.UUID, user_id: uuid.UUID) -> EndUserOut:
    with svc.engine.connect() as conn:
        row = conn.execute(
            select(t.end_users).where(
                t.end_users.c.tenant_id == str(tenant_id), t.end_users.c.user_id == str(user_id)
            )
        ).first()
    if row is None:
        raise ApiError(404, "not_found", "No such end user.")
    return user_out(row)


@router.get("", response_model=Page[EndUserOut])
async def list_users(
    q: str | None = Query(None, max_length=100, description="Search first name, last name, email"),
    role: Literal["administrator", "manager", "agent", "analyst"] | None = None,
    mother_tongue: str | None = Query(None, max_length=16),
    sort: UserSort = "last_name",
    offset: int = Query(0, ge=0, le=1_000_000),
    limit: int = Query(50, ge=1, le=200),
    who: Caller = Depends(administration),
    svc: ConversationService = Depends(service),
) -> Page[EndUserOut]:
    scope = [t.end_users.c.tenant_id == str(who.tenant_id)]
    if role:
        scope.append(t.end_users.c.role == role)
    if mother_tongue:
        scope.append(t.end_users.c.mother_tongue == mother_tongue)
    with svc.engine.connect() as conn:
        rows, total = page(
            conn,
            t.end_users,
            scope,
            search=q,
            search_columns=("first_name", "last_name", "email"),
            sort=sort,
            sortable=SORTABLE,
            key="user_id",
            offset=offset,
            limit=limit,
        )
    return Page[EndUserOut](
        items=[user_out(r) for r in rows], total=total, offset=offset, limit=limit
    )


@router.post("", status_code=201, response_model=EndUserOut)
async def create_user(
    body: NewEndUser,
    who: Caller = Depends(administration),
    svc: ConversationService = Depends(service),
) -> EndUserOut:
    """Without ``password`` the new user gets an email with a link to choose one."""
    if body.role not in HANDLING_ROLES and (body.languages or body.channel_ids or body.competences):
        raise ApiError(
            422, "skills_not_allowed", "Analysts get no competences, channels or languages."
        )
    _check_references(svc, who.tenant_id, body.channel_ids, body.competences, body.languages)
    # The view answers for emails held before names were recorded; the directory's
    # UniqueName record refuses a second holder at any number of replicas.
    if _email_taken(svc, who.tenant_id, str(body.email)):
        raise ApiError(409, "email_taken", "Another end user of this tenant has that email.")

    def create() -> uuid.UUID:
        user_id = svc.directory.create_end_user(
            who.tenant_id,
            body.first_name,
            body.last_name,
            str(body.email),
            body.role,
            body.mother_tongue,
            languages=body.languages,
            channel_ids=body.channel_ids,
            competences=[str(c) for c in body.competences],
            capacity=body.capacity,
        )
        if body.password:
            svc.security.set_password(str(who.tenant_id), str(user_id), body.password)
        return user_id

    try:
        user_id = await asyncio.to_thread(create)
    except NameTaken:
        raise ApiError(
            409, "email_taken", "Another end user of this tenant has that email."
        ) from None
    await svc.after_change()
    if not body.password:
        await svc.send_first_password_link(str(body.email).lower(), user_id)
    return _load(svc, who.tenant_id, user_id)


@router.get("/{user_id}", response_model=EndUserOut)
async def get_user(
    user_id: uuid.UUID,
    who: Caller = Depends(administration),
    svc: ConversationService = Depends(service),
) -> EndUserOut:
    return _load(svc, who.tenant_id, user_id)


@router.patch("/{user_id}", response_model=EndUserOut)
async def update_user(
    user_id: uuid.UUID,
    body: EndUserUpdate,
    who: Caller = Depends(administration),
    svc: ConversationService = Depends(service),
) -> EndUserOut:
    changes = body.model_dump(exclude_unset=True)
    if any(changes.get(k) is None for k in changes if k != "capacity"):
        raise ApiError(422, "invalid_request", "Only capacity may be set to null.")
    _load(svc, who.tenant_id, user_id)
    _check_references(svc, who.tenant_id, body.channel_ids, body.competences, body.languages)
    if "email" in changes:
        changes["email"] = str(changes["email"]).lower()
    if "competences" in changes:
        changes["competences"] = [str(c) for c in changes["competences"]]
    if "email" in changes and _email_taken(svc, who.tenant_id, changes["email"], but=user_id):
        raise ApiError(409, "email_taken", "Another end user of this tenant has that email.")
    try:
        await asyncio.to_thread(svc.directory.update_end_user, who.tenant_id, user_id, **changes)
    except NameTaken:
        raise ApiError(
            409, "email_taken", "Another end user of this tenant has that email."
        ) from None
    except DirectoryError as exc:
        raise ApiError(422, "skills_not_allowed", str(exc)) from None
    await svc.after_change()
    return _load(svc, who.tenant_id, user_id)


@router.post("/{user_id}/deactivation", response_model=EndUserOut)
async def deactivate_user(
    user_id: uuid.UUID,
    who: Caller = Depends(administration),
    svc: ConversationService = Depends(service),
) -> EndUserOut:
    """Ends the user's sessions at once; their open conversations go back to routing."""
    if user_id == who.user_id:
        raise ApiError(
            409, "cannot_deactivate_self", "Administrators cannot deactivate themselves."
        )
    await asyncio.to_thread(svc.directory.deactivate_end_user, who.tenant_id, user_id)
    await asyncio.to_thread(svc.security.revoke_user, str(user_id))
    await svc.after_change()
    return _load(svc, who.tenant_id, user_id)


@router.post("/{user_id}/activation", response_model=EndUserOut)
async def reactivate_user(
    user_id: uuid.UUID,
    who: Caller = Depends(administration),
    svc: ConversationService = Depends(service),
) -> EndUserOut:
    await asyncio.to_thread(svc.directory.reactivate_end_user, who.tenant_id, user_id)
    await svc.after_change()
    return _load(svc, who.tenant_id, user_id)


@router.delete("/{user_id}", status_code=204)
async def delete_user(
    user_id: uuid.UUID,
    who: Caller = Depends(administration),
    svc: ConversationService = Depends(service),
) -> Response:
    if user_id == who.user_id:
        raise ApiError(409, "cannot_delete_self", "Administrators cannot delete themselves.")
    await asyncio.to_thread(svc.directory.delete_end_user, who.tenant_id, user_id)
    await asyncio.to_thread(svc.security.revoke_user, str(user_id))
    await svc.after_change()
    return Response(status_code=204)


@colleagues_router.get("", response_model=list[ColleagueOut], summary="Whom I can pass on to")
async def colleagues(
    who: Caller = Depends(allowed("conversations")), svc: ConversationService = Depends(service)
) -> list[ColleagueOut]:
    """The tenant's active people who handle conversations, by name: an Agent passing a
    conversation on needs them without the administration's user list."""
    u = t.end_users.c
    with svc.engine.connect() as conn:
        rows = conn.execute(
            select(t.end_users)
            .where(u.tenant_id == str(who.tenant_id), u.active, u.role.in_(HANDLING_ROLES))
            .order_by(u.first_name, u.last_name, u.user_id)
        ).all()
    return [ColleagueOut.model_validate(r, from_attributes=True) for r in rows]
