"""Competences (SPEC §3.1.3) and topics (§3.1.4): the same shape, one router factory.

Administrators manage them; everyone who handles conversations reads them, because a
conversation's requirements are competence ids and its archive takes topic names. The
rules (unique names, who may have a competence) are the ``Administration`` use cases';
reads are ``Queries``.
"""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Depends, Query, Response

from services.conversation.api.deps import Caller, allowed, command, run, service
from services.conversation.api.schemas import AssignedUsers, EndUserOut, LabelIn, LabelOut, Page
from services.conversation.application.queries import ListFilter
from services.conversation.bootstrap import ConversationService

administration = allowed("administration")
conversations = allowed("conversations")


def _out(row) -> LabelOut:  # type: ignore[no-untyped-def]
    return LabelOut(id=row.label_id, name=row.name, description=row.description)


def label_router(kind: Literal["competence", "topic"], path: str, tag: str) -> APIRouter:
    router = APIRouter(prefix=f"/v1/{path}", tags=[tag])

    async def load(svc: ConversationService, tenant_id: uuid.UUID, label_id: uuid.UUID) -> LabelOut:
        return _out(await run(svc.queries.label, kind, tenant_id, label_id))

    @router.get("", response_model=Page[LabelOut], summary=f"List {path}")
    async def list_labels(
        q: str | None = Query(None, max_length=100, description="Search the name"),
        sort: Literal["name", "-name"] = "name",
        offset: int = Query(0, ge=0, le=1_000_000),
        limit: int = Query(50, ge=1, le=200),
        # Read by whoever handles conversations (topics to archive, competences to require).
        who: Caller = Depends(conversations),
        svc: ConversationService = Depends(service),
    ) -> Page[LabelOut]:
        wanted = ListFilter(search=q, sort=sort, offset=offset, limit=limit)
        found = await run(svc.queries.labels, kind, who.tenant_id, wanted)
        return Page[LabelOut](
            items=[_out(r) for r in found.items], total=found.total, offset=offset, limit=limit
        )

    @router.post("", status_code=201, response_model=LabelOut, summary=f"Create a {kind}")
    async def create_label(
        body: LabelIn,
        who: Caller = Depends(administration),
        svc: ConversationService = Depends(service),
    ) -> LabelOut:
        label_id = await command(
            svc,
            svc.administration.create_label,
            kind,
            who.tenant_id,
            body.name,
            body.description,
        )
        return await load(svc, who.tenant_id, label_id)

    @router.get("/{label_id}", response_model=LabelOut, summary=f"One {kind}")
    async def get_label(
        label_id: uuid.UUID,
        # Read by whoever handles conversations (topics to archive, competences to require).
        who: Caller = Depends(conversations),
        svc: ConversationService = Depends(service),
    ) -> LabelOut:
        return await load(svc, who.tenant_id, label_id)

    @router.put("/{label_id}", response_model=LabelOut, summary=f"Change a {kind}")
    async def update_label(
        label_id: uuid.UUID,
        body: LabelIn,
        who: Caller = Depends(administration),
        svc: ConversationService = Depends(service),
    ) -> LabelOut:
        await command(
            svc,
            svc.administration.update_label,
            kind,
            who.tenant_id,
            label_id,
            body.name,
            body.description,
        )
        return await load(svc, who.tenant_id, label_id)

    @router.delete("/{label_id}", status_code=204, summary=f"Delete a {kind}")
    async def delete_label(
        label_id: uuid.UUID,
        who: Caller = Depends(administration),
        svc: ConversationService = Depends(service),
    ) -> Response:
        await command(svc, svc.administration.delete_label, kind, who.tenant_id, label_id)
        return Response(status_code=204)

    if kind == "competence":

        @router.get("/{label_id}/users", response_model=list[EndUserOut], summary="Who has it")
        async def competence_users(
            label_id: uuid.UUID,
            who: Caller = Depends(administration),
            svc: ConversationService = Depends(service),
        ) -> list[EndUserOut]:
            await load(svc, who.tenant_id, label_id)
            rows = await run(svc.queries.competence_holders, who.tenant_id, label_id)
            return [EndUserOut.model_validate(r, from_attributes=True) for r in rows]

        @router.put("/{label_id}/users", status_code=204, summary="Set who has it")
        async def assign_users(
            label_id: uuid.UUID,
            body: AssignedUsers,
            who: Caller = Depends(administration),
            svc: ConversationService = Depends(service),
        ) -> Response:
            await command(
                svc,
                svc.administration.assign_competence,
                who.tenant_id,
                label_id,
                set(body.user_ids),
            )
            return Response(status_code=204)

    return router


competences_router = label_router("competence", "competences", "competences")
topics_router = label_router("topic", "topics", "topics")
