"""Settings from the environment, with defaults that run the embedded stack on one machine.

Every service reads the same names so that an operator learns them once:

==========================  =====================================================
``KAFKA_BOOTSTRAP_SERVERS``  Kafka brokers (``host:port,...``). Default: local.
``KAFKA_ENABLE_IDEMPOTENCE`` Idempotent producer (``acks=all``). Default on.
``KAFKA_PARTITIONS``         Partitions per topic when a service creates topics.
``DATA_DIR``                 Folder for the SQLite files of the embedded defaults.
``DATABASE_URL``             SQLAlchemy URL of this service's database
                             (``postgresql+psycopg://user:pw@host/db``);
                             empty means a SQLite file under ``DATA_DIR``.
``HTTP_HOST``/``HTTP_PORT``  Where the service's HTTP API listens.
``LOG_LEVEL``                ``INFO`` by default; logs are JSON lines.
==========================  =====================================================
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """What every service needs; each service subclasses it for its own extras."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    service_name: str = "interact"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_level: str = "INFO"

    kafka_bootstrap_servers: str = "localhost:9092"
    kafka_enable_idempotence: bool = True
    kafka_partitions: int = Field(default=6, ge=1)
    kafka_replication_factor: int = Field(default=1, ge=1)
    kafka_create_topics: bool = True
    kafka_linger_ms: int = Field(default=2, ge=0)
    #: Bytes a producer gathers per partition into one request. aiokafka has one request in
    #: flight per broker and one batch per partition in it, so with its 16 KiB default ~25
    #: messages ride each round trip whatever the load; 512 KiB lets every message waiting
    #: for the previous ack go in the next request (broker limit: message.max.bytes, 1 MiB).
    kafka_max_batch_bytes: int = Field(default=512 * 1024, ge=1024, le=1024 * 1024)
    kafka_fetch_max_wait_ms: int = Field(default=1000, ge=0)
    kafka_max_records: int = Field(default=500, ge=1)
    kafka_batch_timeout_ms: int = Field(default=100, ge=0)

    data_dir: Path = Path("data")
    database_url: str = ""

    def sqlalchemy_url(self, name: str) -> str:
        """This service's database: ``DATABASE_URL`` or ``DATA_DIR/<name>.sqlite``."""
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.data_dir / f'{name}.sqlite').resolve()}"
