"""One way to dispatch events: a handler table per consumer, its wanted set derived from it.

Consumers used to keep a set of wanted type names beside an ``isinstance`` chain (or an
``_on_<Type>`` lookup), and the two could drift: a type in the set with no branch was
decoded and dropped, a branch missing from the set never ran. Here the table is the only
list: :attr:`Handlers.types` (the ``event-type`` headers the consumer subscribes to, so
others are skipped before decoding) is computed from the registered payload models.

    handlers: Handlers[Connection, None] = Handlers()

    @handlers.on(ev.TenantCreated)
    def _tenant_created(conn: Connection, p: ev.TenantCreated, d: Delivery) -> None: ...

    for delivery in batch:
        handlers.dispatch(conn, delivery)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from shared.events import Payload
from shared.kafka import Delivery

C = TypeVar("C")
R = TypeVar("R")
Handler = Callable[[Any, Any, Delivery], Any]
F = TypeVar("F", bound=Handler)


class Handlers(Generic[C, R]):
    """Payload model -> handler ``(context, payload, delivery) -> result``."""

    def __init__(self) -> None:
        self._table: dict[type[Payload], Handler] = {}
        self._types: frozenset[str] = frozenset()

    def on(self, *models: type[Payload]) -> Callable[[F], F]:
        """Register the decorated function for each of ``models`` (once each)."""

        def register(handler: F) -> F:
            for model in models:
                if model in self._table:
                    raise ValueError(f"{model.__name__} has a handler already")
                self._table[model] = handler
            self._types = frozenset(m.__name__ for m in self._table)
            return handler

        return register

    @property
    def types(self) -> frozenset[str]:
        """The event types handled: what the consumer subscribes to by header."""
        return self._types

    def dispatch(self, context: C, delivery: Delivery) -> R | None:
        """Run the payload's handler; a payload without one is ignored (``None``)."""
        handler = self._table.get(type(delivery.payload))
        if handler is None:
            return None
        return handler(context, delivery.payload, delivery)
