"""``python -m services.demo_seed``: the demo tenant of ``services.stack``, on a running stack.

docker-compose runs it as the optional one-shot ``demo-seed`` service (profile ``demo``)
against the conversation service at ``CONVERSATION_URL`` with ``OPERATOR_TOKEN``. It
keeps what it created in ``DATA_DIR/demo-tenant.json`` and does nothing on a second
run, so ``docker compose --profile demo up`` may be repeated.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from services.stack import Stack, seed_demo


@dataclass
class RunningStack(Stack):
    """A stack started elsewhere (compose, a cluster): only the conversation URL is known."""

    conversation_url: str = "http://127.0.0.1:8000"

    def url(self, service: str) -> str:
        if service != "conversation":
            raise ValueError(f"only the conversation service is known here, not {service}")
        return self.conversation_url.rstrip("/")


def main() -> None:
    stack = RunningStack(
        Path(os.environ.get("DATA_DIR", "data")),
        conversation_url=os.environ.get("CONVERSATION_URL", "http://127.0.0.1:8000"),
    )
    stack.data_dir.mkdir(parents=True, exist_ok=True)
    demo = seed_demo(stack, operator_token=os.environ["OPERATOR_TOKEN"])
    print(json.dumps({k: v for k, v in demo.items() if k != "password"}), flush=True)


if __name__ == "__main__":
    main()
