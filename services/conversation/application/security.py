"""Passwords and sessions (SPEC §3.1.1): Argon2id hashes, lockout after 5 wrong passwords, opaque tokens.

A session token is 256 random bits given to the client once; only its SHA-256 is
stored, so a leaked table gives no way in. Revocation is a row update, effective at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, insert, select, update

from services.conversation.store import tables as t

MAX_FAILED_ATTEMPTS = 5
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
# OWASP's Argon2id floor: m=19 MiB, t=2, p=1.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
#: Checked against when the email is unknown, so that costs one Argon2 check as well.
DUMMY_HASH = HASHER.hash(secrets.token_urlsafe(16))


class InvalidResetToken(Exception):
    """Unknown, used or expired reset link."""


class LoginFailed(Exception):
    """Wrong email, wrong password or locked account: deliberately indistinguishable."""


@dataclass(frozen=True, slots=True)
class Session:
    user_id: str
    tenant_id: str
    role: str
    expires_at: datetime


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password_rules(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ValueError(
            f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )


class Security:
    def __init__(
        self,
        engine: Engine,
        session_ttl: timedelta = timedelta(hours=12),
        reset_ttl: timedelta = timedelta(hours=1),
    ) -> None:
        self.engine = engine
        self.session_ttl = session_ttl
        self.reset_ttl = reset_ttl

    def set_password(self, tenant_id: str, user_id: str, password: str) -> None:
        """Sets the password, unlocks the account and ends every session of the user."""
        check_password_rules(password)
        hashed = HASHER.hash(password)
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(t.credentials)
                .where(t.credentials.c.user_id == user_id)
                .values(password_hash=hashed, failed_attempts=0, locked=False)
            ).rowcount
            if not changed:
                conn.execute(
                    insert(t.credentials).values(
                        user_id=user_id,
                        tenant_id=tenant_id,
                        password_hash=hashed,
                        failed_attempts=0,
                        locked=False,
                    )
                )
            conn.execute(
                update(t.sessions).where(t.sessions.c.user_id == user_id).values(revoked=True)
            )
            # Every outstanding link of the account dies with the old password.
            conn.execute(
                update(t.reset_tokens)
                .where(t.reset_tokens.c.user_id == user_id, t.reset_tokens.c.used.is_(False))
                .values(used=True)
            )

    def login(self, email: str, password: str) -> tuple[str, Session]:
        """A session for the right password of an unlocked, active account of a live contract.

        Every failure raises the same :class:`LoginFailed`, after the same hashing cost.
        """
        email = email.strip().lower()
        now = datetime.now(UTC)
        c, u = t.credentials.c, t.end_users.c
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(
                    u.user_id,
                    u.tenant_id,
                    u.role,
                    u.active,
                    c.password_hash,
                    c.failed_attempts,
                    c.locked,
                    t.tenants.c.contract_end,
                )
                .join(t.credentials, c.user_id == u.user_id)
                .join(t.tenants, t.tenants.c.tenant_id == u.tenant_id)
                .where(u.email == email)
            ).all()
            rows = [r for r in rows if r.contract_end is None or r.contract_end > now]
            # One Argon2 check per account, locked or inactive too, and one against a dummy
            # hash when the email is unknown: every failure costs the same time.
            checked = [
                (
                    row,
                    _verify(row.password_hash or DUMMY_HASH, password) and bool(row.password_hash),
                )
                for row in rows
            ]
            if not rows:
                _verify(DUMMY_HASH, password)
            # Emails are unique per tenant; one person in two tenants gets the one that fits.
            for row, right in checked:
                if right and not row.locked and row.active:
                    conn.execute(
                        update(t.credentials)
                        .where(c.user_id == row.user_id)
                        .values(failed_attempts=0)
                    )
                    return self._open_session(conn, row.user_id, row.tenant_id, row.role)
            # Lockout per account: only the accounts whose password this was not count it.
            for row, right in checked:
                if right:
                    continue
                attempts = row.failed_attempts + 1
                conn.execute(
                    update(t.credentials)
                    .where(c.user_id == row.user_id)
                    .values(
                        failed_attempts=attempts,
                        locked=row.locked or attempts >= MAX_FAILED_ATTEMPTS,
                    )
                )
        raise LoginFailed

    def _open_session(self, conn, user_id: str, tenant_id: str, role: str) -> tuple[str, Session]:  # type: ignore[no-untyped-def]
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        session = Session(user_id, tenant_id, role, now + self.session_ttl)
        conn.execute(
            insert(t.sessions).values(
                token_hash=token_hash(token),
                user_id=user_id,
                tenant_id=tenant_id,
                role=role,
                created_at=now,
                expires_at=session.expires_at,
                revoked=False,
            )
        )
        return token, session

    def session(self, token: str) -> Session | None:
        """The live session of this token; ended by logout, deactivation, a new password,
        the contract's end, or time. The role is read fresh, so a role change applies at once."""
        now = datetime.now(UTC)
        with self.engine.connect() as conn:
            row = conn.execute(
                select(
                    t.sessions.c.user_id,
                    t.sessions.c.tenant_id,
                    t.sessions.c.expires_at,
                    t.sessions.c.revoked,
                    t.end_users.c.role,
                    t.end_users.c.active,
                    t.tenants.c.contract_end,
                )
                .join(t.end_users, t.end_users.c.user_id == t.sessions.c.user_id)
                .join(t.tenants, t.tenants.c.tenant_id == t.sessions.c.tenant_id)
                .where(t.sessions.c.token_hash == token_hash(token))
            ).first()
        if row is None or row.revoked or not row.active or row.expires_at <= now:
            return None
        if row.contract_end is not None and row.contract_end <= now:
            return None
        return Session(row.user_id, row.tenant_id, row.role, row.expires_at)

    def revoke_user(self, user_id: str) -> None:
        """Ends every session of the user at once (deactivation, deletion)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(t.sessions).where(t.sessions.c.user_id == user_id).values(revoked=True)
            )

    # --- password reset -------------------------------------------------------------------

    def issue_reset_tokens(self, email: str, user_id: object = None) -> list[tuple[str, str]]:
        """A single-use token for each active account with this email (of one person in
        several tenants, each account its own link), or only ``user_id``'s.

        Returns [(user_id, token)]; only the tokens' hashes are stored.
        """
        email = email.strip().lower()
        u = t.end_users.c
        query = (
            select(u.user_id)
            .join(t.tenants, t.tenants.c.tenant_id == u.tenant_id)
            .where(
                u.email == email,
                u.active.is_(True),
                (t.tenants.c.contract_end.is_(None))
                | (t.tenants.c.contract_end > datetime.now(UTC)),
            )
        )
        if user_id is not None:
            query = query.where(u.user_id == str(user_id))
        issued = []
        with self.engine.begin() as conn:
            for row in conn.execute(query).all():
                token = secrets.token_urlsafe(32)  # 256 bits
                conn.execute(
                    insert(t.reset_tokens).values(
                        token_hash=token_hash(token),
                        user_id=row.user_id,
                        expires_at=datetime.now(UTC) + self.reset_ttl,
                        used=False,
                    )
                )
                issued.append((row.user_id, token))
        return issued

    def reset_password(self, token: str, password: str) -> str:
        """Sets the password through a reset token; returns the user id. Unlocks the account."""
        check_password_rules(password)
        with self.engine.begin() as conn:
            row = conn.execute(
                select(t.reset_tokens, t.end_users.c.tenant_id)
                .join(t.end_users, t.end_users.c.user_id == t.reset_tokens.c.user_id)
                .where(t.reset_tokens.c.token_hash == token_hash(token))
            ).first()
            if row is None or row.used or row.expires_at <= datetime.now(UTC):
                raise InvalidResetToken
            used = conn.execute(
                update(t.reset_tokens)
                .where(
                    t.reset_tokens.c.token_hash == row.token_hash, t.reset_tokens.c.used.is_(False)
                )
                .values(used=True)
            ).rowcount
            if used != 1:
                raise InvalidResetToken
        self.set_password(row.tenant_id, row.user_id, password)
        return row.user_id

    def logout(self, token: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(t.sessions)
                .where(t.sessions.c.token_hash == token_hash(token))
                .values(revoked=True)
            )


def _verify(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
