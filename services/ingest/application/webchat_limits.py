"""How much one visitor, one address and one website may send (docs/security.md, T3).

A widget key is public (it is in the page), so anyone can script it: without limits one
script floods every agent's queue. Counted in ingest's database (``shared.ratelimit``),
so every replica sees the same counts:

- messages per visitor (the visitor id is the client's choice, hence also...),
- messages per client address (...per address, as seen through trusted proxies), and
- messages per widget key (a ceiling for the whole website, whatever the spread);
- sockets opened per address and per key.

Over a limit: HTTP 429 with ``Retry-After``; on a socket an ``error`` frame
``rate_limited`` with ``retry_after`` (the message is not acknowledged, so the widget
sends it again later: nothing acknowledged is lost).
"""

from __future__ import annotations

from sqlalchemy import Engine, Table

from services.ingest.settings import WidgetLimitSettings
from shared.ratelimit import CoalescingLimiter, Limit, SharedLimiter, Verdict

__all__ = ["WidgetLimitSettings", "WidgetLimits", "lifted_environment"]


def lifted_environment() -> dict[str, str]:
    """The environment that lifts every widget limit: for load tests and benchmarks, which
    send thousands of messages from one address to measure something else."""
    return {f"WEBCHAT_{name.upper()}": str(10**9) for name in WidgetLimitSettings.model_fields}


class WidgetLimits:
    def __init__(self, engine: Engine, table: Table, settings: WidgetLimitSettings) -> None:
        self.limiter = SharedLimiter(engine, table)
        #: Checks arriving together are counted in one transaction (see shared.ratelimit).
        self.coalesced = CoalescingLimiter(self.limiter)
        self.per_visitor = Limit("chat-visitor", settings.messages_per_visitor_per_minute)
        self.per_address = Limit("chat-address", settings.messages_per_address_per_minute)
        self.per_key = Limit("chat-key", settings.messages_per_key_per_minute)
        self.sockets_per_address = Limit("socket-address", settings.sockets_per_address_per_minute)
        self.sockets_per_key = Limit("socket-key", settings.sockets_per_key_per_minute)

    async def message(self, public_key: str, visitor_id: str, address: str) -> Verdict:
        return await self.coalesced.hit_all(
            [
                (self.per_visitor, f"{public_key}:{visitor_id}"),
                (self.per_address, address),
                (self.per_key, public_key),
            ]
        )

    async def socket(self, public_key: str, address: str) -> Verdict:
        return await self.coalesced.hit_all(
            [(self.sockets_per_address, address), (self.sockets_per_key, public_key)]
        )
