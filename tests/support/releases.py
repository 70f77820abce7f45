"""Databases as an earlier release left them (its dumps in ``tests/fixtures``), for the
upgrade tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

FIXTURES = Path(__file__).parents[1] / "fixtures" / "release_90f08a5"


def load_release(url: str, service: str) -> None:
    """Make the database as release 90f08a5 left it (its dump, run as it is)."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            db.executescript((FIXTURES / f"{service}.sqlite.sql").read_text())
        return
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as db:
        db.execute((FIXTURES / f"{service}.postgres.sql").read_text())
