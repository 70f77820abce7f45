"""The embedded broker: Apache Kafka itself, one KRaft node that is broker and controller.

Used when ``KAFKA_BOOTSTRAP_SERVERS`` is not set (local runs, ``data/kafka``) and by the tests
(a temporary folder). ``scripts/setup`` puts the broker's jars into ``.kafka/lib`` with Maven
(``deploy/kafka/pom.xml``); this module only needs ``java``. The node keeps its log on disk:
it can be stopped (SIGTERM), killed (SIGKILL) and started again on the same ports with all
its topics, offsets and producer state, which is what the fault tests need.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KAFKA_LIB = Path(os.environ.get("INTERACT_KAFKA_LIB", ROOT / ".kafka" / "lib"))
STATE_FILE = "interact-node.json"  # cluster id and ports, written when the folder is formatted

# Small and quick to start: one node on a shared 2-core machine. SerialGC has no GC threads
# to keep busy; the heap is bounded; no perf-data file in /tmp. Only the quick JIT (C1): in
# its first minutes a fresh node spent as much CPU in the C2 compiler's threads as in
# serving requests (0.29 -> 0.14 cores at 200 produce requests/s, 0.4 -> 0.2 ms per
# conversation in bench/e2e.py); a long-lived node under heavy load may want C2 back
# (``KAFKA_JVM_OPTIONS=-XX:TieredStopAtLevel=4``).
JVM_OPTIONS = [
    "-Xms64m",
    "-Xmx512m",
    "-XX:TieredStopAtLevel=1",
    "-XX:+UseSerialGC",
    "-XX:-UsePerfData",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
]

LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.out.ref = out
"""


#: Ports ``free_port`` handed out in this process: two callers never get the same one.
_HANDED_OUT: set[int] = set()


def _ephemeral_ports() -> tuple[int, int]:
    """The kernel's range for the local end of outgoing connections."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port() -> int:
    """A loopback port nobody listens on, for a server about to start there.

    Not one the kernel would pick (``bind(0)``): those are its ephemeral ports, and any
    outgoing connection (a Kafka client's, say) may take one as its local end between this
    check and the server's bind - a service of the test stack once failed to start so.
    Below (or above) the ephemeral range, only another server can take it."""
    low, high = _ephemeral_ports()
    candidates = range(max(1024, low - 12_000), low) if low > 2048 else range(high + 1, 65_536)
    for _ in range(500):
        port = random.choice(candidates)
        if port in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # all taken: the kernel's
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def java_binary() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise RuntimeError(
            "the embedded Kafka broker needs Java 17+ (apt-get install openjdk-17-jre-headless)"
        )
    return java


def classpath() -> str:
    if not any(KAFKA_LIB.glob("kafka_2.13-*.jar")):
        raise RuntimeError(
            f"no Kafka jars in {KAFKA_LIB}: run scripts/setup (it fetches them with Maven)"
        )
    return str(KAFKA_LIB / "*")


def server_properties(log_dir: Path, port: int, controller_port: int) -> str:
    """One combined node; only what differs from Kafka's defaults, and why."""
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(log_dir),
        # The services create their topics with their partition count; a topic made by
        # accident (a metadata request for a missing name) would have the wrong one.
        "auto.create.topics.enable": "false",
        # A single node: internal topics cannot have more replicas than that.
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "6",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "6",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # After a crash the restarted controller still counts the old incarnation as alive
        # until its session times out (9 s by default): a short session makes a restart quick.
        "broker.session.timeout.ms": "3000",
        "broker.heartbeat.interval.ms": "1000",
        # The controller appends a no-op record to its log when idle, every 500 ms by default:
        # half of an idle node's CPU. One node has no follower that needs the liveness signal.
        "metadata.max.idle.interval.ms": "5000",
        # A consumer joining an empty group starts at once, not after 3 s.
        "group.initial.rebalance.delay.ms": "0",
        # Two cores: fewer threads than the server defaults, which assume a dedicated host.
        "num.network.threads": "2",
        "num.io.threads": "2",
        "background.threads": "2",
        "num.recovery.threads.per.data.dir": "1",
        "log.cleaner.threads": "1",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def _cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


class LocalBroker:
    """A Kafka node on loopback ports with its log in ``data_dir`` (a temp folder if none).

    ``start`` formats the folder the first time and remembers the ports in it, so a restart
    (after ``stop`` or ``kill``) is the same node with its data, reachable at the same
    ``bootstrap_servers``.
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        port: int | None = None,
        log_file: Path | None = None,
        log_level: str | None = None,
    ) -> None:
        self._owns_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="interact-kafka-")).resolve()
        self.log_file = log_file
        self.log_level = log_level or os.environ.get("KAFKA_LOG_LEVEL", "WARN")
        self.process: subprocess.Popen[bytes] | None = None
        state = self._read_state()
        self.port = state["port"] if state else (port or free_port())
        self.controller_port = state["controller_port"] if state else free_port()
        self.cluster_id = state["cluster_id"] if state else _cluster_id()

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    # --- life cycle -------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> LocalBroker:
        """Start the node (formatting its folder the first time); return once it serves."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        if self._read_state() is None:
            self._format(config)
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [*self._java(), "kafka.Kafka", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if out is not subprocess.DEVNULL:
            out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise RuntimeError(
                    f"Kafka exited with code {code}; see {self.log_file or 'its log'}"
                )
            if self._serves():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Kafka did not serve metadata on {self.bootstrap_servers}")

    def stop(self, timeout: float = 30.0) -> None:
        """A clean shutdown (SIGTERM); the data stays for the next ``start``."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """A crash (SIGKILL): nothing flushed, nothing handed over; ``start`` recovers it."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self, timeout: float = 60.0) -> LocalBroker:
        self.stop()
        return self.start(timeout)

    def pause(self) -> None:
        """Freeze the node (SIGSTOP): unreachable but alive, like a hung host."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        """Stop, and remove the folder if it was a temporary one."""
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- internals ---------------------------------------------------------------------------
    def _java(self) -> list[str]:
        log4j = self.data_dir / "log4j2.properties"
        log4j.write_text(LOG4J2.format(level=self.log_level))
        return [
            java_binary(),
            *JVM_OPTIONS,
            # e.g. a bigger heap for a load test; later options win
            *os.environ.get("KAFKA_JVM_OPTIONS", "").split(),
            f"-Dlog4j2.configurationFile={log4j}",
            f"-Dkafka.logs.dir={self.data_dir}",
            "-cp",
            classpath(),
        ]

    def _write_config(self) -> Path:
        config = self.data_dir / "server.properties"
        config.write_text(server_properties(self.data_dir / "log", self.port, self.controller_port))
        return config

    def _format(self, config: Path) -> None:
        """``kafka-storage format --standalone``: a new cluster whose only voter is this node."""
        done = subprocess.run(
            [
                *self._java(),
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                f"--cluster-id={self.cluster_id}",  # an id may start with "-"
                f"--config={config}",
            ],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"formatting {self.data_dir} failed: {done.stdout}{done.stderr}")
        state = {
            "cluster_id": self.cluster_id,
            "port": self.port,
            "controller_port": self.controller_port,
        }
        (self.data_dir / STATE_FILE).write_text(json.dumps(state))

    def _read_state(self) -> dict | None:
        path = self.data_dir / STATE_FILE
        return json.loads(path.read_text()) if path.exists() else None

    def _serves(self) -> bool:
        """A metadata request answered with this node as a live broker."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                pass
        except OSError:
            return False
        result: list[bool] = []
        thread = threading.Thread(target=lambda: result.append(asyncio.run(_metadata(self))))
        thread.start()
        thread.join()
        return bool(result and result[0])


async def _metadata(broker: LocalBroker) -> bool:
    from aiokafka import AIOKafkaClient
    from aiokafka.errors import KafkaError

    client = AIOKafkaClient(bootstrap_servers=broker.bootstrap_servers, request_timeout_ms=2000)
    try:
        await client.bootstrap()
        return bool(client.cluster.brokers())
    except (KafkaError, OSError):
        return False
    finally:
        await client.close()
