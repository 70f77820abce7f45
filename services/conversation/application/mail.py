"""Outgoing email (password links) through a real SMTP client.

The link is built from the configured public base URL, never from a request's Host
header, so a forged Host cannot point a reset link at another site.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage

import aiosmtplib

log = logging.getLogger(__name__)


class Mailer:
    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        public_base_url: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.public_base_url = public_base_url.rstrip("/")
        self.username, self.password, self.starttls = username, password, starttls

    def password_link(self, token: str) -> str:
        return f"{self.public_base_url}/reset-password?token={token}"

    async def send_password_link(self, to: str, token: str, first_time: bool) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = (
            "Set your Interact password" if first_time else "Reset your Interact password"
        )
        message.set_content(
            ("Welcome to Interact.\n\n" if first_time else "")
            + "Choose your password with this link (valid for a limited time, once):\n\n"
            + f"{self.password_link(token)}\n\n"
            + "If you did not ask for this, you can ignore this email.\n"
        )
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                start_tls=self.starttls,
                timeout=10,
            )
        except (aiosmtplib.SMTPException, OSError):
            # The caller's answer must not reveal whether the address exists; log for operators.
            log.warning(
                "password email could not be sent", extra={"smtp": f"{self.host}:{self.port}"}
            )
