"""TLS and SASL (SCRAM) settings reach every Kafka client a service makes (docs/security.md,
T7): the broker (FastStream's consumers and producer), the outbox producers, the admin."""

from __future__ import annotations

import itertools
import ssl

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CollectorRegistry

from shared import kafka
from shared.kafka_security import client_options
from shared.settings import ServiceSettings

PROTOCOLS = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
MECHANISMS = ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]


def _settings(protocol: str, mechanism: str) -> ServiceSettings:
    return ServiceSettings(
        kafka_security_protocol=protocol,
        kafka_sasl_mechanism=mechanism,
        kafka_sasl_username="interact-conversation",
        kafka_sasl_password="scram-password-of-the-user",
    )


def _expected(protocol: str, mechanism: str) -> dict[str, object]:
    expected: dict[str, object] = {"security_protocol": protocol}
    if protocol.startswith("SASL"):
        expected |= {
            "sasl_mechanism": mechanism,
            "sasl_plain_username": "interact-conversation",
            "sasl_plain_password": "scram-password-of-the-user",
        }
    return expected


@pytest.mark.parametrize(("protocol", "mechanism"), list(itertools.product(PROTOCOLS, MECHANISMS)))
async def test_every_client_gets_the_protocol_the_mechanism_and_the_credentials(
    protocol, mechanism, monkeypatch
):
    settings = _settings(protocol, mechanism)
    expected = _expected(protocol, mechanism)
    uses_tls = protocol.endswith("SSL")

    # The broker (every subscriber and its producer are built from these).
    broker = kafka.make_broker(settings, CollectorRegistry())
    got = {"security_protocol": "PLAINTEXT", **broker._connection_kwargs}  # aiokafka's default
    assert {k: got.get(k) for k in expected} == expected
    assert isinstance(got.get("ssl_context"), ssl.SSLContext) is uses_tls

    # The outbox relay's producer.
    producer = kafka.make_producer(settings)
    client = producer.client
    assert client._security_protocol == protocol
    assert isinstance(client._ssl_context, ssl.SSLContext) is uses_tls
    if protocol.startswith("SASL"):
        assert (client._sasl_mechanism, client._sasl_plain_username) == (
            mechanism,
            "interact-conversation",
        )

    # The admin client that creates topics.
    made: list[dict] = []

    class Recording(AIOKafkaAdminClient):
        def __init__(self, **kwargs):  # type: ignore[no-untyped-def]
            made.append(kwargs)
            raise RuntimeError("recorded")

    monkeypatch.setattr(kafka, "AIOKafkaAdminClient", Recording)
    with pytest.raises(RuntimeError, match="recorded"):
        await kafka.ensure_topics(settings)
    assert {k: made[0].get(k) for k in expected} == expected


def test_plaintext_by_default_and_no_credentials_leak_into_plaintext():
    options = client_options(ServiceSettings())
    assert options == {"security_protocol": "PLAINTEXT"}


def test_an_unknown_protocol_or_mechanism_is_refused_at_start():
    with pytest.raises(ValueError):
        ServiceSettings(kafka_security_protocol="TLS")
    with pytest.raises(ValueError):
        ServiceSettings(kafka_sasl_mechanism="GSSAPI")
