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
``KAFKA_SECURITY_PROTOCOL``  TLS/SASL of the Kafka clients, with ``KAFKA_SASL_*``
                             and ``KAFKA_SSL_*`` (``shared.kafka_security``).
``HTTP_MAX_BODY_BYTES``      Largest request body (1 MB; Meta's webhook: 3 MB).
``FORWARDED_ALLOW_IPS``      Proxies (ingress) trusted for ``X-Forwarded-For``.
``OUTBOUND_ALLOW_NETWORKS``  Internal networks a chatbot URL may resolve to.
``CONSUMER_STALL_SECONDS``   ``/ready`` fails when a consumer had lag and did not
                             advance this long (300).
``INTERACT_ENV``             ``production`` by default: a default or short secret
                             stops the start (``shared.hardening``);
                             ``development`` (run command, tests) allows them.
==========================  =====================================================
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.hardening import refuse_weak_secrets


class ServiceSettings(BaseSettings):
    """What every service needs; each service subclasses it for its own extras."""

    # hide_input_in_errors: a refused setting must not print the secrets in its message.
    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", case_sensitive=False, hide_input_in_errors=True
    )

    service_name: str = "interact"
    #: ``development`` accepts the shipped default secrets; anything else refuses them.
    interact_env: str = "production"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_level: str = "INFO"
    #: The largest request body read (413 above it, refused while streaming).
    http_max_body_bytes: int = Field(default=1_000_000, ge=1024)
    #: Proxies whose ``X-Forwarded-For`` is believed (addresses or networks, comma-separated).
    forwarded_allow_ips: str = "127.0.0.1"
    #: Internal networks outbound calls (chatbots) may reach anyway (``shared.outbound``).
    outbound_allow_networks: str = ""

    kafka_bootstrap_servers: str = "localhost:9092"
    kafka_enable_idempotence: bool = True
    kafka_partitions: int = Field(default=6, ge=1)
    kafka_replication_factor: int = Field(default=1, ge=1)
    #: ``retention.ms`` of the topics we create (see ``shared.topics.RETENTION_MS``).
    kafka_event_retention_ms: int | None = Field(default=None, gt=0)
    kafka_transit_retention_ms: int | None = Field(default=None, gt=0)
    kafka_create_topics: bool = True
    kafka_linger_ms: int = Field(default=5, ge=0)
    #: Bytes a producer gathers per partition into one request. aiokafka has one request in
    #: flight per broker and one batch per partition in it, so with its 16 KiB default ~25
    #: messages ride each round trip whatever the load; 512 KiB lets every message waiting
    #: for the previous ack go in the next request (broker limit: message.max.bytes, 1 MiB).
    kafka_max_batch_bytes: int = Field(default=512 * 1024, ge=1024, le=1024 * 1024)
    #: How long the broker holds an empty fetch. It answers as soon as records arrive, so the
    #: wait costs no latency; it only sets how often an idle consumer asks (an empty fetch is
    #: CPU in the broker and the service). It does delay the re-read after a rewind.
    kafka_fetch_max_wait_ms: int = Field(default=5000, ge=0)
    kafka_max_records: int = Field(default=500, ge=1)
    #: After a poll that brought fewer than ``kafka_max_records``, how long a consumer waits
    #: for what is arriving behind them before applying the batch. Each batch costs a
    #: transaction, a thread hop and an offset commit whatever its size, so under a steady
    #: stream a short wait makes fewer, larger batches (less CPU per message) for a few ms
    #: of latency per hop. Idle it costs nothing: it follows only a poll that had records.
    kafka_consumer_linger_ms: int = Field(default=10, ge=0, le=1000)
    #: How long a consumer may keep applied batches' positions uncommitted. Every handler is
    #: idempotent (applied-event ledgers, derived event ids), so committing after every
    #: batch bought nothing but an OffsetCommit (a write to ``__consumer_offsets``) per batch
    #: per group: under a thin stream that was a good part of the broker's CPU. A crash
    #: redelivers at most this much, which is then skipped; a stop commits at once. 0:
    #: after every batch.
    kafka_commit_interval_ms: int = Field(default=1000, ge=0, le=60_000)
    #: A consumer that had lag and made no progress this long makes ``/ready`` answer 503.
    consumer_stall_seconds: float = Field(default=300.0, gt=0)
    #: Longest pause between two attempts of a failing batch (exponential, with jitter).
    consumer_retry_max_seconds: float = Field(default=30.0, gt=0)

    # TLS and SASL of every Kafka client (shared.kafka_security).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str = ""
    kafka_ssl_certfile: str = ""
    kafka_ssl_keyfile: str = ""

    data_dir: Path = Path("data")
    database_url: str = ""

    @model_validator(mode="after")
    def _no_default_secrets(self) -> ServiceSettings:
        return refuse_weak_secrets(self)

    def sqlalchemy_url(self, name: str) -> str:
        """This service's database: ``DATABASE_URL`` or ``DATA_DIR/<name>.sqlite``."""
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.data_dir / f'{name}.sqlite').resolve()}"
