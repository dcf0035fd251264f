"""Where a chain's CPU goes, and the floor under it: `python -m bench --only breakdown` (and part of `make bench`).

The timed blocks run ten clients at once, so no call's CPU can be told apart there. Here one client runs chains one
after another on each system, so the process CPU between a call's send and its answer is that call's (with what the
worker does for it meanwhile). Measured, in this process:

* CPU per chain by thread: the Python main thread (API, worker, SQL, the SDK's Python side) against the Temporal
  core's Rust threads;
* CPU per call: create, decision, inbox poll on assetflow; start, Update, query on bare Temporal;
* the floors of the fixed stack (FastAPI, SQLAlchemy async + psycopg, temporalio): a request FastAPI answers with
  no work (GET /healthz through the same in-process client), a pool check-out (a session running one `SELECT 1`,
  less the statement), a `SELECT 1` in an open session, and the same statement on a bare psycopg connection;
* the HTTP requests, pool check-outs and SQL statements (polls included) a chain makes, hence the floor model:
  bare Temporal's chain + each of them at its floor cost, which no code on this stack goes below;
* a cProfile of the main thread over further chains, its own time by layer (SQL, HTTP, Temporal SDK, event loop,
  assetflow's code).
"""

from __future__ import annotations

import cProfile
import os
import pstats
import re
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    QueryWorkflowInput,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
)
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.main import create_app
from bench import bare
from bench.drivers import AssetflowDriver, BareDriver, mint
from bench.sqlcount import StatementCounter
from bench.world import bench_settings, create_world
from db.engine import make_engine, make_sessions
from worker import build_worker

CHAINS = 10
"""Serial chains timed per system."""
PROFILED = 5
"""Further assetflow chains under cProfile (its overhead would distort the CPU figures, so they are apart)."""
WARMUP = 3
FLOOR_CALLS = 300
POLL = 0.05
LAYERS: dict[str, tuple[str, ...]] = {
    "sql": ("sqlalchemy", "psycopg", "psycopg_binary", "greenlet"),
    "http": ("fastapi", "starlette", "httpx", "anyio", "pydantic", "pydantic_core", "jwt", "asgi_lifespan", "sniffio"),
    "temporal_sdk": ("temporalio", "google"),
}
ROOT = Path(__file__).resolve().parents[1]
THREADS = {
    "main": "python main (API, activities, SQL, the SDK's Python side)",
    # Python 3.11 names no OS thread: the SDK's pool running workflow activations (sandboxed workflow code) is it
    "python": "python pools (workflow activations)",
    "tokio-rt-worker": "Temporal core (Rust)",
}


@dataclass
class Calls:
    """CPU seconds and counts per kind of call, for one system's serial chains."""

    cpu: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    count: Counter[str] = field(default_factory=Counter)

    def add(self, kind: str, seconds: float) -> None:
        """One call of `kind` took `seconds` of process CPU."""
        self.cpu[kind] += seconds
        self.count[kind] += 1

    def summary(self, chains: int) -> dict[str, dict[str, float]]:
        """Per kind: calls per chain, CPU ms per call, CPU ms per chain."""
        return {
            kind: {
                "per_chain": round(self.count[kind] / chains, 1),
                "cpu_ms_per_call": round(self.cpu[kind] / self.count[kind] * 1000, 2),
                "cpu_ms_per_chain": round(self.cpu[kind] / chains * 1000, 1),
            }
            for kind in sorted(self.cpu, key=self.cpu.__getitem__, reverse=True)
        }


@dataclass(frozen=True)
class SystemBreakdown:
    """One system's serial chains."""

    cpu_ms_per_chain: float
    wall_ms_per_chain: float
    threads_ms_per_chain: dict[str, float]
    calls: dict[str, dict[str, float]]


@dataclass(frozen=True)
class BreakdownFigures:
    """Everything the breakdown measured (see the module's doc)."""

    chains: int
    assetflow: SystemBreakdown
    bare: SystemBreakdown
    statements_per_chain: float
    requests_per_chain: float
    request_floor_ms: float
    statement_floor_ms: float
    checkouts_per_chain: float
    checkout_floor_ms: float
    statement_raw_ms: float
    layers: dict[str, float]

    @property
    def stack_ms(self) -> float:
        """What the HTTP requests, pool check-outs and SQL statements of a chain cost at the stack's floor (each
        request answered with no work, each statement a `SELECT 1`)."""
        return (
            self.requests_per_chain * self.request_floor_ms
            + self.checkouts_per_chain * self.checkout_floor_ms
            + self.statements_per_chain * self.statement_floor_ms
        )

    @property
    def floor_ms(self) -> float:
        """The least CPU an assetflow chain can take on this stack: bare Temporal's chain, and the requests,
        check-outs and statements the chain makes at the stack's floor cost."""
        return self.bare.cpu_ms_per_chain + self.stack_ms

    def summary(self) -> dict[str, Any]:
        """The figures as a JSON-able dict."""
        return {
            "chains": self.chains,
            "assetflow": self.assetflow.__dict__,
            "bare": self.bare.__dict__,
            "ratio": round(self.assetflow.cpu_ms_per_chain / self.bare.cpu_ms_per_chain, 2),
            "sql_statements_per_chain_with_polls": round(self.statements_per_chain, 1),
            "http_requests_per_chain": round(self.requests_per_chain, 1),
            "pool_checkouts_per_chain": round(self.checkouts_per_chain, 1),
            "floor": {
                "request_ms": round(self.request_floor_ms, 3),
                "checkout_ms": round(self.checkout_floor_ms, 3),
                "statement_ms": round(self.statement_floor_ms, 3),
                "stack_ms_per_chain": round(self.stack_ms, 1),
                "statement_raw_psycopg_ms": round(self.statement_raw_ms, 3),
                "chain_ms": round(self.floor_ms, 1),
                "ratio": round(self.floor_ms / self.bare.cpu_ms_per_chain, 2),
            },
            "main_thread_layers_percent": self.layers,
        }


def thread_cpu() -> defaultdict[str, float]:
    """CPU seconds of each of this process's threads so far, by thread name (numbers stripped: one pool, one
    name). Linux /proc; empty elsewhere."""
    out: defaultdict[str, float] = defaultdict(float)
    tick = os.sysconf("SC_CLK_TCK")
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/self/task/{tid}/stat") as f:
                stat = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended meanwhile
        name = "main" if int(tid) == os.getpid() else re.sub(r"[-_]?\d+$", "", name)
        out[THREADS.get(name, name)] += (int(stat[11]) + int(stat[12])) / tick
    return out


class _Timing(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, calls: Calls) -> None:
        super().__init__(next)
        self._calls = calls

    async def _timed(self, kind: str, call: Awaitable[Any]) -> Any:
        started = time.process_time()
        try:
            return await call
        finally:
            self._calls.add(kind, time.process_time() - started)

    async def start_workflow(self, input: StartWorkflowInput) -> Any:
        return await self._timed("start workflow", super().start_workflow(input))

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        return await self._timed("query (poll)", super().query_workflow(input))

    async def start_workflow_update(self, input: StartWorkflowUpdateInput) -> Any:
        # execute_update starts the Update and waits for its outcome in this one call
        return await self._timed("update (decision)", super().start_workflow_update(input))


class TimingInterceptor(Interceptor):
    """Bare Temporal's client calls, timed in process CPU (the chains are serial, so a call's CPU is its own)."""

    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        """Wrap the client's outbound calls."""
        return _Timing(next, self.calls)


def _kind(request: httpx.Request) -> str:
    path = request.url.path
    if path.endswith("/decision"):
        return "POST decision"
    if path == "/api/v1/tasks":
        return "GET inbox (poll)"
    if path == "/api/v1/projects" and request.method == "POST":
        return "POST create"
    return f"{request.method} {path}"


async def _serial(chain: Callable[[int, str], Awaitable[Any]], name: str, calls: Calls) -> SystemBreakdown:
    for i in range(WARMUP):
        await chain(0, f"{name}-warm-{i}")
    calls.cpu.clear()
    calls.count.clear()
    threads, cpu, wall = thread_cpu(), time.process_time(), time.perf_counter()
    for i in range(CHAINS):
        await chain(0, f"{name}-{i}")
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    after = thread_cpu()
    used = {name: seconds - threads.get(name, 0.0) for name, seconds in after.items()}
    return SystemBreakdown(
        cpu_ms_per_chain=round(cpu / CHAINS * 1000, 1),
        wall_ms_per_chain=round(wall / CHAINS * 1000, 1),
        threads_ms_per_chain={
            k: round(v / CHAINS * 1000, 1) for k, v in sorted(used.items(), key=lambda kv: -kv[1]) if v > 0
        },
        calls=calls.summary(CHAINS),
    )


async def _per_call(call: Callable[[], Awaitable[Any]]) -> float:
    """CPU ms of one `call`, over FLOOR_CALLS after a warm-up."""
    for _ in range(20):
        await call()
    started = time.process_time()
    for _ in range(FLOOR_CALLS):
        await call()
    return (time.process_time() - started) / FLOOR_CALLS * 1000


def layers_of(profile: cProfile.Profile) -> dict[str, float]:
    """The main thread's own time by layer, percent (waiting in epoll left out)."""
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    by: defaultdict[str, float] = defaultdict(float)
    for (path, _line, name), (_cc, _nc, own, _cum, _callers) in stats.items():
        if name == "<method 'poll' of 'select.epoll' objects>":
            continue  # idle
        by[_layer(path, name)] += own
    total = sum(by.values()) or 1.0
    return {k: round(100 * v / total, 1) for k, v in sorted(by.items(), key=lambda kv: -kv[1])}


def _layer(path: str, name: str) -> str:
    if "site-packages/" in path:
        package = path.split("site-packages/")[1].split("/")[0]
        return next((layer for layer, packages in LAYERS.items() if package in packages), "other libraries")
    if path.startswith(str(ROOT / "bench")):
        return "bench driver"
    if path.startswith(str(ROOT)):
        return "assetflow code"
    if "/asyncio/" in path or path.endswith("selectors.py"):
        return "event loop"
    if path == "~" and "greenlet" in name:
        return "sql"
    return "python builtins and stdlib"


async def measure_breakdown(database_url: str, env: WorkflowEnvironment) -> BreakdownFigures:
    """Serial chains on both systems, the floors, and the profile (the module's doc)."""
    async with AsyncExitStack() as stack:
        engine = make_engine(database_url)
        stack.push_async_callback(engine.dispose)
        sessions = make_sessions(engine)
        desks = await create_world(sessions, 1)
        run = uuid.uuid4().hex[:8]
        settings = bench_settings(database_url, env.client, f"breakdown-assetflow-{run}")
        af_calls, bare_calls = Calls(), Calls()

        async def on_request(request: httpx.Request) -> None:
            request.extensions["cpu_started"] = time.process_time()

        async def on_response(response: httpx.Response) -> None:
            af_calls.add(_kind(response.request), time.process_time() - response.request.extensions["cpu_started"])

        app = create_app(settings)
        manager = await stack.enter_async_context(LifespanManager(app))
        api = await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app),
                base_url="http://bench",
                event_hooks={"request": [on_request], "response": [on_response]},
            )
        )
        bare_queue = f"breakdown-bare-{run}"
        await stack.enter_async_context(build_worker(env.client, sessions, task_queue=settings.task_queue))
        await stack.enter_async_context(
            Worker(env.client, task_queue=bare_queue, workflows=bare.WORKFLOWS, activities=bare.ACTIVITIES)
        )
        timed_client = Client(
            env.client.service_client,
            namespace=env.client.namespace,
            data_converter=env.client.data_converter,
            interceptors=[TimingInterceptor(bare_calls)],
        )
        desk = desks[0]
        people = (desk.applicant, desk.township, *desk.experts, desk.county, desk.city)
        headers = {p.id: mint(p, secret=settings.jwt_secret, ttl_minutes=settings.jwt_ttl_minutes) for p in people}
        assetflow = AssetflowDriver(api, desks, headers, poll=POLL)
        counter = StatementCounter(polls=True)
        counter.install()
        try:
            af = await _serial(assetflow.chain, "assetflow", af_calls)
        finally:
            counter.uninstall()
        # _serial cleared the calls after its warm-up; the statements counted include the warm-up chains
        statements_per_chain = counter.count / (CHAINS + WARMUP)
        checkouts_per_chain = counter.checkouts / (CHAINS + WARMUP)
        requests = sum(af_calls.count.values()) / CHAINS
        bw = await _serial(BareDriver(timed_client, task_queue=bare_queue, poll=POLL).chain, "bare", bare_calls)

        request_floor = await _per_call(lambda: api.get("/healthz"))
        read_sessions = app.state.read_sessions
        select_one = text("SELECT 1")

        async def session_statement() -> None:
            async with read_sessions() as session:
                await session.execute(select_one)

        session_floor = await _per_call(session_statement)
        async with read_sessions() as open_session:
            statement_floor = await _per_call(partial(open_session.execute, select_one))
        raw = await psycopg.AsyncConnection.connect(
            database_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
        )
        try:

            async def raw_statement() -> None:
                await (await raw.execute("SELECT 1")).fetchall()

            statement_raw = await _per_call(raw_statement)
        finally:
            await raw.close()

        profile = cProfile.Profile()
        profile.enable()
        for i in range(PROFILED):
            await assetflow.chain(0, f"assetflow-profiled-{i}")
        profile.disable()
    return BreakdownFigures(
        chains=CHAINS,
        assetflow=af,
        bare=bw,
        statements_per_chain=statements_per_chain,
        requests_per_chain=requests,
        request_floor_ms=request_floor,
        statement_floor_ms=statement_floor,
        checkouts_per_chain=checkouts_per_chain,
        checkout_floor_ms=max(session_floor - statement_floor, 0.0),
        statement_raw_ms=statement_raw,
        layers=layers_of(profile),
    )
