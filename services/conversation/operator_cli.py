"""The operator's command line: onboard a tenant from an order, or end its contract.

    python -m services.conversation.operator_cli create-tenant --name "Bakery" --plan pro \\
        --admin-email ada@bakery.example --admin-first-name Ada --admin-last-name Peeters

It calls the operator API of a running conversation service (``--url``, default
``CONVERSATION_URL``) with ``OPERATOR_TOKEN``; the first Administrator gets a mail with a
link to choose a password.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

import httpx


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="operator_cli", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--url", default=os.environ.get("CONVERSATION_URL", "http://127.0.0.1:8000")
    )
    commands = parser.add_subparsers(dest="command", required=True)
    order = commands.add_parser("create-tenant", help="onboard a tenant from an order (SPEC §5)")
    order.add_argument("--name", required=True)
    order.add_argument("--plan", required=True, choices=["hub", "pro", "bot"])
    order.add_argument("--sdk-option", action="store_true", help="the website chat SDK option")
    order.add_argument("--minimum-end-users", type=int, default=1)
    order.add_argument("--contract-start", help="ISO date-time, e.g. 2026-12-01T00:00:00+01:00")
    order.add_argument("--language", default="nl", help="the first user's and tenant's language")
    order.add_argument("--time-zone", default="Europe/Brussels")
    order.add_argument("--admin-email", required=True)
    order.add_argument("--admin-first-name", required=True)
    order.add_argument("--admin-last-name", required=True)
    end = commands.add_parser("end-contract", help="after this moment nobody of the tenant logs in")
    end.add_argument("--tenant-id", required=True)
    end.add_argument("--contract-end", required=True, help="ISO date-time")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, http: httpx.Client, token: str) -> tuple[int, str]:
    """Performs the command; returns (exit code, what to print)."""
    headers = {"Authorization": f"Bearer {token}"}
    if args.command == "create-tenant":
        body = {
            "name": args.name,
            "plan": args.plan,
            "sdk_option": args.sdk_option,
            "minimum_end_users": args.minimum_end_users,
            "time_zone": args.time_zone,
            "default_language": args.language,
            "first_end_user": {
                "first_name": args.admin_first_name,
                "last_name": args.admin_last_name,
                "email": args.admin_email,
                "language": args.language,
            },
        }
        if args.contract_start:
            body["contract_start"] = args.contract_start
        response = http.post("/v1/operator/tenants", json=body, headers=headers)
    else:
        response = http.post(
            f"/v1/operator/tenants/{args.tenant_id}/termination",
            json={"contract_end": args.contract_end},
            headers=headers,
        )
    if response.is_success:
        return 0, response.text or "done"
    try:
        error = response.json()["error"]
        return 1, f"refused ({response.status_code} {error['code']}): {error['message']}" + (
            f"\n{json.dumps(error['details'], indent=2)}" if error.get("details") else ""
        )
    except (ValueError, KeyError):
        return 1, f"refused ({response.status_code}): {response.text[:500]}"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    token = os.environ.get("OPERATOR_TOKEN")
    if not token:
        print("set OPERATOR_TOKEN to the operator token", file=sys.stderr)
        return 2
    try:
        with httpx.Client(base_url=args.url, timeout=30) as http:
            code, text = run(args, http, token)
    except httpx.HTTPError as exc:
        print(f"cannot reach {args.url}: {exc}", file=sys.stderr)
        return 1
    print(text, file=sys.stdout if code == 0 else sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
