"""Search, sort and paginate a view table: one piece for users, competences, topics, FAQ."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, func, or_, select

from shared.http import ApiError


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
) -> tuple[list[Any], int]:
    """Rows matching ``scope`` and a case-insensitive ``search``, sorted (``-name`` = descending).

    The table's key breaks ties, so pages never repeat or skip a row.
    """
    column_name = sort.removeprefix("-")
    if column_name not in sortable:
        raise ApiError(
            422, "invalid_sort", f"Sort by one of: {', '.join(sortable)} (prefix - to reverse)."
        )
    where = list(scope)
    if search:
        escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        where.append(
            or_(*(func.lower(table.c[c]).like(pattern, escape="\\") for c in search_columns))
        )
    column = table.c[column_name]
    order = (column.desc(), table.c[key].desc()) if sort.startswith("-") else (column, table.c[key])
    total = conn.scalar(select(func.count()).select_from(table).where(*where)) or 0
    rows = conn.execute(select(table).where(*where).order_by(*order).offset(offset).limit(limit))
    return list(rows), total
