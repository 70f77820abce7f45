"""Competences through the running stack (SPEC §3.1.3, §3.1.6, §3.1.8, §3.1.10).

A competence is one id everywhere: the directory gives end users competence ids, the Portal
takes competence ids as a conversation's requirements, and routing compares ids with ids.
This goes through the real APIs, the real topics and the real routing service, so a
mismatch between what the directory publishes and what routing compares cannot pass.
Names are for display only: a rename shows up at once and changes nothing in routing; a
deleted competence no longer holds a conversation back.
"""

from __future__ import annotations

import httpx
import orjson
from sqlalchemy import create_engine, select, text

from services.stack import seed_demo
from tests.support.e2e import login, wait_for


def test_a_conversation_needing_a_competence_reaches_who_has_it(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack("sqlite")
    demo = seed_demo(stack)  # Nora: nl, fr, "Orders"; Eric: en, nl, "Technical"; both online
    api, ingest = stack.url("conversation"), stack.url("ingest")
    admin, nora = login(stack, "admin@demo.example"), login(stack, "nora@demo.example")
    eric = login(stack, "eric@demo.example")
    competences = {
        c["name"]: c["id"]
        for c in httpx.get(f"{api}/v1/competences", headers=admin).json()["items"]
    }
    users = {u["email"]: u for u in httpx.get(f"{api}/v1/users", headers=admin).json()["items"]}
    routing_db = create_engine(f"sqlite:///{stack.data_dir / 'routing.sqlite'}")

    def french_visitor(visitor: str) -> str:
        sent = httpx.post(
            f"{ingest}/v1/webchat/{demo['webchat_key']}/messages",
            json={
                "visitor_id": visitor,
                "text": "Bonjour",
                "locale": "fr_BE",
                "message_id": visitor,
            },
        )
        assert sent.status_code == 202, sent.text
        return wait_for(
            lambda: next(
                (
                    c["conversation_id"]
                    for c in httpx.get(f"{api}/v1/queue", headers=nora).json()["items"]
                    if c["conversation_id"] not in seen
                ),
                None,
            )
        )

    def require(cid: str, *ids: str) -> dict:
        response = httpx.put(
            f"{api}/v1/dispatch/conversations/{cid}/requirements",
            headers=admin,
            json={"competences": list(ids)},
        )
        assert response.status_code == 200, response.text
        return response.json()

    def routing_sees(cid: str, ids: list[str]) -> dict | None:
        with routing_db.connect() as conn:
            row = conn.execute(
                select(text("competences, status, assignee_id"))
                .select_from(text("routing_conversations"))
                .where(text("conversation_id = :c"))
                .params(c=cid)
            ).first()
        return row._asdict() if row is not None and row.competences == _json(ids) else None

    def status(cid: str) -> str:
        return httpx.get(f"{api}/v1/conversations/{cid}", headers=admin).json()["status"]

    seen: set[str] = set()
    # 1. Nora has "Orders": requiring it keeps the conversation with her; she takes it.
    first = french_visitor("v-orders")
    seen.add(first)
    detail = require(first, competences["Orders"])
    assert detail["required_competences"] == [competences["Orders"]]
    assert detail["competences"] == [{"id": competences["Orders"], "name": "Orders"}]
    in_routing = wait_for(lambda: routing_sees(first, [competences["Orders"]]))
    assert (in_routing["status"], in_routing["assignee_id"]) == (
        "assigned",
        users["nora@demo.example"]["user_id"],
    )
    taken = httpx.post(f"{api}/v1/conversations/{first}/take", headers=nora)
    assert taken.status_code == 200, taken.text

    # 2. "Technical": nobody who speaks French has it, so it waits; renamed, it still counts;
    #    once Eric speaks French and comes online it is offered to him.
    away = httpx.put(f"{api}/v1/me/presence", headers=eric, json={"presence": "offline"})
    assert away.status_code < 300, away.text
    second = french_visitor("v-technical")
    seen.add(second)
    require(second, competences["Technical"])
    wait_for(lambda: status(second) == "waiting")
    renamed = httpx.put(
        f"{api}/v1/competences/{competences['Technical']}",
        headers=admin,
        json={"name": "Tech support"},
    )
    assert renamed.status_code == 200, renamed.text
    patched = httpx.patch(
        f"{api}/v1/users/{users['eric@demo.example']['user_id']}",
        headers=admin,
        json={"languages": ["en", "nl", "fr"]},
    )
    assert patched.status_code == 200, patched.text
    back = httpx.put(f"{api}/v1/me/presence", headers=eric, json={"presence": "online"})
    assert back.status_code < 300, back.text
    wait_for(
        lambda: (
            second
            in [
                c["conversation_id"]
                for c in httpx.get(f"{api}/v1/queue", headers=eric).json()["items"]
            ]
        )
    )
    taken = httpx.post(f"{api}/v1/conversations/{second}/take", headers=eric)
    assert taken.status_code == 200, taken.text
    assert taken.json()["competences"] == [{"id": competences["Technical"], "name": "Tech support"}]

    # 3. A competence nobody has holds a conversation back until it is deleted.
    legal = httpx.post(f"{api}/v1/competences", headers=admin, json={"name": "Legal"}).json()["id"]
    third = french_visitor("v-legal")
    seen.add(third)
    require(third, legal)
    wait_for(lambda: status(third) == "waiting")
    assert httpx.delete(f"{api}/v1/competences/{legal}", headers=admin).status_code == 204
    wait_for(
        lambda: (
            third
            in [
                c["conversation_id"]
                for c in httpx.get(f"{api}/v1/queue", headers=nora).json()["items"]
            ]
        )
    )
    after = httpx.get(f"{api}/v1/conversations/{third}", headers=nora).json()
    assert (after["required_competences"], after["competences"]) == ([], [])

    # 4. History finds the conversation by the competence's id, and by its current name.
    closed = httpx.post(f"{api}/v1/conversations/{second}/close", headers=eric, json={})
    assert closed.status_code == 200, closed.text
    for competence in (competences["Technical"], "Tech support"):
        found = httpx.get(f"{api}/v1/history", headers=admin, params={"competence": competence})
        assert [c["conversation_id"] for c in found.json()["items"]] == [second], found.text
    routing_db.dispose()


def _json(ids: list[str]) -> str:
    """How routing stores a set of competences (sorted JSON text)."""
    return orjson.dumps(sorted(ids)).decode()
