"""How often login and password links may be asked, per account and per client address.

The counts are shared by every replica (``shared.ratelimit``: the service's database), so
an HPA adding replicas does not add attempts. Per account stops guessing one password
from many addresses; per address stops one client spraying many accounts or flooding
mailboxes with password links. The address is the client's as seen through the trusted
proxies only (``FORWARDED_ALLOW_IPS``).
"""

from __future__ import annotations

from sqlalchemy import Engine

from services.conversation.store import tables as t
from shared.ratelimit import Limit, SharedLimiter, Verdict


class AccessLimits:
    def __init__(
        self,
        engine: Engine,
        *,
        login_per_account: int,
        login_per_address: int,
        forgot_per_account: int,
        forgot_per_address: int,
    ) -> None:
        self.limiter = SharedLimiter(engine, t.rate_limits)
        self.login_account = Limit("login-account", login_per_account, 60)
        self.login_address = Limit("login-address", login_per_address, 60)
        self.forgot_account = Limit("forgot-account", forgot_per_account, 3600)
        self.forgot_address = Limit("forgot-address", forgot_per_address, 3600)

    def login(self, email: str, address: str) -> Verdict:
        return self.limiter.hit_all(
            [(self.login_account, email.strip().lower()), (self.login_address, address)]
        )

    def forgot_password(self, email: str, address: str) -> Verdict:
        return self.limiter.hit_all(
            [(self.forgot_account, email.strip().lower()), (self.forgot_address, address)]
        )
