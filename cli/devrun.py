"""`make run`: the whole system on one machine from pip-installed parts, stopped cleanly on Ctrl-C/SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import httpx
import structlog

from cli.demo import DEMO_PASSWORD, USERS, load_demo_projects, load_demo_reference
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


class _Stop(Exception):
    pass


def _on_signal(signum: int, _: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


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
    try:
        check_port_free(settings.api_host, settings.api_port, "API_PORT")
        check_port_free(t_host, int(t_port), "TEMPORAL_ADDRESS")
        check_port_free(t_host, settings.temporal_ui_port, "TEMPORAL_UI_PORT")
        for bind, name in (
            (settings.worker_metrics_bind, "WORKER_METRICS_BIND"),
            (settings.api_sdk_metrics_bind, "API_SDK_METRICS_BIND"),
        ):
            if bind:
                host, _, port = bind.rpartition(":")
                check_port_free(host, int(port), name)
    except PortInUse as err:
        print(f"assetflow: {err}", file=sys.stderr)
        return 2

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    started = time.monotonic()
    children: list[subprocess.Popen[bytes]] = []
    names: dict[int, str] = {}
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
        temporal = start_temporal(
            data / "temporal.db",
            host=t_host,
            port=int(t_port),
            ui_port=settings.temporal_ui_port,
            log_file=data / "temporal.log",
        )
        children.append(temporal)
        names[temporal.pid] = "temporal"
        upgrade(db_url)
        log.info("migrated")
        env = os.environ | {"DATABASE_URL": db_url, "TEMPORAL_ADDRESS": settings.temporal_address}
        # The demo walks a project from application to operation in one sitting: its public notices last
        # minutes, not the ten days of production (an explicit REVIEW__NOTICE_DAYS wins).
        env.setdefault("REVIEW__NOTICE_DAYS", DEMO_NOTICE_DAYS)
        os.environ["DATABASE_URL"] = db_url

        async def reference() -> dict[str, int]:
            engine = make_engine(db_url, pool_size=2)
            try:
                return await load_demo_reference(make_sessions(engine))
            finally:
                await engine.dispose()

        log.info("demo reference data", **asyncio.run(reference()))
        wait_for_port(t_host, int(t_port), timeout=60, what="Temporal dev server", proc=temporal)
        for args, name in (
            ([sys.executable, "worker.py"], "worker"),
            ([sys.executable, "-m", "api.main"], "api"),
        ):
            with (data / f"{name}.log").open("ab") as out:
                proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603
            children.append(proc)
            names[proc.pid] = name
        api_url = f"http://{settings.api_host}:{settings.api_port}"
        _wait_ready(api_url, children[-1], timeout=90, log_file=data / "api.log")
        demo = asyncio.run(load_demo_projects(api_url))
        _banner(api_url, settings.temporal_ui_port, t_host, demo, time.monotonic() - started)
        while True:
            for proc in children:
                if proc.poll() is not None:
                    raise RuntimeError(f"{names[proc.pid]} exited ({proc.returncode}); see {data}/*.log")
            time.sleep(0.5)
    except _Stop as stop:
        log.info("stopping", signal=str(stop))
        return 0
    except Exception as err:
        log.error("dev stack failed", error=str(err))
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for proc in reversed(children):
            stop_process(proc)
        if pg is not None:
            pg.stop()
        log.info("stopped; data kept in " + str(data))


def _banner(api_url: str, ui_port: int, host: str, demo: list[str], seconds: float) -> None:
    lines = [
        "",
        f"assetflow is ready ({seconds:.1f} s)",
        f"  API         {api_url}/api/v1      OpenAPI {api_url}/docs",
        f"  Temporal UI http://{host}:{ui_port}",
        f"  logs        {get_settings().data_dir}/*.log",
        f"  demo logins (password: {DEMO_PASSWORD})",
        *[f"    {u.username:<18} {u.role:<18} {u.region_code}" for u in USERS],
        "  demo projects",
        *[f"    {line}" for line in demo],
        "Ctrl-C stops everything.",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
