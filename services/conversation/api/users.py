"""End users (SPEC §3.1.2): list, search, sort, create, update, deactivate, delete.

Thin: the rules (known ids, unique emails, no skills for Analysts, not oneself) are the
``Administration`` use cases' and the domain's; reads are ``Queries``.
"""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Depends, Query, Response

from services.conversation.api.deps import Caller, allowed, command, run, service
from services.conversation.api.schemas import (
    ColleagueOut,
    EndUserOut,
    EndUserUpdate,
    NewEndUser,
    Page,
)
from services.conversation.application.queries import ListFilter
from services.conversation.bootstrap import ConversationService
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


async def _load(svc: ConversationService, tenant_id: uuid.UUID, user_id: uuid.UUID) -> EndUserOut:
    return user_out(await run(svc.queries.end_user, tenant_id, user_id))


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
    wanted = ListFilter(
        search=q,
        sort=sort,
        offset=offset,
        limit=limit,
        where={"role": role, "mother_tongue": mother_tongue},
    )
    found = await run(svc.queries.end_users, who.tenant_id, wanted, SORTABLE)
    return Page[EndUserOut](
        items=[user_out(r) for r in found.items], total=found.total, offset=offset, limit=limit
    )


@router.post("", status_code=201, response_model=EndUserOut)
async def create_user(
    body: NewEndUser,
    who: Caller = Depends(administration),
    svc: ConversationService = Depends(service),
) -> EndUserOut:
    """Without ``password`` the new user gets an email with a link to choose one."""
    user_id = await command(
        svc,
        svc.administration.create_end_user,
        who.tenant_id,
        body.first_name,
        body.last_name,
        str(body.email),
        body.role,
        body.mother_tongue,
        languages=body.languages,
        channel_ids=body.channel_ids,
        competences=body.competences,
        capacity=body.capacity,
        password=body.password,
    )
    if not body.password:
        await svc.send_first_password_link(str(body.email).lower(), user_id)
    return await _load(svc, who.tenant_id, user_id)


@router.get("/{user_id}", response_model=EndUserOut)
async def get_user(
    user_id: uuid.UUID,
    who: Caller = Depends(administration),
    svc: ConversationService = Depends(service),
) -> EndUserOut:
    return await _load(svc, who.tenant_id, user_id)


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
    await command(svc, svc.administration.update_end_user, who.tenant_id, user_id, changes)
    return await _load(svc, who.tenant_id, user_id)


@router.post("/{user_id}/deactivation", response_model=EndUserOut)
async def deactivate_user(
    user_id: uuid.UUID,
    who: Caller = Depends(administration),
    svc: ConversationService = Depends(service),
) -> EndUserOut:
    """Ends the user's sessions at once; their open conversations go back to routing."""
    await command(svc, svc.administration.deactivate_end_user, who.tenant_id, user_id, who.user_id)
    return await _load(svc, who.tenant_id, user_id)


@router.post("/{user_id}/activation", response_model=EndUserOut)
async def reactivate_user(
    user_id: uuid.UUID,
    who: Caller = Depends(administration),
    svc: ConversationService = Depends(service),
) -> EndUserOut:
    await command(svc, svc.directory.reactivate_end_user, who.tenant_id, user_id)
    return await _load(svc, who.tenant_id, user_id)


@router.delete("/{user_id}", status_code=204)
async def delete_user(
    user_id: uuid.UUID,
    who: Caller = Depends(administration),
    svc: ConversationService = Depends(service),
) -> Response:
    await command(svc, svc.administration.delete_end_user, who.tenant_id, user_id, who.user_id)
    return Response(status_code=204)


@colleagues_router.get("", response_model=list[ColleagueOut], summary="Whom I can pass on to")
async def colleagues(
    who: Caller = Depends(allowed("conversations")), svc: ConversationService = Depends(service)
) -> list[ColleagueOut]:
    """The tenant's active people who handle conversations, by name: an Agent passing a
    conversation on needs them without the administration's user list."""
    rows = await run(svc.queries.colleagues, who.tenant_id)
    return [ColleagueOut.model_validate(r, from_attributes=True) for r in rows]
