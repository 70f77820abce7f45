"""Ingest's view of Meta channels and chatbots, built from directory events, scoped by tenant."""

from __future__ import annotations

import uuid

from services.ingest.consumers.directory import make_apply
from services.ingest.store import channels as store
from shared.events import (
    ChannelConnected,
    ChannelDisconnected,
    ChatbotConnected,
    ChatbotDisconnected,
    Envelope,
    Payload,
)
from shared.kafka import Delivery
from shared.readmodel import make_engine
from shared.secrets import seal

KEY = "unit-secrets-key"
CREDS = {"app_secret": "s3cret", "access_token": "EAAG", "verify_token": "v-token"}


def delivery(payload: Payload, tenant: uuid.UUID) -> Delivery:
    return Delivery(Envelope.wrap(payload, tenant_id=tenant), payload, "t:0:0")


def test_channels_and_bots_follow_the_directory_within_their_tenant(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'ingest.sqlite'}")
    store.metadata.create_all(engine)
    apply = make_apply(KEY)
    mine, other = uuid.uuid4(), uuid.uuid4()
    page_channel, bot_channel = uuid.uuid4(), uuid.uuid4()
    connected = ChannelConnected(
        channel_id=page_channel,
        channel_type="messenger",
        name="Page",
        public_key="pk-1",
        external_id="1234",
        sealed_credentials=seal(CREDS, KEY),
    )
    bot = ChatbotConnected(
        channel_id=bot_channel,
        platform="rasa",
        url="http://rasa",
        sealed_token=seal({"token": "t"}, KEY),
    )
    with engine.begin() as conn:
        apply(
            conn,
            [
                delivery(connected, mine),
                delivery(connected, mine),  # published twice: still one channel
                delivery(bot, mine),
                delivery(ChannelDisconnected(channel_id=page_channel), other),  # not theirs
                delivery(ChatbotDisconnected(channel_id=bot_channel), other),
            ],
        )
    channels = store.MetaChannels(engine, KEY, ttl=0)
    found = channels.by_external_id("messenger", "1234")
    assert found is not None
    assert (found.tenant_id, found.app_secret, found.access_token) == (mine, "s3cret", "EAAG")
    assert channels.by_external_id("page_comments", "1234") is None
    assert channels.by_id(mine, page_channel) == found
    assert channels.by_id(other, page_channel) is None
    assert channels.verify_token_known("v-token")
    assert not channels.verify_token_known("guess")
    assert store.chatbot_for(engine, KEY, mine, bot_channel) == store.Chatbot(
        "rasa", "http://rasa", "t"
    )
    assert store.chatbot_for(engine, KEY, other, bot_channel) is None
    assert store.MetaChannels(engine, "another-key", ttl=0).by_id(mine, page_channel) is None

    with engine.begin() as conn:
        apply(
            conn,
            [
                delivery(ChannelDisconnected(channel_id=page_channel), mine),
                delivery(ChatbotDisconnected(channel_id=bot_channel), mine),
            ],
        )
    assert channels.by_external_id("messenger", "1234") is None
    assert not channels.verify_token_known("v-token")
    assert store.chatbot_for(engine, KEY, mine, bot_channel) is None
