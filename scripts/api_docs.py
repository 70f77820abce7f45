"""Writes the platform's API contracts to ``docs/api/``, so a breaking change shows in review.

- ``docs/api/<service>.openapi.json``: each service's OpenAPI document, from its FastAPI
  app built exactly as ``python -m services.<service>`` builds it (its ``main()`` runs with
  ``serve`` replaced by a function that keeps the app), against a throw-away ``DATA_DIR``,
  without a broker or a server;
- ``docs/api/asyncapi.json``: the Kafka contract (``shared.asyncapi``).

``tests/unit/shared/test_api_documents.py`` fails when the committed files are stale.

Usage: ``.venv/bin/python scripts/api_docs.py [--out DIR]``
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "api"
SERVICES = ("conversation", "ingest", "routing", "stats", "billing", "sla")


@contextmanager
def app_of(service: str, data_dir: Path) -> Iterator[Any]:
    """The service's app as its ``main()`` builds it, not served."""
    built: list[Any] = []
    module = importlib.import_module(f"services.{service}.__main__")
    # Only the app is wanted: development mode, so no secrets need to be set.
    environment = {"DATA_DIR": str(data_dir / service), "INTERACT_ENV": "development"}
    with (
        mock.patch.dict(os.environ, environment),
        mock.patch.object(module, "serve", lambda app, _settings: built.append(app)),
    ):
        module.main()
    (app,) = built
    yield app


def openapi_documents() -> dict[str, dict[str, Any]]:
    documents = {}
    with tempfile.TemporaryDirectory() as tmp:
        for service in SERVICES:
            with app_of(service, Path(tmp)) as app:
                documents[service] = app.openapi()
    return documents


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def generate(out: Path) -> list[Path]:
    from shared.asyncapi import asyncapi_document

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for service, document in openapi_documents().items():
        path = out / f"{service}.openapi.json"
        path.write_text(render(document))
        written.append(path)
    path = out / "asyncapi.json"
    path.write_text(render(asyncapi_document()))
    written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    for path in generate(args.out):
        print(path)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
