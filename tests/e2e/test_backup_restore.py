"""Restore on incident (SPEC §5.1.2.2): the whole stack comes back to its latest backup.

A stack on PostgreSQL with a tenant and a routed, counted conversation is backed up with the
operator command while it runs; a second conversation follows; the stack is stopped and the
backup restored into new, empty databases and a new blob store; a stack started on them
has the first conversation (views replayed from the restored event store) with the
visitor's PDF downloadable, logins, statistics, and not the second, and handles a new
message end to end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import httpx

from services.stack import SERVICES, Stack, seed_demo
from shared.local_broker import free_port
from tests.support import files
from tests.support.e2e import database_urls, login, wait_for
from tests.support.postgres import find_postgres_bin_dir


def operator_command(urls: dict[str, str], backups, stack: Stack, *args: str) -> str:  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "DATA_DIR": str(stack.data_dir),  # the blob store, DATA_DIR/blobs
        "BACKUP_DIR": str(backups),
        "PG_BIN_DIR": str(find_postgres_bin_dir()),
        **{f"{name.upper()}_DATABASE_URL": url for name, url in urls.items()},
    }
    done = subprocess.run(
        [sys.executable, "-m", "services.backup", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_stack_restored_from_its_backup_has_what_it_had_then(
    tmp_path, kafka_bootstrap, postgres
) -> None:
    def new_stack(name: str) -> tuple[Stack, dict[str, str]]:
        urls = database_urls(postgres, f"restore_{name}_{uuid.uuid4().hex[:6]}")
        stack = Stack(
            tmp_path / name,
            ports={service: free_port() for service in SERVICES},
            env={"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap},
            database_urls=urls,
        )
        return stack, urls

    backups = tmp_path / "backups"
    first, first_urls = new_stack("first")
    restored, restored_urls = new_stack("restored")
    try:
        first.start()
        demo = seed_demo(first)

        def post(stack: Stack, visitor: str, text: str, locale: str) -> None:
            response = httpx.post(
                f"{stack.url('ingest')}/v1/webchat/{demo['webchat_key']}/messages",
                json={"visitor_id": visitor, "text": text, "locale": locale, "message_id": text},
            )
            assert response.status_code == 202

        def queue(stack: Stack, email: str) -> list[str]:
            headers = login(stack, email)
            items = httpx.get(f"{stack.url('conversation')}/v1/queue", headers=headers)
            return [c["preview"] for c in items.json()["items"]]

        def counted(stack: Stack) -> int:
            url = f"{stack.url('stats')}/v1/stats/conversations/per-channel"
            return httpx.get(url, headers=login(stack, "admin@demo.example")).json()["total"]

        def nora_files(stack: Stack) -> list[dict]:
            headers = login(stack, "nora@demo.example")
            api = stack.url("conversation")
            found = []
            for item in httpx.get(f"{api}/v1/queue", headers=headers).json()["items"]:
                url = f"{api}/v1/conversations/{item['conversation_id']}"
                detail = httpx.get(url, headers=headers).json()
                found += [a for m in detail["messages"] for a in m["attachments"]]
            return found

        post(first, "visitor-fr", "Bonjour, ma commande?", "fr_BE")  # French: Nora's
        assert wait_for(lambda: queue(first, "nora@demo.example")) == ["Bonjour, ma commande?"]
        wait_for(lambda: counted(first) == 1)
        pdf = files.pdf("Facture 42")
        sent = httpx.post(
            f"{first.url('ingest')}/v1/webchat/{demo['webchat_key']}/files",
            params={
                "visitor_id": "visitor-fr",
                "client_id": "facture",
                "file_name": "42.pdf",
                "text": "Voici la facture",
            },
            content=pdf,
            headers={"Content-Type": "application/pdf"},
        )
        assert sent.status_code == 202, sent.text
        assert [f["file_name"] for f in wait_for(lambda: nora_files(first))] == ["42.pdf"]

        made = operator_command(first_urls, backups, first, "backup", "--reason", "weekly")
        backup_id = made.splitlines()[-1].split("\t")[0]  # after the JSON log lines
        assert backup_id in operator_command(first_urls, backups, first, "list")

        post(first, "visitor-en", "Hello, my order?", "en_GB")  # after the backup: Eric's
        assert wait_for(lambda: queue(first, "eric@demo.example")) == ["Hello, my order?"]
        wait_for(lambda: counted(first) == 2)
        first.stop()

        operator_command(restored_urls, backups, restored, "restore")
        restored.start()
        assert wait_for(lambda: queue(restored, "nora@demo.example")) == ["Voici la facture"]
        assert queue(restored, "eric@demo.example") == []
        assert wait_for(lambda: counted(restored) == 1)
        # The visitor's PDF came back with the backup: the agent downloads it.
        (restored_pdf,) = wait_for(lambda: nora_files(restored))
        assert httpx.get(f"{restored.url('conversation')}{restored_pdf['url']}").content == pdf

        # The restored stack works: a new message is routed and counted.
        post(restored, "visitor-en-2", "Hi, where is my cake?", "en_GB")
        assert wait_for(lambda: queue(restored, "eric@demo.example")) == ["Hi, where is my cake?"]
        assert wait_for(lambda: counted(restored) == 2)
    finally:
        first.stop()
        restored.stop()
