"""The Portal API in-process on the real broker and SQLite, with a real SMTP sink for mail."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from services.conversation.api import create_app
from services.conversation.bootstrap import ConversationService
from services.conversation.settings import ConversationSettings
from tests.support.tenants import OPERATOR_TOKEN, PUBLIC_BASE_URL, MailSink


@pytest.fixture(scope="session")
def mail() -> Iterator[MailSink]:
    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    yield sink
    controller.stop()


@pytest.fixture(scope="session")
def portal(kafka_bootstrap, mail, tmp_path_factory) -> Iterator[TestClient]:
    settings = ConversationSettings(
        data_dir=tmp_path_factory.mktemp("portal"),
        kafka_bootstrap_servers=kafka_bootstrap,
        operator_token=OPERATOR_TOKEN,
        public_base_url=PUBLIC_BASE_URL,
        smtp_port=mail.port,
        login_attempts_per_address_per_minute=10_000,
        password_links_per_address_per_hour=10_000,  # every test comes from one address
    )
    service = ConversationService(settings, registry=CollectorRegistry())
    with TestClient(create_app(service), client=("203.0.113.7", 50000)) as client:
        yield client
