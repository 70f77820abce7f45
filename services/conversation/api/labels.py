"""Competences (SPEC §3.1.3) and topics (§3.1.4): the same shape, one router factory.

Administrators manage them; everyone who handles conversations reads them, because a
conversation's requirements are competence ids and its archive takes topic names.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Literal

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy import select

from services.conversation.api.deps import Caller, allowed, service
from services.conversation.api.schemas import AssignedUsers, EndUserOut, LabelIn, LabelOut, Page
from services.conversation.bootstrap import ConversationService
from services.conversation.domain.directory import NameTaken
from services.conversation.store import tables as t
from services.conversation.store.queries import page
from shared.events import HANDLING_ROLES
from shared.http import ApiError

administration = allowed("administration")
conversations = allowed("conversations")


def _out(row) -> LabelOut:  # type: ignore[no-untyped-def]
    return LabelOut(id=row.label_id, name=row.name, description=row.description)


def label_router(kind: Literal["competence", "topic"], path: str, tag: str) -> APIRouter:
    router = APIRouter(prefix=f"/v1/{path}", tags=[tag])
    table = t.labels

    def scope(tenant_id: uuid.UUID) -> list:
        return [table.c.tenant_id == str(tenant_id), table.c.kind == kind]

    def load(svc: ConversationService, tenant_id: uuid.UUID, label_id: uuid.UUID) -> LabelOut:
        with svc.engine.connect() as conn:
            row = conn.execute(
                select(table).where(*scope(tenant_id), table.c.label_id == str(label_id))
            ).first()
        if row is None:
            raise ApiError(404, "not_found", f"No such {kind}.")
        return _out(row)

    def name_taken(
        svc: ConversationService, tenant_id: uuid.UUID, name: str, but: uuid.UUID | None = None
    ) -> bool:
        with svc.engine.connect() as conn:
            owner = conn.scalar(
                select(table.c.label_id).where(*scope(tenant_id), table.c.name == name)
            )
        return owner is not None and owner != str(but)

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
        with svc.engine.connect() as conn:
            rows, total = page(
                conn,
                table,
                scope(who.tenant_id),
                search=q,
                search_columns=("name",),
                sort=sort,
                sortable=("name",),
                key="label_id",
                offset=offset,
                limit=limit,
            )
        return Page[LabelOut](
            items=[_out(r) for r in rows], total=total, offset=offset, limit=limit
        )

    @router.post("", status_code=201, response_model=LabelOut, summary=f"Create a {kind}")
    async def create_label(
        body: LabelIn,
        who: Caller = Depends(administration),
        svc: ConversationService = Depends(service),
    ) -> LabelOut:
        # The view answers for names held before names were recorded; the directory's
        # UniqueName record refuses a second holder at any number of replicas.
        if name_taken(svc, who.tenant_id, body.name):
            raise ApiError(409, "name_taken", f"A {kind} with that name exists.")
        try:
            label_id = await asyncio.to_thread(
                svc.directory.create_label, kind, who.tenant_id, body.name, body.description
            )
        except NameTaken:
            raise ApiError(409, "name_taken", f"A {kind} with that name exists.") from None
        await svc.after_change()
        return load(svc, who.tenant_id, label_id)

    @router.get("/{label_id}", response_model=LabelOut, summary=f"One {kind}")
    async def get_label(
        label_id: uuid.UUID,
        # Read by whoever handles conversations (topics to archive, competences to require).
        who: Caller = Depends(conversations),
        svc: ConversationService = Depends(service),
    ) -> LabelOut:
        return load(svc, who.tenant_id, label_id)

    @router.put("/{label_id}", response_model=LabelOut, summary=f"Change a {kind}")
    async def update_label(
        label_id: uuid.UUID,
        body: LabelIn,
        who: Caller = Depends(administration),
        svc: ConversationService = Depends(service),
    ) -> LabelOut:
        load(svc, who.tenant_id, label_id)
        if name_taken(svc, who.tenant_id, body.name, but=label_id):
            raise ApiError(409, "name_taken", f"A {kind} with that name exists.")
        try:
            await asyncio.to_thread(
                svc.directory.update_label,
                kind,
                who.tenant_id,
                label_id,
                body.name,
                body.description,
            )
        except NameTaken:
            raise ApiError(409, "name_taken", f"A {kind} with that name exists.") from None
        await svc.after_change()
        return load(svc, who.tenant_id, label_id)

    @router.delete("/{label_id}", status_code=204, summary=f"Delete a {kind}")
    async def delete_label(
        label_id: uuid.UUID,
        who: Caller = Depends(administration),
        svc: ConversationService = Depends(service),
    ) -> Response:
        load(svc, who.tenant_id, label_id)
        holders = _holders(svc, who.tenant_id, label_id) if kind == "competence" else set()
        await asyncio.to_thread(svc.directory.delete_label, kind, who.tenant_id, label_id, holders)
        await svc.after_change()
        return Response(status_code=204)

    if kind == "competence":

        @router.get("/{label_id}/users", response_model=list[EndUserOut], summary="Who has it")
        async def competence_users(
            label_id: uuid.UUID,
            who: Caller = Depends(administration),
            svc: ConversationService = Depends(service),
        ) -> list[EndUserOut]:
            load(svc, who.tenant_id, label_id)
            with svc.engine.connect() as conn:
                rows = conn.execute(
                    select(t.end_users).where(t.end_users.c.tenant_id == str(who.tenant_id))
                ).all()
            return [
                EndUserOut.model_validate(r, from_attributes=True)
                for r in rows
                if str(label_id) in (r.competences or [])
            ]

        @router.put("/{label_id}/users", status_code=204, summary="Set who has it")
        async def assign_users(
            label_id: uuid.UUID,
            body: AssignedUsers,
            who: Caller = Depends(administration),
            svc: ConversationService = Depends(service),
        ) -> Response:
            load(svc, who.tenant_id, label_id)
            wanted = set(body.user_ids)
            with svc.engine.connect() as conn:
                roles = dict(
                    conn.execute(
                        select(t.end_users.c.user_id, t.end_users.c.role).where(
                            t.end_users.c.tenant_id == str(who.tenant_id)
                        )
                    ).all()
                )
            unknown = [str(u) for u in wanted if str(u) not in roles]
            if unknown:
                raise ApiError(422, "unknown_user", "No such end user.", {"user_ids": unknown})
            analysts = [str(u) for u in wanted if roles[str(u)] not in HANDLING_ROLES]
            if analysts:
                raise ApiError(
                    422,
                    "skills_not_allowed",
                    "Analysts get no competences.",
                    {"user_ids": analysts},
                )
            holders = _holders(svc, who.tenant_id, label_id)
            await asyncio.to_thread(
                svc.directory.assign_competence, who.tenant_id, label_id, wanted, holders
            )
            await svc.after_change()
            return Response(status_code=204)

    return router


def _holders(
    svc: ConversationService, tenant_id: uuid.UUID, competence_id: uuid.UUID
) -> set[uuid.UUID]:
    with svc.engine.connect() as conn:
        rows = conn.execute(
            select(t.end_users.c.user_id, t.end_users.c.competences).where(
                t.end_users.c.tenant_id == str(tenant_id)
            )
        ).all()
    return {uuid.UUID(r.user_id) for r in rows if str(competence_id) in (r.competences or [])}


competences_router = label_router("competence", "competences", "competences")
topics_router = label_router("topic", "topics", "topics")
