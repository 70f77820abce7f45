"""Alembic's ``env.py`` for every service: the connection and the schema come from the caller.

``shared.migrations`` puts the service's :class:`~shared.migrations.Schema` and an open
connection in ``config.attributes``; nothing here reads a file or the environment.
"""

from __future__ import annotations

from typing import Any

from alembic import context

from shared.readmodel import UtcDateTime

config = context.config
schema = config.attributes["schema"]
connection = config.attributes["connection"]


def render_item(type_: str, obj: Any, _autogen_context: Any) -> str | bool:
    """A revision names plain SQLAlchemy types, so it stays valid whatever our code becomes."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


context.configure(
    connection=connection,
    target_metadata=list(schema.metadata),
    version_table=schema.version_table,
    include_object=schema.include_object,
    render_as_batch=True,  # SQLite alters a table by copying it; batch mode does that
    compare_type=True,
    compare_server_default=False,
    render_item=render_item,
)

with context.begin_transaction():  # the caller's transaction, when it holds one
    context.run_migrations()
