"""`make run`: the whole system on one machine from pip-installed parts, stopped cleanly on Ctrl-C/SIGTERM;
a worker or API that dies is restarted."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from zoneinfo import ZoneInfo

import httpx
import structlog

from cli.demo import (
    DEMO_PASSWORD,
    DEMO_WEBHOOK_SECRET,
    USERS,
    load_demo_notifications,
    load_demo_operation,
    load_demo_projects,
    load_demo_reference,
    load_demo_reports,
)
from core.devstack import (
    EmbeddedPostgres,
    PortInUse,
    check_port_free,
    start_postgres,
    start_temporal,
    stop_process,
    wait_for_port,
)
from core.logging import configure_logging
from core.settings import get_settings
from db.engine import make_engine, make_sessions
from db.migrate import upgrade

log = structlog.get_logger("dev")


DEMO_NOTICE_DAYS = "0.002"  # about three minutes


def _sink_ports() -> tuple[int, int]:
    """The local SMTP sink's and the demo webhook receiver's ports (cli/sinks.py): DEV_SMTP_PORT, DEV_WEBHOOK_PORT."""
    return int(os.environ.get("DEV_SMTP_PORT", "1025")), int(os.environ.get("DEV_WEBHOOK_PORT", "8025"))


class _Stop(Exception):
    pass


class _Signals:
    """SIGINT/SIGTERM become _Stop, except inside `deferred()`, where they wait for its end."""

    deferring = False
    pending: str | None = None

    @classmethod
    def handle(cls, signum: int, _: FrameType | None) -> None:
        """The handler of SIGINT and SIGTERM."""
        name = signal.Signals(signum).name
        if cls.deferring:
            cls.pending = name
            return
        raise _Stop(name)

    @classmethod
    @contextmanager
    def deferred(cls) -> Iterator[None]:
        """Hold a stop until the block is done, so a Ctrl-C cannot land between a child's start and its
        registration (a child of its own session, unregistered, would outlive the stack). Not a signal mask:
        children inherit masks, and one with SIGTERM blocked could not be stopped."""
        cls.deferring = True
        try:
            yield
        finally:
            cls.deferring = False
            if cls.pending is not None:
                name, cls.pending = cls.pending, None
                raise _Stop(name)


class GaveUp(RuntimeError):
    """A supervised process died too often within the window; the stack stops instead of looping."""


@dataclass
class Supervised:
    """A child process that is started again when it exits without being asked to."""

    name: str
    args: list[str]
    env: Mapping[str, str]
    log_file: Path
    stop_timeout: float = 10.0
    proc: subprocess.Popen[bytes] | None = None
    exits: deque[float] = field(default_factory=deque)
    restart_at: float | None = None


@dataclass
class Supervisor:
    """Starts children, restarts those that exit with a growing backoff, and gives up on one that exits
    `max_exits` times within `window` seconds (a crash loop is a bug to read in its log, not to hide)."""

    max_exits: int = 5
    window: float = 60.0
    backoff: float = 0.5
    max_backoff: float = 8.0
    children: list[Supervised] = field(default_factory=list)

    def start(
        self, name: str, args: list[str], *, env: Mapping[str, str], log_file: Path, stop_timeout: float = 10.0
    ) -> subprocess.Popen[bytes]:
        """Start a child whose output goes to `log_file`, and supervise it."""
        child = Supervised(name, args, env, log_file, stop_timeout)
        self.children.append(child)
        return self._spawn(child)

    def _spawn(self, child: Supervised) -> subprocess.Popen[bytes]:
        with _Signals.deferred(), child.log_file.open("ab") as out:
            # a session of its own: the terminal's Ctrl-C reaches only us, and we stop the children in order
            child.proc = subprocess.Popen(  # noqa: S603
                child.args, env=dict(child.env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
            child.restart_at = None
        log.info("process started", process=child.name, pid=child.proc.pid, log_file=str(child.log_file))
        return child.proc

    def check(self) -> None:
        """One look at every child: note the ones that exited, restart those whose backoff is over."""
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self._spawn(child)
                continue
            if child.proc is None or (code := child.proc.poll()) is None:
                continue
            child.exits.append(now)
            while child.exits and child.exits[0] < now - self.window:
                child.exits.popleft()
            if len(child.exits) >= self.max_exits:
                raise GaveUp(
                    f"{child.name} exited {len(child.exits)} times within {self.window:.0f} s "
                    f"(last exit code {code}); see {child.log_file}"
                )
            delay = min(self.backoff * 2 ** (len(child.exits) - 1), self.max_backoff)
            child.restart_at = now + delay
            log.warning(
                "process exited; restarting",
                process=child.name,
                exit_code=code,
                log_file=str(child.log_file),
                restart_in=delay,
                exits_in_window=len(child.exits),
            )

    def stop_all(self) -> None:
        """Stop every child, the last started first."""
        for child in reversed(self.children):
            child.restart_at = None
            if child.proc is not None:
                stop_process(child.proc, timeout=child.stop_timeout)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float, log_file: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API exited with code {proc.returncode}; see {log_file}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"the API was not ready within {timeout:.0f} s; see {log_file}")


def run_dev_stack() -> int:
    """Run until interrupted; returns the exit code."""
    settings = get_settings()
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    data = Path(settings.data_dir).resolve()
    data.mkdir(parents=True, exist_ok=True)
    t_host, _, t_port = settings.temporal_address.rpartition(":")
    smtp_port, webhook_port = _sink_ports()
    ports: list[tuple[str, int, str]] = [
        (settings.api_host, settings.api_port, "API_PORT"),
        (t_host, int(t_port), "TEMPORAL_ADDRESS"),
        (t_host, settings.temporal_ui_port, "TEMPORAL_UI_PORT"),
        ("127.0.0.1", smtp_port, "DEV_SMTP_PORT"),
        ("127.0.0.1", webhook_port, "DEV_WEBHOOK_PORT"),
    ]
    for bind, name in (
        (settings.worker_metrics_bind, "WORKER_METRICS_BIND"),
        (settings.api_sdk_metrics_bind, "API_SDK_METRICS_BIND"),
    ):
        if bind:
            bind_host, _, bind_port = bind.rpartition(":")
            ports.append((bind_host, int(bind_port), name))
    busy: list[str] = []
    for port_host, port_number, name in ports:  # every busy port at once, not one per attempt
        try:
            check_port_free(port_host, port_number, name)
        except PortInUse as err:
            busy.append(str(err))
    if busy:
        for line in busy:
            print(f"assetflow: {line}", file=sys.stderr)
        return 2

    signal.signal(signal.SIGTERM, _Signals.handle)
    signal.signal(signal.SIGINT, _Signals.handle)
    started = time.monotonic()
    temporal: subprocess.Popen[bytes] | None = None
    supervisor = Supervisor()
    pg: EmbeddedPostgres | None = None
    try:
        if external := os.environ.get("DATABASE_URL"):
            # DATABASE_URL switches from the embedded server to a real one (DESIGN.md, components)
            db_url = external
            log.info("using the database of DATABASE_URL")
        else:
            pg = start_postgres(data / "pg")
            pg.ensure_database("assetflow")
            db_url = pg.url("assetflow")
            log.info("postgres ready", socket=pg.socket_dir)
        with _Signals.deferred():
            temporal = start_temporal(
                data / "temporal.db",
                host=t_host,
                port=int(t_port),
                ui_port=settings.temporal_ui_port,
                log_file=data / "temporal.log",
            )
        upgrade(db_url)
        log.info("migrated")
        env = os.environ | {"DATABASE_URL": db_url, "TEMPORAL_ADDRESS": settings.temporal_address}
        # The demo walks a project from application to operation in one sitting: its public notices last
        # minutes, not the ten days of production (an explicit REVIEW__NOTICE_DAYS wins).
        env.setdefault("REVIEW__NOTICE_DAYS", DEMO_NOTICE_DAYS)
        env.setdefault("DIVIDENDS__NOTICE_DAYS", DEMO_NOTICE_DAYS)
        env.setdefault("DIVIDENDS__RESULT_NOTICE_DAYS", DEMO_NOTICE_DAYS)
        env.setdefault("DIVIDENDS__POLL_SECONDS", "5")
        # notifications leave by the local sink: mails kept as .eml files under .data/mail (an explicit
        # NOTIFY__SMTP_HOST wins), looked for every second so the demo's mails arrive at once
        env.setdefault("NOTIFY__SMTP_HOST", "127.0.0.1")
        env.setdefault("NOTIFY__SMTP_PORT", str(smtp_port))
        env.setdefault("NOTIFY__SMTP_SECURITY", "none")
        env.setdefault("NOTIFY__POLL_SECONDS", "1")
        os.environ["DATABASE_URL"] = db_url
        supervisor.start(
            "sinks",
            [
                sys.executable,
                "-m",
                "cli.sinks",
                "--dir",
                str(data),
                "--smtp-port",
                str(smtp_port),
                "--webhook-port",
                str(webhook_port),
                "--webhook-secret",
                DEMO_WEBHOOK_SECRET,
            ],
            env=env,
            log_file=data / "sinks.log",
        )

        async def reference() -> dict[str, int]:
            engine = make_engine(db_url, pool_size=2)
            try:
                return await load_demo_reference(make_sessions(engine))
            finally:
                await engine.dispose()

        log.info("demo reference data", **asyncio.run(reference()))

        async def notifications() -> dict[str, int]:
            engine = make_engine(db_url, pool_size=2)
            try:
                hook = f"http://127.0.0.1:{webhook_port}/assetflow"
                return await load_demo_notifications(make_sessions(engine), webhook_url=hook)
            finally:
                await engine.dispose()

        log.info("demo notifications", **asyncio.run(notifications()))
        wait_for_port(t_host, int(t_port), timeout=60, what="Temporal dev server", proc=temporal)
        supervisor.start(
            "worker",
            [sys.executable, "worker.py"],
            env=env,
            log_file=data / "worker.log",
            # SIGTERM lets running activities finish within the worker's grace; only then is it killed
            stop_timeout=settings.worker_shutdown_grace_seconds + 5,
        )
        api = supervisor.start("api", [sys.executable, "-m", "api.main"], env=env, log_file=data / "api.log")
        api_url = f"http://{settings.api_host}:{settings.api_port}"
        _wait_ready(api_url, api, timeout=90, log_file=data / "api.log")
        demo = asyncio.run(load_demo_projects(api_url))
        today = datetime.now(ZoneInfo(settings.time_zone)).date()
        demo += asyncio.run(load_demo_operation(api_url, today=today))
        demo += asyncio.run(load_demo_reports(api_url, today=today))
        _banner(api_url, settings.temporal_ui_port, t_host, demo, time.monotonic() - started)
        while True:
            # the Temporal server keeps the state of every workflow: if it dies the stack stops, not restarts
            if temporal.poll() is not None:
                raise RuntimeError(f"the Temporal dev server exited ({temporal.returncode}); see {data}/temporal.log")
            supervisor.check()
            time.sleep(0.2)
    except _Stop as stop:
        log.info("stopping", signal=str(stop))
        return 0
    except Exception as err:
        log.error("dev stack failed", error=str(err))
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        supervisor.stop_all()
        if temporal is not None:
            stop_process(temporal)
        if pg is not None:
            pg.stop()
        log.info("stopped; data kept in " + str(data))


def _banner(api_url: str, ui_port: int, host: str, demo: list[str], seconds: float) -> None:
    smtp_port, webhook_port = _sink_ports()
    lines = [
        "",
        f"assetflow is ready ({seconds:.1f} s)",
        f"  API         {api_url}/api/v1      OpenAPI {api_url}/docs",
        f"  Temporal UI http://{host}:{ui_port}",
        f"  logs        {get_settings().data_dir}/*.log",
        f"  e-mails     {get_settings().data_dir}/mail/*.eml  (local SMTP sink 127.0.0.1:{smtp_port}; demo users"
        " have addresses like pm_jiyang@demo.assetflow.local)",
        f"  webhooks    {get_settings().data_dir}/webhooks.jsonl  (demo receiver http://127.0.0.1:{webhook_port},"
        " each signature checked)",
        f"  demo logins (password: {DEMO_PASSWORD})",
        *[f"    {u.username:<18} {u.role:<18} {u.region_code}" for u in USERS],
        "  demo projects",
        *[f"    {line}" for line in demo],
        "Ctrl-C stops everything.",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
