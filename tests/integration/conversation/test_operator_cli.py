"""The operator's command line onboards a tenant whose Administrator gets a password mail."""

from __future__ import annotations

from services.conversation.operator_cli import parse, run
from tests.support.tenants import OPERATOR_TOKEN, token_in, wait_for_link


def test_create_tenant_from_the_command_line_and_log_in_through_the_mail(portal, mail):
    args = parse(
        [
            "create-tenant",
            "--name",
            "CLI Bakery",
            "--plan",
            "pro",
            "--sdk-option",
            "--admin-email",
            "ada@cli-bakery.example",
            "--admin-first-name",
            "Ada",
            "--admin-last-name",
            "Peeters",
            "--minimum-end-users",
            "3",
        ]
    )
    code, output = run(args, portal, OPERATOR_TOKEN)
    assert code == 0, output
    link = wait_for_link(mail, "ada@cli-bakery.example")
    reset = portal.post(
        "/v1/auth/reset-password", json={"token": token_in(link), "password": "chosen by ada"}
    )
    assert reset.status_code == 204
    session = portal.post(
        "/v1/auth/login", json={"email": "ada@cli-bakery.example", "password": "chosen by ada"}
    )
    assert session.status_code == 200 and session.json()["role"] == "administrator"


def test_refusals_are_reported_with_their_reason(portal):
    bad_plan = parse(
        [
            "create-tenant",
            "--name",
            "X",
            "--plan",
            "pro",
            "--admin-email",
            "not-an-email",
            "--admin-first-name",
            "A",
            "--admin-last-name",
            "B",
        ]
    )
    code, output = run(bad_plan, portal, OPERATOR_TOKEN)
    assert code == 1 and "invalid_request" in output
    code, output = run(bad_plan, portal, "wrong-token")
    assert code == 1 and "401 unauthorized" in output
