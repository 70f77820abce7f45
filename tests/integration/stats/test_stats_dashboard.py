"""The dashboard API on real parts: logins checked over HTTP by the real conversation service,
the view in PostgreSQL, fed with the conversation events a tenant's day produces.

Expected figures are computed by hand from the story below (tenant in Europe/Brussels,
CET in March: local = UTC + 1 h).
"""

from __future__ import annotations

import csv
import io
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from services.stats import consumers
from services.stats.api import routes
from services.stats.settings import StatsSettings
from services.stats.store import metadata
from shared import events as ev
from shared.consumer_service import ConsumerService
from shared.kafka import Delivery
from shared.local_broker import free_port
from tests.support import tenants
from tests.support.tenants import login, new_tenant


@pytest.fixture(scope="module")
def conversation_url(portal) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The real conversation service's API over real HTTP (the portal's app, served again)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(portal.app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def stats(kafka_bootstrap, postgres, conversation_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    name = f"stats_api_{uuid.uuid4().hex[:8]}"
    postgres.create_database(name)
    settings = StatsSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=postgres.url(name),
        conversation_url=conversation_url,
        data_dir=tmp_path_factory.mktemp("stats"),
    )
    service = ConsumerService(settings, metadata)
    with TestClient(service.create_app("stats", [routes.router])) as client:
        client.service = service  # type: ignore[attr-defined]
        yield client


def feed(stats: TestClient, tenant: str, payloads: list[ev.Payload]) -> None:
    deliveries = []
    for i, p in enumerate(payloads):
        envelope = ev.Envelope.wrap(p, tenant_id=uuid.UUID(tenant))
        deliveries.append(Delivery(envelope, p, f"test:0:{i}"))
    stats.service.apply_batch_now(consumers.apply, deliveries)  # type: ignore[attr-defined]


T = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # Monday 09:00 in Brussels


def at(seconds: float, base: datetime = T) -> datetime:
    return base + timedelta(seconds=seconds)


def conversation(
    channel: str, opened_at: datetime, *, bot: bool = False
) -> tuple[uuid.UUID, ev.ConversationOpened]:
    cid = uuid.uuid4()
    return cid, ev.ConversationOpened(
        conversation_id=cid,
        channel_id=uuid.uuid4(),
        channel_type=channel,
        visitor_id=uuid.uuid4(),
        language="nl",
        opened_at=opened_at,
        bot_active=bot,
    )


def received(cid: uuid.UUID, when: datetime) -> ev.MessageReceived:
    return ev.MessageReceived(
        conversation_id=cid,
        message_id=uuid.uuid4(),
        channel_message_id=uuid.uuid4().hex,
        content=ev.MessageContent(text="hallo"),
        received_at=when,
    )


def sent(cid: uuid.UUID, author: str, user: str | None, when: datetime) -> ev.MessageSent:
    return ev.MessageSent(
        conversation_id=cid,
        message_id=uuid.uuid4(),
        author=author,
        author_id=uuid.UUID(user) if user else None,
        content=ev.MessageContent(text="dag"),
        at=when,
    )


def tenant_created(plan: str = "pro") -> ev.TenantCreated:
    return ev.TenantCreated(name="T", plan=plan, time_zone="Europe/Brussels")


def profile(user: str, first: str, role: str = "agent") -> ev.EndUserCreated:
    return ev.EndUserCreated(
        user_id=uuid.UUID(user),
        first_name=first,
        last_name="User",
        email=f"{first}@x.example",
        role=role,
        mother_tongue="nl",
    )


def story(eric: str, nora: str) -> list[ev.Payload]:
    """Four conversations over two weeks (local days 03-02, 03-02, 03-03, 03-09)."""
    c1, o1 = conversation("webchat", T)  # 09:00 local
    c2, o2 = conversation("webchat", at(14.5 * 3600))  # 23:30 local, Monday
    c3, o3 = conversation("whatsapp", at(15.5 * 3600))  # 00:30 local, Tuesday
    c4, o4 = conversation("messenger", datetime(2026, 3, 9, 10, 0, tzinfo=UTC))  # 11:00 local
    t3, t4 = o3.opened_at, o4.opened_at
    return [
        profile(eric, "Eric"),
        profile(nora, "Nora"),
        o1,
        received(c1, T),
        ev.ConversationAssigned(conversation_id=c1, assignee_id=uuid.UUID(eric), at=at(10)),
        ev.ConversationTaken(conversation_id=c1, user_id=uuid.UUID(eric), at=at(30)),
        sent(c1, "agent", eric, at(60)),
        received(c1, at(70)),
        ev.ConversationArchived(conversation_id=c1, topics=["Billing"], at=at(590)),
        ev.ConversationClosed(conversation_id=c1, at=at(600)),
        o2,
        received(c2, o2.opened_at),
        o3,
        *(received(c3, at(s, t3)) for s in (0, 1, 2)),
        ev.ConversationQueued(conversation_id=c3, at=at(1, t3)),
        ev.ConversationTaken(conversation_id=c3, user_id=uuid.UUID(nora), at=at(120, t3)),
        sent(c3, "agent", nora, at(180, t3)),
        ev.ConversationArchived(conversation_id=c3, topics=["Billing", "Returns"], at=at(890, t3)),
        ev.ConversationClosed(conversation_id=c3, at=at(900, t3)),
        o4,
        received(c4, t4),
        ev.ConversationTaken(conversation_id=c4, user_id=uuid.UUID(eric), at=at(60, t4)),
        sent(c4, "agent", eric, at(90, t4)),
        ev.ConversationArchived(conversation_id=c4, topics=["Returns"], at=at(100, t4)),
    ]


@pytest.fixture(scope="module")
def shop(portal, stats) -> tenants.TestTenant:  # type: ignore[no-untyped-def]
    tenant = new_tenant(portal)
    eric, nora = tenant.users["agent"], tenant.users["manager"]
    feed(stats, tenant.tenant_id, [tenant_created()])
    # The story in two batches, cut inside conversations: the view sums them the same.
    events = story(eric, nora)
    feed(stats, tenant.tenant_id, events[:13])
    feed(stats, tenant.tenant_id, events[13:])
    return tenant


MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


def get(stats: TestClient, path: str, who: dict[str, str], **params: str) -> httpx.Response:
    return stats.get(f"/v1/stats{path}", headers=who, params=params)


def test_conversations_tab(stats, shop) -> None:  # type: ignore[no-untyped-def]
    body = get(stats, "/conversations", shop.tokens["analyst"], **MARCH).json()
    assert body["filters"] == {
        "period_from": "2026-03-01",
        "period_to": "2026-03-31",
        "bucket": "day",
        "channel": None,
        "time_zone": "Europe/Brussels",
    }
    s = body["summary"]
    assert (s["conversations"], s["assigned"], s["closed"], s["messages"]) == (4, 1, 2, 10)
    assert s["average_first_response_seconds"] == 110.0  # (60 + 180 + 90) / 3
    assert s["average_queue_wait_seconds"] == 70.0  # (30 + 120 + 60) / 3
    assert s["average_handling_seconds"] == 675.0  # (570 + 780) / 2
    assert [(r["channel_type"], r["conversations"]) for r in body["breakdown"]] == [
        ("messenger", 1),
        ("webchat", 2),
        ("whatsapp", 1),
    ]
    assert [(r["bucket"], r["channel_type"], r["conversations"]) for r in body["series"]] == [
        ("2026-03-02", "webchat", 2),
        ("2026-03-03", "whatsapp", 1),
        ("2026-03-09", "messenger", 1),
    ]
    weeks = get(stats, "/conversations", shop.tokens["manager"], bucket="week", **MARCH).json()
    assert [(r["bucket"], r["conversations"]) for r in weeks["series"]] == [
        ("2026-03-02", 2),  # webchat
        ("2026-03-02", 1),  # whatsapp
        ("2026-03-09", 1),
    ]
    webchat = get(stats, "/conversations", shop.tokens["manager"], channel="webchat", **MARCH)
    assert webchat.json()["summary"]["conversations"] == 2
    span = get(
        stats,
        "/conversations",
        shop.tokens["manager"],
        **{"from": "2026-03-03", "to": "2026-03-09"},
    )
    assert span.json()["summary"]["conversations"] == 2
    short = get(stats, "/conversations/per-channel", shop.tokens["administrator"], **MARCH).json()
    assert short["total"] == 4
    assert short["channels"][1] == {"channel_type": "webchat", "conversations": 2, "assigned": 1}


def test_hour_topic_and_message_figures(stats, shop) -> None:  # type: ignore[no-untyped-def]
    who = shop.tokens["analyst"]
    hours = get(stats, "/conversations/per-hour", who, **MARCH).json()
    assert {r["hour"]: r["conversations"] for r in hours["breakdown"] if r["conversations"]} == {
        0: 1,
        9: 1,
        11: 1,
        23: 1,
    }
    assert len(hours["breakdown"]) == 24
    topics = get(stats, "/conversations/per-topic", who, **MARCH).json()
    assert [(r["topic"], r["conversations"]) for r in topics["breakdown"]] == [
        ("Billing", 2),
        ("Returns", 2),
    ]
    messages = get(stats, "/messages", who, **MARCH).json()
    assert messages["summary"] == {
        "conversations": 4,
        "messages": 10,
        "average": 2.5,
        "median": 2.5,
    }
    assert messages["breakdown"] == [{"messages": n, "conversations": 1} for n in (1, 2, 3, 4)]
    assert [(r["bucket"], r["messages"], r["median"]) for r in messages["series"]] == [
        ("2026-03-02", 4, 2.0),  # c1: 3, c2: 1
        ("2026-03-03", 4, 4.0),
        ("2026-03-09", 2, 2.0),
    ]


def test_conversations_per_end_user_is_not_for_analysts(stats, shop) -> None:  # type: ignore[no-untyped-def]
    body = get(stats, "/end-users", shop.tokens["manager"], **MARCH).json()
    assert [(r["name"], r["conversations"], r["messages_sent"]) for r in body["breakdown"]] == [
        ("Eric User", 2, 2),
        ("Nora User", 1, 1),
    ]
    refused = get(stats, "/end-users", shop.tokens["analyst"], **MARCH)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden_for_role"
    assert get(stats, "/conversations", shop.tokens["agent"], **MARCH).status_code == 403
    assert stats.get("/v1/stats/conversations").status_code == 401


@pytest.mark.parametrize(
    ("path", "measure"),
    [
        ("/conversations", "conversations"),
        ("/conversations", "messages"),
        ("/conversations/per-hour", "conversations"),
        ("/conversations/per-topic", "conversations"),
        ("/messages", "messages"),
        ("/end-users", "messages_sent"),
    ],
)
@pytest.mark.parametrize("bucket", ["day", "week", "month"])
def test_summary_equals_series_equals_export(stats, shop, path, measure, bucket) -> None:  # type: ignore[no-untyped-def]
    who = shop.tokens["administrator"]
    body = get(stats, path, who, bucket=bucket, **MARCH).json()
    export = get(stats, path, who, bucket=bucket, format="csv", **MARCH)
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert body["summary"][measure] > 0
    assert body["summary"][measure] == sum(r[measure] for r in body["series"])
    assert body["summary"][measure] == sum(int(r[measure]) for r in rows)
    assert len(rows) == len(body["series"])


def test_another_tenants_figures_stay_apart(portal, stats, shop) -> None:  # type: ignore[no-untyped-def]
    other = new_tenant(portal)
    c, opened = conversation("webchat", T)
    feed(stats, other.tenant_id, [tenant_created(), opened])
    # The same conversation id sent again under the shop's tenant changes nothing of theirs.
    feed(stats, shop.tenant_id, [received(c, T)])
    mine = get(stats, "/conversations", other.tokens["administrator"], **MARCH).json()
    assert mine["summary"]["conversations"] == 1
    assert mine["summary"]["messages"] == 0
    theirs = get(stats, "/conversations", shop.tokens["administrator"], **MARCH).json()
    assert theirs["summary"]["conversations"] == 4
    assert (
        get(stats, "/end-users", other.tokens["administrator"], **MARCH).json()["breakdown"] == []
    )


@pytest.mark.parametrize(
    ("params", "code", "reason"),
    [
        ({"from": "2026-03-10", "to": "2026-03-01"}, "invalid_filters", "is after 'to'"),
        (
            {"from": "2020-01-01", "to": "2026-01-01"},
            "invalid_filters",
            "at most 92 with bucket=day",
        ),
        ({"bucket": "year"}, "invalid_request", "'day', 'week' or 'month'"),
        ({"channel": "telegram"}, "invalid_request", "webchat"),
        ({"from": "yesterday"}, "invalid_request", "date"),
        ({"format": "xlsx"}, "invalid_request", "csv"),
    ],
)
def test_bad_filters_are_refused_with_reasons(stats, shop, params, code, reason) -> None:  # type: ignore[no-untyped-def]
    response = get(stats, "/conversations", shop.tokens["analyst"], **params)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == code
    assert reason in str(error["details"])


def test_bot_figures_need_the_bot_plan(portal, stats, shop) -> None:  # type: ignore[no-untyped-def]
    refused = get(stats, "/bot", shop.tokens["analyst"], **MARCH)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "plan_required"

    botshop = new_tenant(portal, plan="bot")
    c1, o1 = conversation("messenger", T, bot=True)
    c2, o2 = conversation("messenger", at(60), bot=True)
    _c3, o3 = conversation("messenger", at(120), bot=True)  # still with the bot, open
    feed(
        stats,
        botshop.tenant_id,
        [
            tenant_created("bot"),
            o1,
            sent(c1, "bot", None, at(1)),
            ev.ConversationClosed(conversation_id=c1, at=at(300)),
            o2,
            sent(c2, "bot", None, at(61)),
            ev.HandoverChanged(
                conversation_id=c2, state="waiting_for_human", reason="bot_requested", at=at(70)
            ),
            ev.HandoverChanged(conversation_id=c2, state="human", reason="taken", at=at(115)),
            ev.ConversationClosed(conversation_id=c2, at=at(400)),
            o3,
        ],
    )
    body = get(stats, "/bot", botshop.tokens["analyst"], **MARCH).json()
    assert body["summary"] == {
        "bot_conversations": 3,
        "bot_closed": 2,
        "bot_contained": 1,
        "handover_waits": 1,
        "handover_wait_ms": 45_000,
        "containment_rate": 0.5,
        "average_handover_wait_seconds": 45.0,
    }


def test_a_revoked_session_stops_working_within_seconds(portal, stats) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant(portal)
    analyst = tenant.tokens["analyst"]
    assert get(stats, "/conversations", analyst).status_code == 200
    assert portal.post("/v1/auth/logout", headers=analyst).status_code == 204
    deadline = time.monotonic() + 15  # the cache keeps an answer 5 s
    status = 200
    while status == 200 and time.monotonic() < deadline:
        time.sleep(0.25)
        status = get(stats, "/conversations", analyst).status_code
    assert status == 401
    again = login(portal, tenant.emails["analyst"])
    assert get(stats, "/conversations", again).status_code == 200


def test_default_period_is_the_last_30_days(stats, shop) -> None:  # type: ignore[no-untyped-def]
    body = get(stats, "/conversations", shop.tokens["analyst"]).json()
    first, last = (
        date.fromisoformat(body["filters"]["period_from"]),
        date.fromisoformat(body["filters"]["period_to"]),
    )
    assert (last - first).days == 29
