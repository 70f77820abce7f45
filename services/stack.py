"""``python -m services.stack``: the whole Interact stack on one machine, on the embedded defaults.

Starts an Apache Kafka node (its log in ``DATA_DIR/kafka``, unless ``KAFKA_BOOTSTRAP_SERVERS``
is set), the six services as processes with SQLite files under ``DATA_DIR``, seeds a demo
tenant on the first run, prints the URLs and demo credentials, and stops everything on Ctrl-C.
Data is kept between runs. The tests start the same :class:`Stack`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.local_broker import LocalBroker, free_port

SERVICES: dict[str, int] = {
    "conversation": 8000,
    "ingest": 8001,
    "routing": 8002,
    "stats": 8003,
    "billing": 8004,
    "sla": 8005,
    # The one public origin (the Portal, its API, the website chat): started last.
    "gateway": 8080,
}
#: The services with an API of their own (the gateway only forwards, and serves the Portal).
API_SERVICES: tuple[str, ...] = tuple(name for name in SERVICES if name != "gateway")
#: The built Portal the gateway serves at ``/`` (``scripts/setup`` builds it).
PORTAL_DIST = Path(__file__).resolve().parent.parent / "portal" / "dist"
DEMO_OPERATOR_TOKEN = "demo-operator-token"
DEMO_PASSWORD = "demo-password-1"


@dataclass
class Stack:
    data_dir: Path
    ports: dict[str, int] = field(default_factory=lambda: dict(SERVICES))
    env: dict[str, str] = field(default_factory=dict)
    database_urls: dict[str, str] = field(default_factory=dict)
    broker: LocalBroker | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    bootstrap_servers: str = ""
    smtp_port: int = 0
    mail_sink: subprocess.Popen[bytes] | None = None

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def start(self, timeout: float = 90.0) -> Stack:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.bootstrap_servers = self.env.get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get(
            "KAFKA_BOOTSTRAP_SERVERS", ""
        )
        if not self.bootstrap_servers:
            self.broker = LocalBroker(
                self.data_dir / "kafka", log_file=self.data_dir / "broker.log"
            ).start()
            self.bootstrap_servers = self.broker.bootstrap_servers
        self.start_mail_sink()
        for name in SERVICES:
            self.start_service(name)
        self.wait_ready(timeout)
        return self

    def start_mail_sink(self) -> None:
        """A local SMTP server keeping every mail (password links) in ``DATA_DIR/mailbox``."""
        if "SMTP_HOST" in self.env or "SMTP_HOST" in os.environ:
            return
        self.smtp_port = free_port()
        self.mail_sink = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                f"127.0.0.1:{self.smtp_port}",
                "-c",
                "aiosmtpd.handlers.Mailbox",
                str(self.data_dir / "mailbox"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def service_env(self, name: str) -> dict[str, str]:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "DATA_DIR": str(self.data_dir),
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(self.ports[name]),
            "CONVERSATION_URL": self.url("conversation"),
            "INGEST_URL": self.url("ingest"),
            "STATS_URL": self.url("stats"),
            "BILLING_URL": self.url("billing"),
            "SLA_URL": self.url("sla"),
            "PORTAL_DIST": os.environ.get("PORTAL_DIST", str(PORTAL_DIST)),
            "OPERATOR_TOKEN": os.environ.get("OPERATOR_TOKEN", DEMO_OPERATOR_TOKEN),
            "INTERACT_ENV": os.environ.get("INTERACT_ENV", "development"),  # demo secrets
            # Password links open the Portal, behind the gateway.
            "PUBLIC_BASE_URL": self.url("gateway"),
            **(
                {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(self.smtp_port)}
                if self.smtp_port
                else {}
            ),
            **self.env,
        }
        if name in self.database_urls:
            env["DATABASE_URL"] = self.database_urls[name]
        return env

    def start_service(self, name: str) -> None:
        log = open(self.data_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            env=self.service_env(name),
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def start_replica(self, name: str) -> str:
        """One more process of service ``name`` on its database, its data and the broker, on a
        port of its own; returns its key (``name#2``...) for :meth:`url` and :meth:`stop_service`."""
        number = 2
        while f"{name}#{number}" in self.processes:
            number += 1
        key = f"{name}#{number}"
        self.ports[key] = free_port()
        log = open(self.data_dir / f"{name}-{number}.log", "ab")  # noqa: SIM115 - the child's
        self.processes[key] = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            env=self.service_env(name) | {"HTTP_PORT": str(self.ports[key])},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return key

    def stop_service(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        process = self.processes.pop(name)
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def wait_ready(self, timeout: float = 90.0, names: list[str] | None = None) -> None:
        deadline = time.monotonic() + timeout
        for name in names or list(SERVICES):
            while True:
                process = self.processes[name]
                if process.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited with {process.returncode}; see {self.data_dir / name}.log"
                    )
                try:
                    if httpx.get(f"{self.url(name)}/ready", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name} not ready; see {self.data_dir / name}.log")
                time.sleep(0.1)

    def stop(self) -> None:
        for name in list(self.processes):
            process = self.processes[name]
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name in list(self.processes):
            self.stop_service(name)
        if self.broker is not None:
            self.broker.stop()
        if self.mail_sink is not None:
            self.mail_sink.terminate()
            self.mail_sink.wait(10)

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def seed_demo(stack: Stack, operator_token: str = DEMO_OPERATOR_TOKEN) -> dict:
    """The demo tenant: an Administrator, two Agents (languages, competences) and a website chat."""
    marker = stack.data_dir / "demo-tenant.json"
    if marker.exists():
        return json.loads(marker.read_text())
    api = stack.url("conversation")
    with httpx.Client(base_url=api, timeout=30) as http:
        created = http.post(
            "/v1/operator/tenants",
            headers={"Authorization": f"Bearer {operator_token}"},
            json={
                "name": "Demo Bakery",
                "plan": "bot",
                "sdk_option": True,
                "minimum_end_users": 3,
                "default_language": "nl",
                "first_end_user": {
                    "first_name": "Ada",
                    "last_name": "Admin",
                    "email": "admin@demo.example",
                    "language": "nl",
                    "password": DEMO_PASSWORD,
                },
            },
        )
        created.raise_for_status()
        admin = demo_login(http, "admin@demo.example")
        http.put(
            "/v1/settings/general",
            headers=admin,
            json={"routing_enabled": True, "languages": ["nl", "fr", "en"], "default_capacity": 5},
        ).raise_for_status()
        channel = http.post(
            "/v1/channels", headers=admin, json={"channel_type": "webchat", "name": "Website"}
        )
        channel.raise_for_status()
        channel_id = channel.json()["channel_id"]
        competence = {
            name: http.post("/v1/competences", headers=admin, json={"name": name}).json()["id"]
            for name in ("Orders", "Technical")
        }
        for name in ("Delivery", "Complaint", "Question"):
            http.post("/v1/topics", headers=admin, json={"name": name}).raise_for_status()
        agents = [
            ("Nora", "Nederlands", "nora@demo.example", ["nl", "fr"], ["Orders"]),
            ("Eric", "English", "eric@demo.example", ["en", "nl"], ["Technical"]),
        ]
        for first, last, email, languages, competences in agents:
            http.post(
                "/v1/users",
                headers=admin,
                json={
                    "first_name": first,
                    "last_name": last,
                    "email": email,
                    "role": "agent",
                    "mother_tongue": languages[0],
                    "languages": languages,
                    "channel_ids": [channel_id],
                    "competences": [competence[c] for c in competences],
                    "password": DEMO_PASSWORD,
                },
            ).raise_for_status()
            http.put(
                "/v1/me/presence", headers=demo_login(http, email), json={"presence": "online"}
            )
    demo = {
        "tenant_id": created.json()["tenant_id"],
        "channel_id": channel_id,
        "webchat_key": channel.json()["public_key"],
        "users": ["admin@demo.example"] + [a[2] for a in agents],
        "password": DEMO_PASSWORD,
    }
    marker.write_text(json.dumps(demo, indent=2))
    return demo


def demo_login(http: httpx.Client, email: str) -> dict[str, str]:
    response = http.post("/v1/auth/login", json={"email": email, "password": DEMO_PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['token']}"}


def backup_if_due(data_dir: Path) -> None:
    """The run command's schedule: a backup at the first start (set-up), then weekly."""
    from services.backup import archive
    from services.backup.settings import BackupSettings

    settings = BackupSettings(data_dir=data_dir)
    try:
        if archive.due(settings):
            made = archive.backup(settings, reason="scheduled")
            print(f"  Backup        {made.path}", flush=True)
    except (archive.BackupError, OSError) as exc:
        print(f"backup failed: {exc}", flush=True)


def main() -> None:
    stack = Stack(Path(os.environ.get("DATA_DIR", "data")).resolve())
    stopping = False
    next_backup_check = 0.0

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        stack.start()
        demo = seed_demo(stack)
        print(f"\n  Portal        {stack.url('gateway')}/   <- open this in your browser")
        print(f"  Demo logins   {', '.join(demo['users'])}  password: {demo['password']}")
        if not (Path(os.environ.get("PORTAL_DIST", PORTAL_DIST)) / "index.html").is_file():
            print("                (the Portal is not built yet: run scripts/setup)")
        print(f"  Logs          {stack.data_dir}/<service>.log (one file per service)")
        print(f"\nInteract is running (Ctrl-C stops it; data stays in {stack.data_dir})\n")
        for name in SERVICES:
            docs = "" if name == "gateway" else f"   (API docs: {stack.url(name)}/docs)"
            print(f"  {name:<13} {stack.url(name)}{docs}")
        print(f"\n  Kafka         {stack.bootstrap_servers}")
        print(f"  Mail          {stack.data_dir / 'mailbox'} (password links land here)")
        print(f"  Operator      Bearer {os.environ.get('OPERATOR_TOKEN', DEMO_OPERATOR_TOKEN)}")
        print(f"  Chat widget   {stack.url('gateway')}/sdk/demo/{demo['webchat_key']}")
        print(
            f"  Try it        curl -X POST {stack.url('gateway')}/v1/webchat/{demo['webchat_key']}"
            "/messages -H 'content-type: application/json'"
            ' -d \'{"visitor_id":"v1","text":"Hallo!"}\'\n',
            flush=True,
        )
        while not stopping:
            if time.monotonic() >= next_backup_check:
                backup_if_due(stack.data_dir)
                next_backup_check = time.monotonic() + 3600
            for name, process in stack.processes.items():
                if process.poll() is not None:
                    print(f"{name} stopped (code {process.returncode}); restarting", flush=True)
                    stack.start_service(name)
                    break
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping…", flush=True)
        stack.stop()


if __name__ == "__main__":
    main()
