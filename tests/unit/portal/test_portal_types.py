"""The Portal's generated API types match the services' OpenAPI documents as they are now.

Regenerates them (``scripts/portal_types.py``) into a temporary folder and compares with
``portal/src/api/schema``: a changed endpoint or schema without ``scripts/portal_types.py``
run fails here, so the Portal and the API cannot drift apart.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / "portal" / "src" / "api" / "schema"


def test_committed_portal_types_are_current(tmp_path: Path) -> None:
    assert (ROOT / "portal" / "node_modules" / ".bin" / "openapi-typescript").exists(), (
        "portal/node_modules is missing: scripts/setup runs `npm ci` in portal/"
    )
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "portal_types.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    fresh = {p.name: p.read_text() for p in tmp_path.glob("*.ts")}
    committed = {p.name: p.read_text() for p in COMMITTED.glob("*.ts")}
    assert sorted(fresh) == sorted(committed)
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"stale Portal types {stale}: run .venv/bin/python scripts/portal_types.py"


def test_generated_types_name_the_portal_endpoints() -> None:
    text = (COMMITTED / "conversation.ts").read_text()
    for path in ('"/v1/me"', '"/v1/auth/login"', '"/v1/queue"', '"/v1/events"'):
        assert path in text
