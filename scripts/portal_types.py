"""Regenerates the Portal's API types from the services' OpenAPI documents.

Each service's FastAPI app is built the way it runs (``scripts/api_docs.py``) against a
throw-away ``DATA_DIR``, without starting it: no broker, no server. Its OpenAPI document goes through ``openapi-typescript`` into
``portal/src/api/schema/<service>.ts``. ``tests/unit/portal/test_portal_types.py`` runs this
into a temporary folder and fails when the committed types are stale.

Usage: ``.venv/bin/python scripts/portal_types.py [--out DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORTAL = ROOT / "portal"
#: The services whose HTTP APIs the Portal calls (routing has none).
SERVICES = ("conversation", "stats", "billing", "sla", "ingest")


def generate(out: Path) -> list[Path]:
    """One ``.ts`` per service, from the same documents ``scripts/api_docs.py`` commits."""
    from api_docs import openapi_documents  # beside this script: one way to build the apps

    out.mkdir(parents=True, exist_ok=True)
    binary = PORTAL / "node_modules" / ".bin" / "openapi-typescript"
    if not binary.exists():
        sys.exit("portal/node_modules is missing: run `npm ci` in portal/ (scripts/setup does).")
    documents = openapi_documents()
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        for service in SERVICES:
            spec = Path(tmp) / f"{service}.json"
            spec.write_text(json.dumps(documents[service], indent=2))
            target = out / f"{service}.ts"
            subprocess.run(
                [str(binary), str(spec), "--output", str(target)],
                check=True,
                capture_output=True,
                cwd=PORTAL,
            )
            written.append(target)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PORTAL / "src" / "api" / "schema")
    args = parser.parse_args()
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    for path in generate(args.out):
        print(path)


if __name__ == "__main__":
    main()
