"""The read side of the conversation service: what the Portal shows, read from the views.

Every read here is plain SQL against the view tables (``store.tables``), scoped by tenant,
and answers simple types (rows, dicts, ids). Another tenant's id is answered exactly like
an unknown one (``not_found``), so existence does not leak. The use cases read the views
through this module too (known ids, who holds a conversation), never with SQL of their own.

Competences: a conversation's required competences are competence ids, the identity end
users and routing use too. The name is looked up when the conversation is read, so a
rename shows at once and changes nothing else, and a deleted competence drops out of the
list. Conversations recorded before competences were ids hold names; those are resolved by
name (names are unique within a tenant), the same way routing maps them.

History searches the indexed views (conversations, conversation_labels, visitors,
end_users), never the event log: every filter is an indexed equality or a bounded ``LIKE``
inside one tenant.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Row,
    Table,
    and_,
    exists,
    func,
    or_,
    select,
)

from services.conversation.store import tables as t
from services.conversation.store.positions import read_position
from shared.errors import Refusal, not_found
from shared.events import HANDLING_ROLES, HELD_STATUSES, ConversationStatus

#: Handled conversations: what History shows.
HANDLED_STATUSES = (ConversationStatus.CLOSED, ConversationStatus.ARCHIVED)
#: History's sort keys -> the view's columns.
HISTORY_SORTS = {
    "opened_at": t.conversations.c.opened_at,
    "closed_at": t.conversations.c.closed_at,
    "language": t.conversations.c.language,
    "channel": t.conversations.c.channel_type,
}


@dataclass(frozen=True, slots=True)
class Found:
    """One page of a listing: its items and how many match in all."""

    items: list[Any]
    total: int


@dataclass(frozen=True, slots=True)
class ConversationRead:
    """A conversation with its messages, notes and files, as the views hold them."""

    conversation: dict[str, Any]
    messages: list[Row]
    notes: list[Row]
    attachments: list[Row]


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    """What History may be searched by (every part optional; names match on any part)."""

    channel_id: uuid.UUID | None = None
    language: str | None = None
    topic: str | None = None
    competence: str | None = None
    end_user: str | None = None
    visitor: str | None = None
    opened_from: datetime | None = None
    opened_to: datetime | None = None
    sort: str = "-opened_at"


@dataclass(frozen=True, slots=True)
class ListFilter:
    """A search (case-insensitive, on any part), a sort (``-name`` = descending), a page."""

    search: str | None = None
    sort: str = "name"
    offset: int = 0
    limit: int = 50
    where: dict[str, Any] = field(default_factory=dict)


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def page(
    conn: Connection,
    table: Table,
    scope: Sequence[ColumnElement[bool]],
    *,
    search: str | None,
    search_columns: Sequence[str],
    sort: str,
    sortable: Sequence[str],
    key: str,
    offset: int,
    limit: int,
) -> Found:
    """Rows matching ``scope`` and a case-insensitive ``search``, sorted (``-name`` = descending).

    The table's key breaks ties, so pages never repeat or skip a row.
    """
    column_name = sort.removeprefix("-")
    if column_name not in sortable:
        raise Refusal(
            "invalid_sort",
            f"Sort by one of: {', '.join(sortable)} (prefix - to reverse).",
            kind="invalid",
        )
    where = list(scope)
    if search:
        pattern = _like(search)
        where.append(
            or_(*(func.lower(table.c[c]).like(pattern, escape="\\") for c in search_columns))
        )
    column = table.c[column_name]
    order = (column.desc(), table.c[key].desc()) if sort.startswith("-") else (column, table.c[key])
    total = conn.scalar(select(func.count()).select_from(table).where(*where)) or 0
    rows = conn.execute(select(table).where(*where).order_by(*order).offset(offset).limit(limit))
    return Found(list(rows), total)


class Queries:
    """The Portal's reads. Synchronous (callers run them off the event loop)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- the tenant ------------------------------------------------------------------

    def tenant_settings(self, tenant_id: uuid.UUID) -> Row:
        """The tenant's row of the views (settings, office hours, languages)."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(t.tenants).where(t.tenants.c.tenant_id == str(tenant_id))
            ).one()

    def routing_enabled(self, tenant_id: uuid.UUID) -> bool:
        with self.engine.connect() as conn:
            return _routing_enabled(conn, tenant_id)

    def languages(self, tenant_id: uuid.UUID) -> list[str]:
        """The languages the tenant offers (general settings)."""
        with self.engine.connect() as conn:
            return list(
                conn.scalar(
                    select(t.tenants.c.languages).where(t.tenants.c.tenant_id == str(tenant_id))
                )
                or []
            )

    # --- conversations ---------------------------------------------------------------

    def queue(self, tenant_id: uuid.UUID, user_id: uuid.UUID, offset: int, limit: int) -> Found:
        """Open conversations assigned to the user and, when routing is off, the tenant's
        shared waiting queue; oldest first."""
        c = t.conversations
        mine = and_(c.c.assignee_id == str(user_id), c.c.status.in_(HELD_STATUSES))
        shared = and_(c.c.assignee_id.is_(None), c.c.status == ConversationStatus.WAITING)
        with self.engine.connect() as conn:
            routing = _routing_enabled(conn, tenant_id)
            scope = and_(c.c.tenant_id == str(tenant_id), mine if routing else or_(mine, shared))
            return _conversations(conn, tenant_id, scope, _oldest_first(), offset, limit)

    def open_conversations(
        self, tenant_id: uuid.UUID, statuses: Iterable[str], offset: int, limit: int
    ) -> Found:
        """The tenant's open conversations in these statuses, oldest first (dispatch)."""
        c = t.conversations
        scope = and_(c.c.tenant_id == str(tenant_id), c.c.status.in_(tuple(statuses)))
        with self.engine.connect() as conn:
            return _conversations(conn, tenant_id, scope, _oldest_first(), offset, limit)

    def conversation(self, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> ConversationRead:
        """The conversation with its messages (oldest first), notes and files."""
        c, m, n, a = t.conversations, t.messages, t.notes, t.attachments
        cid, tenant = str(conversation_id), str(tenant_id)
        with self.engine.connect() as conn:
            row = conn.execute(
                select(c).where(c.c.conversation_id == cid, c.c.tenant_id == tenant)
            ).first()
            if row is None:
                raise not_found("conversation")
            messages = conn.execute(
                select(m).where(m.c.conversation_id == cid).order_by(m.c.at, m.c.message_id)
            ).all()
            notes = conn.execute(select(n).where(n.c.conversation_id == cid).order_by(n.c.at)).all()
            files = conn.execute(
                select(a)
                .where(a.c.conversation_id == cid, a.c.tenant_id == tenant)
                .order_by(a.c.message_id, a.c.position)
            ).all()
            (shown,) = _shown(conn, tenant_id, [row])
        return ConversationRead(shown, list(messages), list(notes), list(files))

    def holder(self, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> str | None:
        """Who has the conversation now (``not_found`` if it is not this tenant's)."""
        c = t.conversations
        with self.engine.connect() as conn:
            row = conn.execute(
                select(c.c.assignee_id).where(
                    c.c.conversation_id == str(conversation_id), c.c.tenant_id == str(tenant_id)
                )
            ).first()
        if row is None:
            raise not_found("conversation")
        return row.assignee_id

    def channel_type(self, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> str:
        """The conversation's channel type (``not_found`` if it is not this tenant's)."""
        c = t.conversations
        with self.engine.connect() as conn:
            found = conn.scalar(
                select(c.c.channel_type).where(
                    c.c.conversation_id == str(conversation_id), c.c.tenant_id == str(tenant_id)
                )
            )
        if found is None:
            raise not_found("conversation")
        return str(found)

    def attachment_max_bytes(self, tenant_id: uuid.UUID) -> int | None:
        """The tenant's own file size limit (None: the operator's)."""
        with self.engine.connect() as conn:
            return conn.scalar(
                select(t.tenants.c.attachment_max_bytes).where(
                    t.tenants.c.tenant_id == str(tenant_id)
                )
            )

    def attachment(self, tenant_id: uuid.UUID | str, attachment_id: uuid.UUID | str) -> Row | None:
        """A sent or received file's keys and names (None: not in a message, or erased)."""
        a = t.attachments
        with self.engine.connect() as conn:
            return conn.execute(
                select(a.c.blob_key, a.c.thumbnail_key, a.c.file_name, a.c.content_type, a.c.kind)
                .where(a.c.tenant_id == str(tenant_id), a.c.attachment_id == str(attachment_id))
                .limit(1)
            ).first()

    def in_queue_of(
        self, tenant_id: uuid.UUID, user_id: uuid.UUID, conversation_ids: Iterable[str]
    ) -> set[str]:
        """Which of these conversations the user's queue holds now: theirs and, when
        routing is off, the shared queue's (what an Agent's live stream follows)."""
        c = t.conversations
        me = str(user_id)
        with self.engine.connect() as conn:
            routing = _routing_enabled(conn, tenant_id)
            rows = conn.execute(
                select(c.c.conversation_id, c.c.assignee_id, c.c.status).where(
                    c.c.conversation_id.in_(list(conversation_ids)),
                    c.c.tenant_id == str(tenant_id),
                )
            ).all()
        return {
            r.conversation_id
            for r in rows
            if r.assignee_id == me
            or (not routing and r.status == ConversationStatus.WAITING and r.assignee_id is None)
        }

    def projected(self, application_name: str) -> int:
        """How far the views have got in an application's notification log."""
        with self.engine.connect() as conn:
            return read_position(conn, f"views:{application_name}")

    def history(
        self, tenant_id: uuid.UUID, wanted: HistoryFilter, offset: int, limit: int
    ) -> Found:
        """Closed and archived conversations; ``opened_from`` inclusive, ``opened_to``
        exclusive. Names match case-insensitively on any part."""
        c, v, eu = t.conversations, t.visitors, t.end_users
        tenant = str(tenant_id)
        where = [c.c.tenant_id == tenant, c.c.status.in_(HANDLED_STATUSES)]
        if wanted.channel_id:
            where.append(c.c.channel_id == str(wanted.channel_id))
        if wanted.language:
            where.append(c.c.language == wanted.language)
        if wanted.topic:
            where.append(_labelled(tenant, "topic", [wanted.topic]))
        if wanted.end_user:
            pattern = _like(wanted.end_user)
            where.append(
                c.c.assignee_id.in_(
                    select(eu.c.user_id).where(
                        eu.c.tenant_id == tenant,
                        or_(
                            func.lower(eu.c.first_name + " " + eu.c.last_name).like(
                                pattern, escape="\\"
                            ),
                            func.lower(eu.c.last_name).like(pattern, escape="\\"),
                        ),
                    )
                )
            )
        if wanted.visitor:
            pattern = _like(wanted.visitor)
            where.append(
                c.c.visitor_id.in_(
                    select(v.c.visitor_id).where(
                        v.c.tenant_id == tenant,
                        or_(
                            func.lower(func.coalesce(v.c.name, "")).like(pattern, escape="\\"),
                            func.lower(
                                func.coalesce(v.c.first_name, "")
                                + " "
                                + func.coalesce(v.c.last_name, "")
                            ).like(pattern, escape="\\"),
                        ),
                    )
                )
            )
        if wanted.opened_from:
            where.append(c.c.opened_at >= wanted.opened_from)
        if wanted.opened_to:
            where.append(c.c.opened_at < wanted.opened_to)
        column = HISTORY_SORTS[wanted.sort.lstrip("-")]
        order = [
            column.desc() if wanted.sort.startswith("-") else column.asc(),
            c.c.conversation_id,
        ]
        with self.engine.connect() as conn:
            if wanted.competence:
                keys = _competence_keys(conn, tenant, wanted.competence)
                where.append(_labelled(tenant, "competence", keys))
            return _conversations(conn, tenant_id, and_(*where), order, offset, limit)

    def visitor(
        self, tenant_id: uuid.UUID, visitor_id: uuid.UUID
    ) -> tuple[Row, list[dict[str, Any]]]:
        """The visitor and their conversations on this channel (newest first, at most 100)."""
        v, c = t.visitors, t.conversations
        with self.engine.connect() as conn:
            row = conn.execute(
                select(v).where(v.c.visitor_id == str(visitor_id), v.c.tenant_id == str(tenant_id))
            ).first()
            if row is None:
                raise not_found("visitor")
            earlier = conn.execute(
                select(c)
                .where(c.c.visitor_id == str(visitor_id), c.c.tenant_id == str(tenant_id))
                .order_by(c.c.opened_at.desc())
                .limit(100)
            ).all()
            return row, _shown(conn, tenant_id, earlier)

    # --- end users -------------------------------------------------------------------

    def end_users(
        self,
        tenant_id: uuid.UUID,
        wanted: ListFilter,
        sortable: Sequence[str],
    ) -> Found:
        """The tenant's end users: ``wanted.where`` narrows by role and mother tongue; the
        search looks at first name, last name and email."""
        eu = t.end_users
        scope = [eu.c.tenant_id == str(tenant_id)]
        scope += [eu.c[column] == value for column, value in wanted.where.items() if value]
        with self.engine.connect() as conn:
            return page(
                conn,
                eu,
                scope,
                search=wanted.search,
                search_columns=("first_name", "last_name", "email"),
                sort=wanted.sort,
                sortable=sortable,
                key="user_id",
                offset=wanted.offset,
                limit=wanted.limit,
            )

    def end_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> Row:
        eu = t.end_users
        with self.engine.connect() as conn:
            row = conn.execute(
                select(eu).where(eu.c.tenant_id == str(tenant_id), eu.c.user_id == str(user_id))
            ).first()
        if row is None:
            raise not_found("end user")
        return row

    def email_holder(self, tenant_id: uuid.UUID, email: str) -> str | None:
        """The end user of the tenant with this email, as the views know it."""
        eu = t.end_users
        with self.engine.connect() as conn:
            return conn.scalar(
                select(eu.c.user_id).where(
                    eu.c.tenant_id == str(tenant_id), eu.c.email == email.lower()
                )
            )

    def colleagues(self, tenant_id: uuid.UUID) -> list[Row]:
        """The tenant's active people who handle conversations, by name."""
        u = t.end_users.c
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(t.end_users)
                    .where(u.tenant_id == str(tenant_id), u.active, u.role.in_(HANDLING_ROLES))
                    .order_by(u.first_name, u.last_name, u.user_id)
                ).all()
            )

    def handler(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> Row | None:
        """An end user's role and whether they are active (None: not this tenant's)."""
        eu = t.end_users
        with self.engine.connect() as conn:
            return conn.execute(
                select(eu.c.role, eu.c.active).where(
                    eu.c.user_id == str(user_id), eu.c.tenant_id == str(tenant_id)
                )
            ).first()

    def names(self, tenant_id: uuid.UUID, user_ids: Iterable[str | None]) -> dict[str, str]:
        """End user id -> "first last", for the ids that are this tenant's."""
        ids = {i for i in user_ids if i is not None}
        u = t.end_users
        with self.engine.connect() as conn:
            return {
                r.user_id: f"{r.first_name} {r.last_name}"
                for r in conn.execute(
                    select(u.c.user_id, u.c.first_name, u.c.last_name).where(
                        u.c.tenant_id == str(tenant_id), u.c.user_id.in_(ids)
                    )
                )
            }

    def roles(self, tenant_id: uuid.UUID) -> dict[str, str]:
        """End user id -> role, for the whole tenant."""
        eu = t.end_users
        with self.engine.connect() as conn:
            return dict(
                conn.execute(
                    select(eu.c.user_id, eu.c.role).where(eu.c.tenant_id == str(tenant_id))
                ).all()
            )

    def competence_holders(self, tenant_id: uuid.UUID, competence_id: uuid.UUID) -> list[Row]:
        """The tenant's end users who have the competence."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.end_users).where(t.end_users.c.tenant_id == str(tenant_id))
            ).all()
        return [r for r in rows if str(competence_id) in (r.competences or [])]

    # --- competences, topics, channels, FAQ ------------------------------------------

    def labels(self, kind: str, tenant_id: uuid.UUID, wanted: ListFilter) -> Found:
        """The tenant's competences or topics, searched by name."""
        lb = t.labels
        with self.engine.connect() as conn:
            return page(
                conn,
                lb,
                [lb.c.tenant_id == str(tenant_id), lb.c.kind == kind],
                search=wanted.search,
                search_columns=("name",),
                sort=wanted.sort,
                sortable=("name",),
                key="label_id",
                offset=wanted.offset,
                limit=wanted.limit,
            )

    def label(self, kind: str, tenant_id: uuid.UUID, label_id: uuid.UUID) -> Row:
        lb = t.labels
        with self.engine.connect() as conn:
            row = conn.execute(
                select(lb).where(
                    lb.c.tenant_id == str(tenant_id),
                    lb.c.kind == kind,
                    lb.c.label_id == str(label_id),
                )
            ).first()
        if row is None:
            raise not_found(kind)
        return row

    def label_holder(self, kind: str, tenant_id: uuid.UUID, name: str) -> str | None:
        """The label of this kind with this name, as the views know it."""
        lb = t.labels
        with self.engine.connect() as conn:
            return conn.scalar(
                select(lb.c.label_id).where(
                    lb.c.tenant_id == str(tenant_id), lb.c.kind == kind, lb.c.name == name
                )
            )

    def label_names(self, kind: str, tenant_id: uuid.UUID, names: Iterable[str]) -> set[str]:
        """Which of ``names`` are labels of this kind of the tenant."""
        lb = t.labels
        with self.engine.connect() as conn:
            return set(
                conn.scalars(
                    select(lb.c.name).where(
                        lb.c.tenant_id == str(tenant_id),
                        lb.c.kind == kind,
                        lb.c.name.in_(list(names)),
                    )
                )
            )

    def label_ids(
        self, kind: str, tenant_id: uuid.UUID, among: Iterable[str] | None = None
    ) -> set[str]:
        """The ids of the tenant's labels of this kind (only those ``among``, if given)."""
        lb = t.labels
        where = [lb.c.tenant_id == str(tenant_id), lb.c.kind == kind]
        if among is not None:
            where.append(lb.c.label_id.in_([str(i) for i in among]))
        with self.engine.connect() as conn:
            return set(conn.scalars(select(lb.c.label_id).where(*where)))

    def channels(self, tenant_id: uuid.UUID) -> list[Row]:
        """The tenant's channels by name."""
        ch = t.channels
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(ch)
                    .where(ch.c.tenant_id == str(tenant_id))
                    .order_by(ch.c.name, ch.c.channel_id)
                ).all()
            )

    def channel(self, tenant_id: uuid.UUID, channel_id: uuid.UUID) -> Row:
        ch = t.channels
        with self.engine.connect() as conn:
            row = conn.execute(
                select(ch).where(
                    ch.c.tenant_id == str(tenant_id), ch.c.channel_id == str(channel_id)
                )
            ).first()
        if row is None:
            raise not_found("channel")
        return row

    def channel_ids(self, tenant_id: uuid.UUID) -> set[str]:
        with self.engine.connect() as conn:
            return set(
                conn.scalars(
                    select(t.channels.c.channel_id).where(t.channels.c.tenant_id == str(tenant_id))
                )
            )

    def channels_using(self, external_id: str, channel_types: Iterable[str]) -> list[Row]:
        """Connected channels of any tenant that use this account outside (page, number)."""
        ch = t.channels.c
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(ch.channel_id, ch.tenant_id, ch.channel_type).where(
                        ch.external_id == external_id,
                        ch.channel_type.in_(list(channel_types)),
                        ch.connected.is_(True),
                    )
                ).all()
            )

    def chatbots(self, tenant_id: uuid.UUID) -> list[Row]:
        """The tenant's channels that have a bot."""
        ch = t.channels
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(ch).where(
                        ch.c.tenant_id == str(tenant_id), ch.c.chatbot_platform.is_not(None)
                    )
                ).all()
            )

    def faq(self, search: str | None, offset: int, limit: int) -> Found:
        with self.engine.connect() as conn:
            return page(
                conn,
                t.faq,
                [],
                search=search,
                search_columns=("question", "answer"),
                sort="question",
                sortable=("question",),
                key="entry_id",
                offset=offset,
                limit=limit,
            )


# --- pieces ----------------------------------------------------------------------------


def _routing_enabled(conn: Connection, tenant_id: uuid.UUID) -> bool:
    return bool(
        conn.scalar(
            select(t.tenants.c.routing_enabled).where(t.tenants.c.tenant_id == str(tenant_id))
        )
    )


def _oldest_first() -> list[Any]:
    c = t.conversations
    return [c.c.opened_at, c.c.conversation_id]


def _conversations(
    conn: Connection,
    tenant_id: uuid.UUID,
    scope: ColumnElement[bool],
    order: list[Any],
    offset: int,
    limit: int,
) -> Found:
    c = t.conversations
    total = conn.scalar(select(func.count()).select_from(c).where(scope)) or 0
    rows = conn.execute(select(c).where(scope).order_by(*order).offset(offset).limit(limit)).all()
    return Found(_shown(conn, tenant_id, rows), total)


def _shown(conn: Connection, tenant_id: uuid.UUID, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """Rows of the conversations view with their competences resolved (one lookup per page):
    ``required_competences`` the ids, ``competences`` ``{"id", "name"}`` of each."""
    known = _resolve(conn, tenant_id, (v for r in rows for v in r.required_competences or []))
    shown = []
    for row in rows:
        data = dict(row._mapping)
        refs: dict[uuid.UUID, dict[str, Any]] = {}
        for value in data.pop("required_competences") or []:
            if (ref := known.get(value)) is not None:
                refs[ref["id"]] = ref
        shown.append(
            {**data, "required_competences": list(refs), "competences": list(refs.values())}
        )
    return shown


def _resolve(
    conn: Connection, tenant_id: uuid.UUID, values: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """Each stored value (an id, or a name in older conversations) -> the competence now."""
    wanted = {str(v) for v in values}
    if not wanted:
        return {}
    lb = t.labels
    rows = conn.execute(
        select(lb.c.label_id, lb.c.name).where(
            lb.c.tenant_id == str(tenant_id),
            lb.c.kind == "competence",
            or_(lb.c.label_id.in_(wanted), lb.c.name.in_(wanted)),
        )
    )
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        ref = {"id": uuid.UUID(row.label_id), "name": row.name}
        for key in (row.label_id, row.name):
            if key in wanted:
                found[key] = ref
    return found


def _labelled(tenant: str, kind: str, keys: list[str]):  # type: ignore[no-untyped-def]
    cl = t.conversation_labels
    return exists().where(
        cl.c.conversation_id == t.conversations.c.conversation_id,
        cl.c.tenant_id == tenant,
        cl.c.kind == kind,
        cl.c.name.in_(keys),
    )


def _competence_keys(conn: Connection, tenant: str, competence: str) -> list[str]:
    """What a conversation's competence rows may hold for this filter: the competence's id
    and, for conversations recorded before competences were ids, its name. The filter is an
    id or a name (names are unique within a tenant, so a name means one competence)."""
    lb = t.labels
    try:
        competence = str(uuid.UUID(competence))
        match = lb.c.label_id == competence
    except ValueError:
        match = lb.c.name == competence
    row = conn.execute(
        select(lb.c.label_id, lb.c.name).where(
            lb.c.tenant_id == tenant, lb.c.kind == "competence", match
        )
    ).first()
    return [competence] if row is None else [row.label_id, row.name]
