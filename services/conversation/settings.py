"""The conversation service's settings (see ``shared.settings`` for the common ones)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from shared.settings import ServiceSettings


class ConversationSettings(ServiceSettings):
    service_name: str = "conversation"
    http_port: int = 8000
    #: Bearer token of the operator API (tenant onboarding) and the event feed.
    operator_token: SecretStr = SecretStr("change-me-operator-token")
    #: Scoped operator tokens (``shared.hardening``); unset: ``OPERATOR_TOKEN`` opens the scope.
    operator_feed_token: SecretStr | None = None
    operator_onboarding_token: SecretStr | None = None
    operator_desk_token: SecretStr | None = None
    session_ttl_hours: int = 12
    #: The Portal's public address: password links are built from it, never from a request.
    public_base_url: str = "http://127.0.0.1:8080"
    reset_link_minutes: int = 60
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_from: str = "Interact <no-reply@interact.invalid>"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    #: Key that seals channel credentials (ingest needs the same one to open them).
    channel_secrets_key: SecretStr = SecretStr("change-me-channel-secrets-key")
    #: Attachments (docs/attachments.md): the operator's ceiling per file, how long a signed
    #: link to a file works, and clamd for the optional malware scan (empty: none).
    attachment_max_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    attachment_link_seconds: int = Field(default=300, ge=10, le=86_400)
    clamd_address: str = ""
    login_attempts_per_account_per_minute: int = 10
    login_attempts_per_address_per_minute: int = 30
    #: How often the outbox relays and the view projector look for saves made elsewhere
    #: (another replica). A save in this process wakes them at once, so this only bounds
    #: the delay of other replicas' events, and it is what an idle service costs.
    outbox_poll_seconds: float = Field(default=0.5, gt=0)
    #: How often the view projector looks for events no process projected. Every process
    #: projects what it saved itself (into the views all replicas share) before answering,
    #: so this only covers a writer that died in between: seconds are fine, and idle cheap.
    projection_poll_seconds: float = Field(default=5.0, gt=0)
    #: "Forgot password" mails asked per account and per client address (429 above).
    password_links_per_account_per_hour: int = 5
    password_links_per_address_per_hour: int = 20
    #: How often a replica looks whether today's retention purge (SPEC §3.4) is still to
    #: run; one run a day, on one replica (docs/data-lifecycle-purge.md).
    retention_check_seconds: float = Field(default=3600.0, gt=0)
    retention_purge_enabled: bool = True
    #: How long a process keeps a data key (docs/data-lifecycle.md): another replica's
    #: erasure is complete here at most this long after it ran.
    data_key_cache_seconds: float = Field(default=60.0, gt=0)
    #: The erasure log, kept outside the databases and their backups (empty: under
    #: ``DATA_DIR``); a file, or a folder the replicas share (each writes its own file);
    #: ``python -m services.conversation.erasure_cli reapply`` after a restore.
    erasure_log: Path | None = None
    #: How long an erasure waits for the relay and the consumers before it answers that the
    #: transit topics are still to be cut (run it again).
    erasure_wait_seconds: float = Field(default=30.0, gt=0)

    @property
    def erasure_log_path(self) -> Path:
        return self.erasure_log or self.data_dir / "erasures.jsonl"
