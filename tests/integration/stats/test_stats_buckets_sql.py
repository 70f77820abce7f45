"""The SQL that makes buckets follows the domain rule (``bucket_start``) on both databases."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Column, Date, MetaData, Table, create_engine, insert, select

from services.stats.domain.buckets import bucket_start
from services.stats.store.access import bucket_of
from tests.support.databases import BOTH, database_for

DAYS = sorted(
    {date(2024, 2, 26) + timedelta(days=i) for i in range(0, 800, 3)}
    | {
        date(2025, 12, 29),  # a Monday whose week starts the ISO year 2026
        date(2026, 1, 4),  # a Sunday
        date(2024, 2, 29),
    }
)


@pytest.fixture(params=BOTH)
def engine(request, tmp_path):  # type: ignore[no-untyped-def]
    url = database_for(request, "stats_b", f"sqlite:///{tmp_path / 'b.sqlite'}")
    engine = create_engine(url)
    yield engine
    engine.dispose()


@pytest.mark.parametrize("bucket", ["day", "week", "month"])
def test_sql_buckets_follow_the_rule(engine, bucket) -> None:  # type: ignore[no-untyped-def]
    days = Table("days", MetaData(), Column("day", Date, primary_key=True))
    days.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(days), [{"day": d} for d in DAYS])
        got = conn.execute(
            select(days.c.day, bucket_of(engine.dialect.name, days.c.day, bucket))
        ).all()
    assert {d: b for d, b in got} == {d: bucket_start(d, bucket) for d in DAYS}


def test_a_view_of_an_older_shape_is_recognised(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    from services.stats.store import metadata
    from services.stats.store.access import outdated_tables

    engine = create_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    with engine.begin() as conn:  # the first version's facts table
        conn.execute(
            text(
                "CREATE TABLE conversation_facts (conversation_id VARCHAR(36) PRIMARY KEY,"
                " tenant_id VARCHAR(36), channel_type VARCHAR(20), language VARCHAR(16),"
                " opened_at DATETIME, first_assigned_at DATETIME, assignee_id VARCHAR(36),"
                " closed_at DATETIME, messages_in INTEGER)"
            )
        )
    metadata.create_all(engine)
    assert outdated_tables(engine) == {
        "conversation_facts": [
            "bot_active",
            "messages_out",
            "messages_with_attachments",
            "queued_at",
            "first_taken_at",
            "first_response_at",
            "handover_requested_at",
            "human_at",
        ]
    }
    fresh = create_engine(f"sqlite:///{tmp_path / 'new.sqlite'}")
    metadata.create_all(fresh)
    assert outdated_tables(fresh) == {}
    engine.dispose()
    fresh.dispose()
