"""Structured logs (one JSON object per line) and gauges computed when Prometheus scrapes."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, Table, func, select
from sqlalchemy.exc import SQLAlchemyError

_STANDARD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Every field given through ``extra=`` becomes a JSON key, so logs can be queried."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Library chatter stays at WARNING unless asked for.
    for noisy in ("aiokafka", "uvicorn.access", "eventsourcing"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


class TableOutboxBacklog(Collector):
    """``interact_table_outbox_unsent{outbox}``: events of the table outboxes (billing, sla)
    not yet relayed, counted at scrape time. Every replica reads the same table, so
    aggregate with ``max``. An outbox whose database is away is left out; /metrics answers.
    One collector per registry watches every outbox of the process (:func:`watch_outbox`).
    """

    NAME = "interact_table_outbox_unsent"

    def __init__(self) -> None:
        self.outboxes: dict[str, tuple[Engine, Table]] = {}

    def watch(self, name: str, engine: Engine, outbox: Table) -> None:
        self.outboxes[name] = (engine, outbox)

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            self.NAME, "Events in a table outbox not yet relayed to Kafka.", labels=["outbox"]
        )

    def describe(self) -> list[GaugeMetricFamily]:
        return [self._family()]  # no query while registering

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = self._family()
        for name, (engine, outbox) in sorted(self.outboxes.items()):
            query = select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))
            try:
                with engine.connect() as conn:
                    family.add_metric([name], conn.execute(query).scalar_one())
            except SQLAlchemyError:
                logging.getLogger(__name__).debug("outbox %s not counted", name, exc_info=True)
        yield family


_BACKLOGS: dict[int, TableOutboxBacklog] = {}


def watch_outbox(
    name: str, engine: Engine, outbox: Table, registry: CollectorRegistry = REGISTRY
) -> None:
    """Counts ``outbox``'s unsent rows in ``registry`` as ``interact_table_outbox_unsent``."""
    backlog = _BACKLOGS.get(id(registry))
    if backlog is None:
        backlog = _BACKLOGS[id(registry)] = TableOutboxBacklog()
        registry.register(backlog)
    backlog.watch(name, engine, outbox)
