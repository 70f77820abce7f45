"""S1: >= 1,000 forged or mutated Meta webhook posts, generated: every one refused with the
one 401, and not one event on Kafka (docs/security.md, T6).

Mutations of a correctly signed post: a flipped bit anywhere in the body, a flipped bit in
the signature, a random wrong secret, a signature replayed on another body, a missing or
SHA-1 header, and the secret of another tenant's page signing a body for this page.
"""

from __future__ import annotations

import random
import secrets
import uuid

import httpx
import orjson
import pytest
import pytest_asyncio

from services.ingest.domain.meta_signature import sign
from shared import topics
from tests.support.meta import (
    MetaApp,
    messenger_body,
    payloads,
    produce,
    read_inbound,
    running_ingest,
    wait_until_connected,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
JSON = {"Content-Type": "application/json"}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def ingest(kafka_bootstrap, tmp_path_factory):  # type: ignore[no-untyped-def]
    async with running_ingest(kafka_bootstrap, tmp_path_factory.mktemp("forgery")) as url:
        yield url


def _flip(data: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(data))
    return data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1 :]


def forgeries(target: MetaApp, page: str, other: MetaApp, n: int) -> list[tuple[str, bytes, dict]]:
    """``n`` forged posts for ``page``, of every kind in turn, each body different."""
    rng = random.Random(20261201)
    out: list[tuple[str, bytes, dict]] = []
    kinds = [
        "body_bit",
        "signature_bit",
        "wrong_secret",
        "replayed",
        "missing",
        "sha1",
        "other_page",
    ]
    for i in range(n):
        kind = kinds[i % len(kinds)]
        raw, headers = target.signed(messenger_body(page, (f"m_{i}", f"forged {i}")))
        signature = headers["X-Hub-Signature-256"]
        if kind == "body_bit":
            mutated = _flip(raw, rng)
            out.append((kind, mutated, {**JSON, "X-Hub-Signature-256": signature}))
        elif kind == "signature_bit":
            hexpart = bytes.fromhex(signature[7:])
            forged = "sha256=" + _flip(hexpart, rng).hex()
            out.append((kind, raw, {**JSON, "X-Hub-Signature-256": forged}))
        elif kind == "wrong_secret":
            out.append(
                (
                    kind,
                    raw,
                    {
                        **JSON,
                        "X-Hub-Signature-256": sign(raw, secrets.token_hex(rng.randrange(1, 40))),
                    },
                )
            )
        elif kind == "replayed":
            earlier, _ = target.signed(messenger_body(page, ("m_earlier", "a real one")))
            out.append(
                (kind, raw, {**JSON, "X-Hub-Signature-256": sign(earlier, target.app_secret)})
            )
        elif kind == "missing":
            out.append((kind, raw, JSON))
        elif kind == "sha1":
            out.append((kind, raw, {**JSON, "X-Hub-Signature": "sha1=" + secrets.token_hex(20)}))
        else:  # the other tenant's own secret, on a body that speaks for this page
            out.append((kind, raw, {**JSON, "X-Hub-Signature-256": sign(raw, other.app_secret)}))
    return out


async def test_a_thousand_forgeries_are_all_refused_alike_and_produce_nothing(
    kafka_bootstrap, ingest
):
    target, other = MetaApp(), MetaApp()
    page, other_page = f"page-{uuid.uuid4().hex[:8]}", f"page-{uuid.uuid4().hex[:8]}"
    _id, connected = target.connected("messenger", page)
    _other_id, other_connected = other.connected("messenger", other_page)
    await produce(kafka_bootstrap, topics.DIRECTORY_EVENTS, [connected, other_connected])
    await wait_until_connected(ingest, target.verify_token)
    await wait_until_connected(ingest, other.verify_token)
    posts = forgeries(target, page, other, 1050)
    answers: dict[str, list[tuple[int, str]]] = {}
    async with httpx.AsyncClient(base_url=ingest, timeout=30) as client:
        for kind, raw, headers in posts:
            response = await client.post("/v1/meta/webhook", content=raw, headers=headers)
            answers.setdefault(kind, []).append((response.status_code, response.text))
        # Afterwards one genuine post: it is the only event of the tenant on the topic.
        raw, headers = target.signed(messenger_body(page, ("m_genuine", "Hallo")))
        genuine = await client.post("/v1/meta/webhook", content=raw, headers=headers)
    assert genuine.status_code == 200
    assert sum(len(a) for a in answers.values()) >= 1000
    distinct = {answer for kind_answers in answers.values() for answer in kind_answers}
    assert len(distinct) == 1, {k: set(v) for k, v in answers.items()}  # one answer for all
    status, text = distinct.pop()
    assert status == 401 and orjson.loads(text)["error"]["code"] == "signature_invalid"
    events = await read_inbound(
        kafka_bootstrap,
        target.tenant_id,
        lambda found: any(p.channel_message_id == "m_genuine" for p in payloads(found)),  # type: ignore[attr-defined]
    )
    assert [p.channel_message_id for p in payloads(events)] == ["m_genuine"]  # type: ignore[attr-defined]
