"""Throw-away PostgreSQL servers for tests, without Docker.

``PostgresCluster`` runs ``initdb`` + ``pg_ctl`` from the newest local PostgreSQL installation
(``/usr/lib/postgresql/<version>/bin``, as installed by the Debian ``postgresql`` package) in a
temporary directory, on a free port of 127.0.0.1, with durability switched off for speed. When the
tests run as root, the binaries are run as the ``postgres`` system user (``initdb`` refuses root).

``postgres_from_env_or_local()`` returns a server to use in tests: the server named by
``TEST_DATABASE_URL`` when set, a testcontainers container when ``INTERACT_USE_TESTCONTAINERS=1``
and Docker is reachable, otherwise a local ``PostgresCluster``. All of them share the interface
of ``PostgresServer``: ``start()``, ``stop()``, ``url(dbname)``, ``create_database(name)``,
``drop_database(name)``, and use as a context manager.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Self

import psycopg
from psycopg import errors, sql
from sqlalchemy.engine import URL, make_url

__all__ = [
    "ExternalPostgres",
    "PostgresCluster",
    "PostgresContainerServer",
    "PostgresServer",
    "PostgresUnavailableError",
    "find_postgres_bin_dir",
    "postgres_from_env_or_local",
]

DRIVER = "postgresql+psycopg"
SYSTEM_USER = "postgres"
SUPERUSER = "postgres"
INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) are needed to run the database tests; "
    "install them with `apt-get install postgresql` (or set TEST_DATABASE_URL to a server URL, "
    "or POSTGRES_BIN_DIR to the directory holding the binaries)."
)
# Longest path of a unix socket directory: sun_path is 108 bytes and the server appends
# "/.s.PGSQL.<port>" (16 bytes) to it.
_MAX_SOCKET_DIR_LEN = 107 - len("/.s.PGSQL.65535")


class PostgresUnavailableError(RuntimeError):
    """The PostgreSQL binaries are missing or the server could not be started."""


class PostgresServer:
    """A PostgreSQL server reachable over TCP, with helpers to manage databases on it.

    ``start()`` and ``stop()`` do nothing here; subclasses that own a server override them.
    """

    host: str
    port: int
    user: str
    password: str

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 5432,
        user: str = SUPERUSER,
        password: str = "",
        admin_dbname: str = "postgres",
        query: dict[str, Any] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.admin_dbname = admin_dbname
        self._query = dict(query or {})

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Self:
        return self

    def stop(self) -> None:
        return None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- connection details ---------------------------------------------------------------------

    def sqlalchemy_url(self, dbname: str) -> URL:
        return URL.create(
            DRIVER,
            username=self.user,
            password=self.password or None,
            host=self.host,
            port=self.port,
            database=dbname,
            query=self._query,
        )

    def url(self, dbname: str) -> str:
        """SQLAlchemy URL (psycopg 3 driver, password included) of database ``dbname``."""
        return self.sqlalchemy_url(dbname).render_as_string(hide_password=False)

    def connect(self, dbname: str | None = None, **kwargs: Any) -> psycopg.Connection:
        """A psycopg connection to ``dbname`` (default: the maintenance database)."""
        params: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "dbname": dbname or self.admin_dbname,
            "connect_timeout": 10,
            **{k: v for k, v in self._query.items() if isinstance(v, str)},
        }
        if self.password:
            params["password"] = self.password
        params.update(kwargs)
        return psycopg.connect(**params)

    # -- databases ------------------------------------------------------------------------------

    def create_database(self, name: str) -> None:
        """Create database ``name`` unless it already exists."""
        with self.connect(autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if exists:
                return
            # Another process may create it between the check and here.
            with contextlib.suppress(errors.DuplicateDatabase, errors.UniqueViolation):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, disconnecting its sessions."""
        with self.connect(autocommit=True) as conn:
            if conn.info.server_version >= 130000:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
                return
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(host={self.host!r}, port={self.port!r}, user={self.user!r})"


class ExternalPostgres(PostgresServer):
    """An already running server given by URL (e.g. ``TEST_DATABASE_URL``); never started or
    stopped here. The URL's database, if any, is used as the maintenance database."""

    def __init__(self, server_url: str) -> None:
        parsed = make_url(server_url)
        if not parsed.get_backend_name().startswith("postgres"):
            raise ValueError(f"not a PostgreSQL URL: {parsed!r}")
        super().__init__(
            host=parsed.host or "127.0.0.1",
            port=parsed.port or 5432,
            user=parsed.username or SUPERUSER,
            password=parsed.password or "",
            admin_dbname=parsed.database or "postgres",
            query=dict(parsed.query),
        )


def _version_key(bin_dir: str) -> tuple[int, ...]:
    version = Path(bin_dir).parent.name
    return tuple(int(part) for part in re.findall(r"\d+", version)) or (0,)


def find_postgres_bin_dir() -> Path:
    """Directory holding initdb/pg_ctl/postgres: ``$POSTGRES_BIN_DIR``, else the newest
    ``/usr/lib/postgresql/*/bin``, else wherever ``pg_ctl`` is on ``PATH``."""
    needed = ("initdb", "pg_ctl", "postgres")

    def complete(directory: str | Path) -> bool:
        return all(os.access(Path(directory, name), os.X_OK) for name in needed)

    override = os.environ.get("POSTGRES_BIN_DIR")
    if override:
        if complete(override):
            return Path(override)
        raise PostgresUnavailableError(
            f"POSTGRES_BIN_DIR={override!r} lacks one of {', '.join(needed)}. {INSTALL_HINT}"
        )
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for candidate in candidates:
        if complete(candidate):
            return Path(candidate)
    on_path = shutil.which("pg_ctl")
    if on_path and complete(Path(on_path).resolve().parent):
        return Path(on_path).resolve().parent
    raise PostgresUnavailableError(f"No PostgreSQL server installation found. {INSTALL_HINT}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, max_chars: int = 4000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<no server log: {exc}>"
    return text[-max_chars:]


class PostgresCluster(PostgresServer):
    """A private PostgreSQL cluster in a temporary directory, from the local binaries.

    Usage::

        with PostgresCluster() as pg:
            pg.create_database("app")
            engine = sqlalchemy.create_engine(pg.url("app"))
    """

    START_ATTEMPTS = 3
    START_TIMEOUT_S = 60

    def __init__(self, bin_dir: str | Path | None = None) -> None:
        super().__init__(host="127.0.0.1", port=0, user=SUPERUSER, password=secrets.token_hex(16))
        self._bin_dir = Path(bin_dir) if bin_dir else None
        self._as_root = os.geteuid() == 0
        self._lock = threading.Lock()
        self.base_dir: Path | None = None
        self.data_dir: Path | None = None
        self.log_file: Path | None = None
        self.startup_seconds: float | None = None

    @property
    def running(self) -> bool:
        return self.data_dir is not None and (self.data_dir / "postmaster.pid").exists()

    # -- process helpers ------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        # Inherited PG* variables (PGDATA, PGPORT, PGHOST, ...) must not steer the tools.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        env["LANG"] = "C"
        return env

    def _run(self, *args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        assert self.base_dir is not None
        bin_dir = self._bin_dir or find_postgres_bin_dir()
        cmd = [str(bin_dir / str(args[0])), *map(str, args[1:])]
        if self._as_root:
            cmd = ["runuser", "-u", SYSTEM_USER, "--", *cmd]
        return subprocess.run(
            cmd,
            cwd=self.base_dir,
            env=self._env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def _chown(self, path: Path) -> None:
        if self._as_root:
            entry = pwd.getpwnam(SYSTEM_USER)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _postgres_can_use(self, path: Path) -> bool:
        if not self._as_root:
            return True
        probe = subprocess.run(
            ["runuser", "-u", SYSTEM_USER, "--", "test", "-w", str(path), "-a", "-x", str(path)],
            cwd="/",
            capture_output=True,
            check=False,
            timeout=30,
        )
        return probe.returncode == 0

    def _make_base_dir(self) -> Path:
        """A temporary directory the server user owns, short enough for the unix socket."""
        roots = [tempfile.gettempdir(), "/tmp"]
        for root in dict.fromkeys(roots):
            path = Path(tempfile.mkdtemp(prefix="pgtest-", dir=root))
            self._chown(path)
            if len(str(path)) <= _MAX_SOCKET_DIR_LEN and self._postgres_can_use(path):
                return path
            shutil.rmtree(path, ignore_errors=True)
        raise PostgresUnavailableError(
            f"No temporary directory usable by the {SYSTEM_USER!r} user (tried {roots})"
        )

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Self:
        with self._lock:
            if self.base_dir is not None:
                return self
            began = time.monotonic()
            bin_dir = self._bin_dir or find_postgres_bin_dir()
            self._bin_dir = bin_dir
            if self._as_root:
                try:
                    pwd.getpwnam(SYSTEM_USER)
                except KeyError:
                    raise PostgresUnavailableError(
                        f"Running as root, but there is no {SYSTEM_USER!r} system user to run "
                        f"PostgreSQL as. {INSTALL_HINT}"
                    ) from None
                if not shutil.which("runuser"):
                    raise PostgresUnavailableError("Running as root, but `runuser` is missing.")
            self.base_dir = self._make_base_dir()
            atexit.register(self.stop)
            try:
                self._initdb()
                self._start_server()
            except BaseException:
                self._stop_locked()
                raise
            self.startup_seconds = time.monotonic() - began
            return self

    def _initdb(self) -> None:
        assert self.base_dir is not None
        self.data_dir = self.base_dir / "data"
        self.log_file = self.base_dir / "postgres.log"
        pwfile = self.base_dir / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        self._chown(pwfile)
        result = self._run(
            "initdb",
            "--pgdata",
            self.data_dir,
            "--username",
            SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise PostgresUnavailableError(
                f"initdb failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.base_dir}'",
            "password_encryption": "'scram-sha-256'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "300",
            "shared_buffers": "128MB",
            "logging_collector": "off",
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# tests/support/postgres.py\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def _start_server(self) -> None:
        assert self.data_dir is not None and self.log_file is not None
        for attempt in range(1, self.START_ATTEMPTS + 1):
            self.port = _free_port()
            log_size = self.log_file.stat().st_size if self.log_file.exists() else 0
            port_taken = False
            result = self._run(
                "pg_ctl",
                "start",
                "--wait",
                f"--timeout={self.START_TIMEOUT_S}",
                "--pgdata",
                self.data_dir,
                "--log",
                self.log_file,
                "-o",
                f"-p {self.port}",
                timeout=self.START_TIMEOUT_S + 30,
            )
            if result.returncode == 0:
                return
            # Another process may have taken the port between choosing and binding it.
            with contextlib.suppress(OSError), self.log_file.open("rb") as log:
                log.seek(log_size)
                port_taken = b"already in use" in log.read()
            if not (port_taken and attempt < self.START_ATTEMPTS):
                tail = _tail(self.log_file)
                raise PostgresUnavailableError(
                    f"PostgreSQL failed to start (pg_ctl exit {result.returncode}) on port "
                    f"{self.port}:\n{result.stdout}\n{result.stderr}\n"
                    f"--- tail of {self.log_file} ---\n{tail}"
                )
            self._kill_postmaster()  # make sure nothing is left over before retrying

    def stop(self) -> None:
        with self._lock:
            self._stop_locked()

    def pause(self) -> None:
        """The server goes away (``pg_ctl stop -m fast``: connections are cut), data kept."""
        assert self.data_dir is not None
        result = self._run("pg_ctl", "stop", "--wait", "-m", "fast", "-D", self.data_dir)
        if result.returncode != 0:
            raise PostgresUnavailableError(f"pg_ctl stop failed: {result.stderr}")

    def resume(self) -> None:
        """The paused server comes back on the same port, with its data."""
        assert self.data_dir is not None and self.log_file is not None
        result = self._run(
            "pg_ctl",
            "start",
            "--wait",
            "--pgdata",
            self.data_dir,
            "--log",
            self.log_file,
            "-o",
            f"-p {self.port}",
            timeout=self.START_TIMEOUT_S + 30,
        )
        if result.returncode != 0:
            raise PostgresUnavailableError(f"pg_ctl start failed: {_tail(self.log_file)}")

    def _stop_locked(self) -> None:
        if self.base_dir is None:
            return
        try:
            if self.running:
                result = self._run(
                    "pg_ctl", "stop", "--wait", "--timeout=30", "-m", "fast", "-D", self.data_dir
                )
                if result.returncode != 0 and self.running:
                    self._run(
                        "pg_ctl",
                        "stop",
                        "--wait",
                        "--timeout=30",
                        "-m",
                        "immediate",
                        "-D",
                        self.data_dir,
                    )
                if self.running:
                    self._kill_postmaster()
        finally:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None
            self.data_dir = None
            atexit.unregister(self.stop)

    def _kill_postmaster(self) -> None:
        """Last resort: SIGKILL the postmaster named in postmaster.pid (we may be root)."""
        if self.data_dir is None:
            return
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, signal.SIGKILL)
            for _ in range(100):
                os.kill(pid, 0)  # raises once the process is gone
                time.sleep(0.05)


class PostgresContainerServer(PostgresServer):
    """``postgres:15`` in Docker via testcontainers (opt-in: ``INTERACT_USE_TESTCONTAINERS=1``)."""

    def __init__(self, image: str = "postgres:15") -> None:
        super().__init__(user=SUPERUSER, password=secrets.token_hex(16))
        self.image = image
        self._container: Any = None

    def start(self) -> Self:
        if self._container is None:
            from testcontainers.community.postgres import PostgresContainer

            container = PostgresContainer(
                self.image, username=self.user, password=self.password, dbname="postgres"
            ).with_command(
                "postgres -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                " -c max_connections=300 -c shared_buffers=128MB"
            )
            container.start()
            self._container = container
            self.host = container.get_container_host_ip()
            self.port = int(container.get_exposed_port(5432))
        return self

    def stop(self) -> None:
        if self._container is not None:
            container, self._container = self._container, None
            container.stop()


def _docker_reachable() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        result = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def postgres_from_env_or_local() -> PostgresServer:
    """The server for tests (not yet started; call ``start()`` or use ``with``):

    * ``TEST_DATABASE_URL`` set -> that server (start/stop do nothing);
    * ``INTERACT_USE_TESTCONTAINERS=1`` and Docker reachable -> a ``postgres:15`` container;
    * otherwise -> a local ``PostgresCluster`` (fails, never skips, without the binaries).
    """
    server_url = os.environ.get("TEST_DATABASE_URL", "").strip()
    if server_url:
        return ExternalPostgres(server_url)
    if os.environ.get("INTERACT_USE_TESTCONTAINERS") == "1" and _docker_reachable():
        return PostgresContainerServer()
    return PostgresCluster()
