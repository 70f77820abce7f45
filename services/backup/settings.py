"""Where the databases are and where their backups go, from the environment.

``<SERVICE>_DATABASE_URL`` names each service's database (the keys of the Kubernetes
Secret ``interact-secrets``); empty means the embedded default, the SQLite file
``DATA_DIR/<service>.sqlite`` (and, for conversation, its event store files beside it).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from shared.settings import ServiceSettings

SERVICES = ("conversation", "ingest", "routing", "stats", "billing", "sla")


class BackupSettings(ServiceSettings):
    service_name: str = "backup"
    #: One folder per backup, with its ``manifest.json``; keep it off the databases' disk.
    backup_dir: Path = Path("backups")
    #: Backups older than this are deleted (the newest is always kept): data of a tenant is
    #: deleted 30 days after its contract ends (SPEC §3.4), and so must its copies be.
    backup_retention_days: int = Field(default=30, ge=1)
    #: ``backup --due`` backs up only when the newest backup is older than this.
    backup_interval_days: float = Field(default=7, gt=0)
    #: Copy the blob store's files (attachments) into each backup and back on restore.
    #: ``false``: an S3 bucket whose own versioning or replication is its backup.
    backup_blobs: bool = True
    #: Folder of ``pg_dump`` and ``pg_restore``; empty: found on ``PATH``.
    pg_bin_dir: str = ""

    conversation_database_url: str = ""
    ingest_database_url: str = ""
    routing_database_url: str = ""
    stats_database_url: str = ""
    billing_database_url: str = ""
    sla_database_url: str = ""

    def url_of(self, service: str) -> str:
        """The service's SQLAlchemy URL, as the service itself computes it."""
        own = getattr(self, f"{service}_database_url")
        return own or self.model_copy(update={"database_url": ""}).sqlalchemy_url(service)
