"""Which website chat a request may use: one use case for the JSON endpoint, the file upload
and the demo page, its refusals the one error convention (kind -> status in shared.http)."""

from __future__ import annotations

import uuid

import pytest

from services.ingest.application import webchat as application
from services.ingest.consumers.webchat import apply_batch
from services.ingest.store import webchat as store
from shared.events import ChannelConnected, ChannelDisconnected, Envelope, Payload
from shared.http import REFUSAL_STATUS
from shared.kafka import Delivery
from shared.readmodel import make_engine

SHOP = "https://shop.example"
OWN = "http://ingest.example:8001"
KEY = "pk-page-channel"


def delivery(payload: Payload, tenant: uuid.UUID) -> Delivery:
    return Delivery(Envelope.wrap(payload, tenant_id=tenant), payload, "t:0:0")


@pytest.fixture
def directory(tmp_path):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'ingest.sqlite'}")
    store.metadata.create_all(engine)
    tenant, channel = uuid.uuid4(), uuid.uuid4()
    connected = ChannelConnected(
        channel_id=channel,
        channel_type="webchat",
        name="Shop",
        public_key=KEY,
        allowed_origins=[SHOP],
    )
    gone = ChannelConnected(
        channel_id=uuid.uuid4(), channel_type="webchat", name="Old", public_key="pk-gone"
    )
    apply_batch(
        engine,
        [
            delivery(connected, tenant),
            delivery(gone, tenant),
            delivery(ChannelDisconnected(channel_id=gone.channel_id), tenant),
        ],
    )
    return store.ChannelDirectory(engine, ttl=0.0), tenant, channel


@pytest.mark.parametrize(
    ("key", "origin", "refused", "status"),
    [
        ("no-such-key", SHOP, application.UnknownChannel, 404),
        ("k" * 300, None, application.UnknownChannel, 404),
        ("pk-gone", None, application.UnknownChannel, 404),  # disconnected
        (KEY, "https://evil.example", application.OriginNotAllowed, 403),
        (KEY, "null", application.OriginNotAllowed, 403),
        (KEY, f"{SHOP}/path", application.OriginNotAllowed, 403),
    ],
)
async def test_a_request_the_chat_does_not_allow_is_refused(
    directory, key, origin, refused, status
) -> None:  # type: ignore[no-untyped-def]
    channels, _tenant, _channel = directory
    with pytest.raises(refused) as raised:
        await application.channel_for_page(channels, key, origin, OWN)
    assert REFUSAL_STATUS[raised.value.kind] == status
    assert raised.value.code in {"unknown_channel", "origin_not_allowed"}


@pytest.mark.parametrize(
    "origin",
    [SHOP, "https://SHOP.example:443", OWN, None],  # listed, the same normalised, own, a server
)
async def test_an_allowed_page_or_a_server_gets_its_channel(directory, origin) -> None:  # type: ignore[no-untyped-def]
    channels, tenant, channel = directory
    found = await application.channel_for_page(channels, KEY, origin, OWN)
    assert (found.tenant_id, found.channel_id) == (str(tenant), str(channel))
