"""Small rules: a conversation's language, where the event store lives, JSON log lines."""

from __future__ import annotations

import json
import logging
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.conversation.application.conversations import language_of
from services.conversation.application.eventstore import event_store_env
from shared.observability import JsonFormatter

# --- language_of ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "default", "expected"),
    [
        (None, "nl", "nl"),
        ("", "fr", "fr"),
        ("nl_BE", "fr", "nl"),
        ("fr-BE", "nl", "fr"),
        ("fr_be", "nl", "fr"),
        ("EN", "nl", "en"),
        ("en-US", "nl", "en"),
        ("De_de", "nl", "de"),
        ("pt_BR", "nl", "pt"),
        ("zh-Hant-TW", "nl", "zh"),
        ("it", "nl", "it"),
        ("_BE", "de", "de"),
        ("-BE", "de", "de"),
    ],
)
def test_language_of(locale: str | None, default: str, expected: str) -> None:
    assert language_of(locale, default) == expected


# --- event_store_env --------------------------------------------------------------------

COMMON = {"AGGREGATE_CACHE_MAXSIZE": "20000", "AGGREGATE_CACHE_FASTFORWARD": "y"}
SQLITE_EVENT_STORE = "services.conversation.application.eventstore:SQLiteEventStore"


def test_the_sqlite_event_store_syncs_like_the_read_models(tmp_path: Path) -> None:
    """WAL with synchronous=NORMAL (1): a commit waits for no disk sync (docs in eventstore)."""
    from eventsourcing.application import Application

    app = Application(env=event_store_env("", tmp_path, "conversations"))
    with app.recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA synchronous")
        assert cursor.fetchone()[0] == 1


@pytest.mark.parametrize("application", ["conversations", "directory"])
def test_empty_database_url_is_a_sqlite_file_per_application_under_data_dir(
    tmp_path: Path, application: str
) -> None:
    data_dir = tmp_path / "not" / "yet" / "there"
    env = event_store_env("", data_dir, application)
    assert env == COMMON | {
        "PERSISTENCE_MODULE": SQLITE_EVENT_STORE,
        "SQLITE_DBNAME": str((data_dir / f"{application}-events.sqlite").resolve()),
    }
    assert data_dir.is_dir()


def test_sqlite_url_puts_the_files_in_its_directory(tmp_path: Path) -> None:
    target = tmp_path / "abs" / "path"
    url = f"sqlite:///{target}/x.sqlite"
    assert url.startswith("sqlite:////")  # an absolute path
    data_dir = tmp_path / "data"
    first = event_store_env(url, data_dir, "conversations")
    second = event_store_env(url, data_dir, "directory")
    assert first["PERSISTENCE_MODULE"] == second["PERSISTENCE_MODULE"] == SQLITE_EVENT_STORE
    assert Path(first["SQLITE_DBNAME"]).parent == target.resolve()
    assert Path(second["SQLITE_DBNAME"]).parent == target.resolve()
    assert first["SQLITE_DBNAME"] != second["SQLITE_DBNAME"]  # a file per application
    assert "conversations" in Path(first["SQLITE_DBNAME"]).name
    assert target.is_dir()
    assert not data_dir.exists()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            "postgresql+psycopg://u:p%40ss@h:5433/db",
            {
                "POSTGRES_DBNAME": "db",
                "POSTGRES_HOST": "h",
                "POSTGRES_PORT": "5433",
                "POSTGRES_USER": "u",
                "POSTGRES_PASSWORD": "p@ss",
            },
            id="quoted-password-and-port",
        ),
        pytest.param(
            "postgresql://interact@db.internal/events",
            {
                "POSTGRES_DBNAME": "events",
                "POSTGRES_HOST": "db.internal",
                "POSTGRES_PORT": "5432",
                "POSTGRES_USER": "interact",
                "POSTGRES_PASSWORD": "",
            },
            id="defaults",
        ),
        pytest.param(
            "postgres://us%3Aer:s%2Fe%3Acret%25@10.0.0.5:6543/interact",
            {
                "POSTGRES_DBNAME": "interact",
                "POSTGRES_HOST": "10.0.0.5",
                "POSTGRES_PORT": "6543",
                "POSTGRES_USER": "us:er",
                "POSTGRES_PASSWORD": "s/e:cret%",
            },
            id="postgres-scheme-quoted-user",
        ),
    ],
)
def test_postgres_url(tmp_path: Path, url: str, expected: dict[str, str]) -> None:
    env = event_store_env(url, tmp_path / "data", "conversations")
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert {k: env[k] for k in expected} == expected
    assert env["CREATE_TABLE"] == "y"
    assert COMMON.items() <= env.items()
    assert "SQLITE_DBNAME" not in env
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    "url",
    ["mysql://u:p@h:3306/db", "http://h/db", "redis://localhost:6379/0", "mongodb://h/db"],
)
def test_unsupported_scheme_raises_value_error(tmp_path: Path, url: str) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        event_store_env(url, tmp_path, "conversations")


# --- JsonFormatter ----------------------------------------------------------------------


def _record(
    level: int = logging.INFO,
    msg: str = "hello",
    args: tuple = (),
    extra: dict | None = None,
    exc_info: object = None,
) -> logging.LogRecord:
    logger = logging.getLogger("interact.test")
    return logger.makeRecord(
        logger.name,
        level,
        __file__,
        1,
        msg,
        args,
        exc_info,
        extra=extra,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("level", "msg", "args", "extra", "expected"),
    [
        pytest.param(logging.INFO, "started", (), None, {"msg": "started", "level": "info"}),
        pytest.param(
            logging.WARNING,
            "lag %d on %s",
            (12, "conversation-events"),
            None,
            {"msg": "lag 12 on conversation-events", "level": "warning"},
            id="args",
        ),
        pytest.param(
            logging.ERROR,
            "batch failed",
            (),
            {"tenant_id": "t-1", "batch_size": 3, "retry": True},
            {
                "msg": "batch failed",
                "level": "error",
                "tenant_id": "t-1",
                "batch_size": 3,
                "retry": True,
            },
            id="extras",
        ),
        pytest.param(
            logging.DEBUG,
            "line one\nline two",
            (),
            {"ids": [1, 2], "nested": {"a": None}},
            {"msg": "line one\nline two", "level": "debug", "ids": [1, 2], "nested": {"a": None}},
            id="multiline-and-structures",
        ),
        pytest.param(
            logging.INFO,
            "routed",
            (),
            {"conversation_id": uuid.UUID(int=5), "path": Path("/x/y")},
            {"msg": "routed", "conversation_id": str(uuid.UUID(int=5)), "path": "/x/y"},
            id="non-json-values-become-strings",
        ),
    ],
)
def test_json_formatter_writes_one_json_object_per_record(
    level: int, msg: str, args: tuple, extra: dict | None, expected: dict
) -> None:
    record = _record(level, msg, args, extra)
    line = JsonFormatter("routing").format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert isinstance(entry, dict)
    assert entry["service"] == "routing"
    assert entry["logger"] == "interact.test"
    ts = datetime.fromisoformat(entry["ts"])
    assert ts.tzinfo is not None
    assert abs(ts.timestamp() - record.created) < 0.001
    assert expected.items() <= entry.items()
    assert "exc" not in entry
    # Nothing of the LogRecord machinery leaks in, only what was given.
    assert set(entry) == {"ts", "level", "service", "logger", "msg", *(extra or {})}


def test_json_formatter_includes_the_exception() -> None:
    try:
        raise RuntimeError("kafka went away")
    except RuntimeError:
        record = _record(
            logging.ERROR, "relay crashed", extra={"topic": "t"}, exc_info=sys.exc_info()
        )
    line = JsonFormatter("conversation").format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["msg"] == "relay crashed"
    assert entry["level"] == "error"
    assert entry["service"] == "conversation"
    assert entry["topic"] == "t"
    assert "Traceback" in entry["exc"]
    assert "RuntimeError: kafka went away" in entry["exc"]


def test_json_formatter_through_a_logger(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("interact.test.through")
    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info("delivered %s", "x", extra={"offset": 42})
    (record,) = caplog.records
    entry = json.loads(JsonFormatter("ingest").format(record))
    assert (entry["msg"], entry["offset"], entry["service"]) == ("delivered x", 42, "ingest")
    assert datetime.fromisoformat(entry["ts"]) <= datetime.now(UTC)
