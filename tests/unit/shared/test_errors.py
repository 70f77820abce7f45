"""One error convention: a rule's refusal becomes the same 4xx JSON in every service."""

from __future__ import annotations

from typing import get_args

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from shared.errors import Kind, Refusal, not_found
from shared.http import REFUSAL_STATUS, install_error_handlers


class ThingError(Refusal):
    """An area's own refusal, conflict unless it says otherwise."""


def _app() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/refuse/{kind}")
    def refuse(kind: Kind) -> None:
        raise ThingError("rule_x", f"No ({kind}).", {"why": kind}, kind=kind)

    @app.get("/conflict")
    def conflict() -> None:
        raise ThingError("busy", "Not now.")

    @app.get("/missing")
    def missing() -> None:
        raise not_found("thing")

    return TestClient(app)


def test_every_kind_has_one_status():
    assert set(REFUSAL_STATUS) == set(get_args(Kind))
    assert all(400 <= status < 500 for status in REFUSAL_STATUS.values())


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/refuse/invalid", 422, "rule_x"),
        ("/refuse/bad_request", 400, "rule_x"),
        ("/refuse/forbidden", 403, "rule_x"),
        ("/refuse/too_large", 413, "rule_x"),
        ("/conflict", 409, "busy"),
        ("/missing", 404, "not_found"),
    ],
)
def test_a_refusal_is_a_4xx_with_its_code(path: str, status: int, code: str):
    answer = _app().get(path)
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == code
    assert answer.json()["error"]["message"]
