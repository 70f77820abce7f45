"""Which addresses Interact may call on a tenant's behalf (chatbot webhooks, any future
callback): never the machine itself, the cluster or the cloud's metadata service
(docs/security.md, T5: server-side request forgery).

A tenant administrator chooses a chatbot's URL; without this check they could make the
service post to ``http://169.254.169.254/`` (cloud credentials), to a database or admin
port in the cluster, or to ``localhost``. A URL is refused when its host *resolves* to an
address that is not globally routable (loopback, link-local, private, shared/CGNAT,
reserved, multicast, unspecified: :attr:`ipaddress.IPv4Address.is_global` is false) unless
the operator lists its network in ``OUTBOUND_ALLOW_NETWORKS``; in development mode
loopback is allowed too, so the demo and the tests can run a bot on the same machine.

The check runs where the URL is configured (a clear 422 to the administrator) and again
before every call (DNS may have changed since); redirects are never followed, and the
egress NetworkPolicy in ``deploy/k8s/`` is the second fence.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
#: Internal although some Python versions call parts of them global (IETF protocol
#: assignments such as 192.0.0.9/10 are not on the public internet).
ALSO_INTERNAL = (ipaddress.ip_network("192.0.0.0/24"),)


class RefusedDestination(ValueError):
    """The URL may not be called; the message says why (never what is there)."""


def parse_networks(text: str) -> tuple[IpNetwork, ...]:
    """``OUTBOUND_ALLOW_NETWORKS``: comma-separated addresses or CIDR networks."""
    return tuple(
        ipaddress.ip_network(p.strip(), strict=False) for p in text.split(",") if p.strip()
    )


@dataclass(frozen=True)
class OutboundPolicy:
    allowed: tuple[IpNetwork, ...] = field(default_factory=tuple)

    @classmethod
    def from_settings(cls, settings: object) -> OutboundPolicy:
        allowed = parse_networks(getattr(settings, "outbound_allow_networks", ""))
        if getattr(settings, "interact_env", "") == "development":
            allowed += LOOPBACK
        return cls(allowed)

    def address_allowed(self, address: IpAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if any(address in network for network in self.allowed):
            return True
        if any(address in network for network in ALSO_INTERNAL):
            return False
        return address.is_global and not address.is_multicast

    async def check(self, url: str, *, unresolved_ok: bool = False) -> None:
        """Raises :class:`RefusedDestination` unless every address of the host may be called.

        ``unresolved_ok``: where a URL is configured, a name that does not resolve yet (a
        bot not deployed yet) is accepted; the check before each call refuses it then if
        it resolves inside."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RefusedDestination("only http and https URLs with a host can be called")
        if parts.username or parts.password:
            raise RefusedDestination("credentials in the URL are not accepted")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise RefusedDestination("the URL's port is not valid") from None
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                parts.hostname, port, type=socket.SOCK_STREAM
            )
        except (socket.gaierror, UnicodeError):
            if unresolved_ok:
                return
            raise RefusedDestination("the URL's host cannot be resolved") from None
        for info in infos:
            address = ipaddress.ip_address(info[4][0].split("%")[0])
            if not self.address_allowed(address):
                raise RefusedDestination(
                    "the URL's host resolves to a loopback, private, link-local or other "
                    "internal address; an operator can allow it with OUTBOUND_ALLOW_NETWORKS"
                )
