"""TLS and SASL (SCRAM) for every Kafka client of a service, from its settings.

=============================  ==========================================================
``KAFKA_SECURITY_PROTOCOL``    ``PLAINTEXT`` (default, the embedded broker), ``SSL``,
                               ``SASL_PLAINTEXT`` or ``SASL_SSL`` (production: Strimzi's
                               TLS listener with SCRAM users)
``KAFKA_SASL_MECHANISM``       ``SCRAM-SHA-512`` (default), ``SCRAM-SHA-256`` or ``PLAIN``
``KAFKA_SASL_USERNAME``        the service's Kafka user
``KAFKA_SASL_PASSWORD``        its password (a Secret)
``KAFKA_SSL_CAFILE``           the cluster's CA certificate (PEM); empty: the system's
``KAFKA_SSL_CERTFILE``/``_KEYFILE``  a client certificate, for mutual TLS
=============================  ==========================================================

One function per kind of client, so the broker (FastStream: consumers and producers), the
outbox relay's producers and the topic admin all connect the same way.
"""

from __future__ import annotations

import ssl
from typing import Any

from aiokafka.helpers import create_ssl_context
from faststream.security import (
    BaseSecurity,
    SASLPlaintext,
    SASLScram256,
    SASLScram512,
)

SASL = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}


def _ssl_context(settings: Any) -> ssl.SSLContext | None:
    if not settings.kafka_security_protocol.endswith("SSL"):
        return None
    return create_ssl_context(
        cafile=settings.kafka_ssl_cafile or None,
        certfile=settings.kafka_ssl_certfile or None,
        keyfile=settings.kafka_ssl_keyfile or None,
    )


def _password(settings: Any) -> str:
    secret = settings.kafka_sasl_password
    return secret.get_secret_value() if secret is not None else ""


def client_options(settings: Any) -> dict[str, Any]:
    """Keyword arguments for aiokafka's producer, consumer and admin client."""
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"security_protocol": protocol}
    context = _ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if protocol.startswith("SASL"):
        options |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism,
            "sasl_plain_username": settings.kafka_sasl_username,
            "sasl_plain_password": _password(settings),
        }
    return options


def broker_security(settings: Any) -> BaseSecurity | None:
    """FastStream's ``security=`` for the service's broker (None: plaintext)."""
    protocol = settings.kafka_security_protocol
    context = _ssl_context(settings)
    if protocol.startswith("SASL"):
        return SASL[settings.kafka_sasl_mechanism](
            settings.kafka_sasl_username,
            _password(settings),
            ssl_context=context,
            use_ssl=protocol == "SASL_SSL",
        )
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    return None
