"""A Facebook page or WhatsApp number belongs to one connected channel at a time (SPEC §3.1.5;
"tenants stay apart"): a second tenant's connect is refused with 409 without naming the
first tenant, disconnecting frees the account, and two connects at once on two replicas
of the conversation service end with exactly one connected channel."""

from __future__ import annotations

import threading
import uuid

import pytest
from eventsourcing.persistence import IntegrityError

from services.conversation.application.directory import Directory
from services.conversation.application.eventstore import event_store_env
from services.conversation.application.queries import Queries
from services.conversation.domain.directory import AccountConnectedElsewhere, ChannelAccount
from tests.support.databases import BOTH, database_for
from tests.support.tenants import new_tenant


def meta_channel(channel_type: str, external_id: str, secret: str = "app-secret-1") -> dict:
    return {
        "channel_type": channel_type,
        "name": f"{channel_type} {external_id}",
        "external_id": external_id,
        "credentials": {
            "app_secret": secret,
            "access_token": "access-token-1",
            "verify_token": f"verify-{uuid.uuid4().hex}",
        },
    }


def test_an_account_connected_by_one_tenant_is_refused_to_another(portal) -> None:  # type: ignore[no-untyped-def]
    a, b = new_tenant(portal), new_tenant(portal)
    admin_a, admin_b = a.tokens["administrator"], b.tokens["administrator"]
    page, number = str(uuid.uuid4().int)[:15], str(uuid.uuid4().int)[:15]

    first = portal.post("/v1/channels", headers=admin_a, json=meta_channel("messenger", page))
    assert first.status_code == 201, first.text
    for channel_type in ("messenger", "page_comments"):  # the same page, for either use
        refused = portal.post(
            "/v1/channels",
            headers=admin_b,
            json=meta_channel(channel_type, page, secret="b-own-secret"),
        )
        assert refused.status_code == 409, refused.text
        error = refused.json()["error"]
        assert error["code"] == "account_connected_elsewhere"
        assert "details" not in error  # nothing about the other tenant
        assert a.tenant_id not in refused.text and first.json()["channel_id"] not in refused.text
    # The same tenant may use its page for comments too, but not connect it twice.
    comments = portal.post(
        "/v1/channels", headers=admin_a, json=meta_channel("page_comments", page)
    )
    assert comments.status_code == 201, comments.text
    twice = portal.post("/v1/channels", headers=admin_a, json=meta_channel("messenger", page))
    assert twice.status_code == 409
    assert twice.json()["error"]["details"] == {"channel_id": first.json()["channel_id"]}

    whatsapp = portal.post("/v1/channels", headers=admin_b, json=meta_channel("whatsapp", number))
    assert whatsapp.status_code == 201, whatsapp.text
    taken = portal.post("/v1/channels", headers=admin_a, json=meta_channel("whatsapp", number))
    assert (taken.status_code, taken.json()["error"]["code"]) == (
        409,
        "account_connected_elsewhere",
    )

    # Disconnected everywhere, the page is free for the other tenant.
    for channel in (first.json(), comments.json()):
        gone = portal.delete(f"/v1/channels/{channel['channel_id']}", headers=admin_a)
        assert gone.status_code == 204
    moved = portal.post("/v1/channels", headers=admin_b, json=meta_channel("messenger", page))
    assert moved.status_code == 201, moved.text
    back = portal.post("/v1/channels", headers=admin_a, json=meta_channel("messenger", page))
    assert back.status_code == 409


def test_the_directory_refuses_even_before_the_view_shows_the_first_channel(
    portal, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The view is only a courtesy for channels connected before accounts were claimed;
    the claim in the event store decides, so a view that lags (another replica just
    connected the page) changes nothing."""
    # The view lags: it shows no channel using the account yet.
    monkeypatch.setattr(Queries, "channels_using", lambda *_args: [])
    a, b = new_tenant(portal), new_tenant(portal)
    page = str(uuid.uuid4().int)[:15]
    first = portal.post(
        "/v1/channels", headers=a.tokens["administrator"], json=meta_channel("whatsapp", page)
    )
    assert first.status_code == 201, first.text
    refused = portal.post(
        "/v1/channels", headers=b.tokens["administrator"], json=meta_channel("whatsapp", page)
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "account_connected_elsewhere"
    assert "details" not in refused.json()["error"]


@pytest.fixture(params=BOTH)
def replicas(request, tmp_path):  # type: ignore[no-untyped-def]
    """Two Directory applications (two replicas of the service) on one event store."""
    env = event_store_env(database_for(request, "accounts"), tmp_path, "directory")
    apps = [Directory(env=env), Directory(env=env)]
    yield apps
    for app in apps:
        app.close()


def test_the_event_store_refuses_a_second_claim_of_the_same_version(replicas) -> None:  # type: ignore[no-untyped-def]
    """The constraint itself: two replicas registering one account cannot both be stored."""
    one, two = replicas
    tenant_a, tenant_b = uuid.uuid4(), uuid.uuid4()
    mine = ChannelAccount(account="facebook-page/p-1", tenant_id=tenant_a)
    mine.claim(tenant_a, "messenger", uuid.uuid4())
    theirs = ChannelAccount(account="facebook-page/p-1", tenant_id=tenant_b)
    theirs.claim(tenant_b, "messenger", uuid.uuid4())
    assert mine.id == theirs.id
    one.save(mine)
    with pytest.raises(IntegrityError):
        two.save(theirs)


def race(apps: list[Directory], tenants: list[uuid.UUID], page: str) -> dict[int, str]:
    """Each tenant connects ``page`` on its own replica at the same moment; i -> outcome."""
    barrier = threading.Barrier(len(apps))
    outcomes: dict[int, str] = {}

    def connect(i: int) -> None:
        barrier.wait()
        try:
            apps[i].connect_channel(tenants[i], "messenger", "Page", page, "sealed")
            outcomes[i] = "connected"
        except AccountConnectedElsewhere:
            outcomes[i] = "refused"

    threads = [threading.Thread(target=connect, args=(i,)) for i in range(len(apps))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


def test_two_tenants_connecting_one_page_at_once_one_wins(replicas) -> None:  # type: ignore[no-untyped-def]
    tenants = [app.create_tenant(name=f"T{i}", plan="pro") for i, app in enumerate(replicas)]
    for round_ in range(5):
        page = f"race-{round_}-{uuid.uuid4().hex[:6]}"
        outcomes = race(replicas, tenants, page)
        assert sorted(outcomes.values()) == ["connected", "refused"], outcomes
        winner = next(i for i, o in outcomes.items() if o == "connected")
        claim = replicas[0].repository.get(ChannelAccount.create_id(f"facebook-page/{page}"))
        assert claim.tenant_id == tenants[winner] and list(claim.channels) == ["messenger"]
