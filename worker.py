"""Composition root of the worker: settings → logging → engine → client → Worker."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta

import structlog
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import Interceptor, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.construction import ConstructionActivities
from activities.contracts import ContractActivities
from activities.interceptors import HeartbeatInterceptor, PermanentFailuresInterceptor
from activities.notifications import NotificationActivities
from activities.operation import OperationActivities
from activities.platform import PlatformActivities
from activities.problems import ProblemActivities
from activities.projects import ProjectActivities
from activities.reports import ReportActivities
from activities.reviews import ReviewActivities
from activities.rounds import RoundActivities
from activities.rules import RuleActivities
from core.logging import configure_logging
from core.payments import EmbeddedBank, PaymentGateway, make_payments
from core.platform import EmbeddedPlatform, ThreeAssetsPlatform, make_platform
from core.schedules import ensure_schedules
from core.settings import NotifySettings, OperationSettings, ReportSettings, Settings, get_settings
from core.temporal import LoggingInterceptor, connect, dispatcher_workflow_id, make_runtime
from db.engine import Sessions, make_engine, make_sessions
from domain.monitoring import ProblemWatchInput, watch_id
from domain.notifications import DispatcherInput
from workflows import WORKFLOWS
from workflows.problem_watch import ProblemWatchWorkflow

STICKY_SCHEDULE_TO_START = timedelta(seconds=2)
"""How long a workflow task waits on this worker's own (sticky) queue before the server hands it to any worker.
A SIGKILLed worker never says it is gone, so the server goes on putting its workflows' next tasks (an Update's
among them) on its sticky queue after the kill, and each waits this long: a term of the stall a kill causes
(`make faults`, README). A live worker that misses it costs one history replay elsewhere (about 0.1 s of
CPU), nothing else. With MAX_WORKFLOW_TASKS its sticky queue waits were 1.3-1.9 s at the 99th percentile on two
cores loaded 5-10, so 2 s is about the shortest that live workers rarely miss in normal operation (runs without
kills at load 9.5-10: 0 and 10 misses); it was 5 s (SDK default 10 s)."""

HEARTBEAT_SEND_EVERY = timedelta(milliseconds=500)
"""The most often the SDK sends a running activity's heartbeats (its default is 0.8 × the heartbeat timeout, which
leaves a live attempt only a fifth of its timeout for the send to reach the server: under load that was missed).
The interceptor beats every quarter of the heartbeat timeout, so every beat is sent: one small RPC per beat, and
only for an activity that runs longer than a quarter of its timeout."""

MAX_WORKFLOW_TASKS = 20
"""Workflow tasks this process takes at once (the SDK's default is 100). After a kill the survivor replays the dead
worker's workflows: with 100 at once on two cores each waited for the GIL and the longest live task took 3.8 s in
`make faults`, with 20 1.5-3.3 s, which the 4 s workflow task timeout (core.temporal) needs; the rest wait on the
queue, where the replacement worker can take them. `make bench`'s decision: 3.19x bare Temporal with 20, 3.11x
with 100, 4.59x with 5 (before local steps)."""

NORMAL_POLL_SHARE = 0.5
"""Of the worker's workflow task polls (5), how many go to the shared queue rather than its own sticky queue: 2
(the SDK's 0.2 gives 1). After a kill the shared queue holds the dead worker's workflows, each a decision in wait,
and with one poll in five the survivor served them at a fifth of its pace while its own went first: their longest
wait there was 3.5 and 6.1 s in two `make faults` runs, with two polls of five 2.7-3.8 s in ten (load 5-6)."""


# Modules the sandbox shares instead of re-importing for every new workflow instance: `domain` is pure (an
# import-linter contract proves it) and sharing it keeps payload classes identical to the converter's; the
# mechanisms every workflow composes hold no module state. Each workflow's own module is still loaded fresh.
PASSTHROUGH = ("domain", "workflows.tasks", "workflows.steps", "workflows.notices")


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox with the pure, stateless modules passed through (see PASSTHROUGH)."""
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH))


def build_worker(
    client: Client,
    sessions: Sessions,
    *,
    task_queue: str,
    platform: ThreeAssetsPlatform | None = None,
    graceful_shutdown: timedelta = timedelta(0),
    max_concurrent_activities: int = 100,
    interceptors: Sequence[Interceptor] = (),
    workflows: Sequence[type] = WORKFLOWS,
    operation: OperationSettings | None = None,
    max_cached_workflows: int = 1000,
    max_concurrent_workflow_tasks: int = MAX_WORKFLOW_TASKS,
    payments: PaymentGateway | None = None,
    notify: NotifySettings | None = None,
    problems: ProblemActivities | None = None,
    reports: ReportSettings | None = None,
    time_zone: str | None = None,
) -> Worker:
    """The worker with every workflow and activity of assetflow on one task queue (tests may run an earlier
    version of a workflow class under its registered name through `workflows`)."""
    projects = ProjectActivities(sessions)
    reviews = ReviewActivities(sessions)
    construction = ConstructionActivities(sessions)
    registry = PlatformActivities(sessions, platform or EmbeddedPlatform(sessions))
    operating = OperationActivities(sessions, operation)
    rules = RuleActivities(sessions)
    contracts = ContractActivities(sessions)
    rounds = RoundActivities(sessions, payments or EmbeddedBank(sessions))
    notifications = NotificationActivities(sessions, notify)
    ledger = problems or ProblemActivities(sessions)
    reporting = ReportActivities(sessions, reports, time_zone)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=workflows,
        activities=[
            projects.open_task,
            projects.record_decision,
            projects.change_stage,
            projects.mark_blocked,
            projects.enter_phase,
            projects.adopt_tasks,
            reviews.draw_panel,
            reviews.record_panel_verdict,
            reviews.record_revision,
            reviews.open_notice,
            reviews.close_notice,
            reviews.record_objection,
            reviews.notify_deadline,
            reviews.cancel_tasks,
            reviews.record_claim,
            reviews.record_reassign,
            construction.record_progress,
            construction.check_construction,
            construction.record_completion,
            construction.record_registration,
            registry.register_asset,
            operating.check_operation,
            contracts.record_proposal,
            contracts.settle_proposal,
            rules.record_rule,
            rules.settle_rule,
            rounds.plan_round,
            rounds.notice_end,
            rounds.set_round_status,
            rounds.record_round_objection,
            rounds.record_round_confirmation,
            rounds.prepare_payments,
            rounds.pay_batch,
            rounds.count_failures,
            rounds.check_correction,
            rounds.reconcile_round,
            notifications.dispatch_notifications,
            ledger.check_problems,
            reporting.list_due_reports,
            reporting.make_report,
            reporting.notify_report,
        ],
        interceptors=[LoggingInterceptor(), PermanentFailuresInterceptor(), HeartbeatInterceptor(), *interceptors],
        workflow_runner=workflow_runner(),
        sticky_queue_schedule_to_start_timeout=STICKY_SCHEDULE_TO_START,
        # 0: no workflow cache and no sticky queue (a test whose worker stops under the time-skipping server)
        max_cached_workflows=max_cached_workflows,
        # on SIGTERM running activities may finish (each is one short transaction) before they are cancelled
        graceful_shutdown_timeout=graceful_shutdown,
        # no more activities at once than database connections: the rest wait in Temporal, where another
        # replica can take them, instead of inside this process for a pooled connection. The Update stores' local
        # activities (workflows.steps.LOCAL_STEPS) get half of them: a local attempt has LOCAL_BUDGET, and spent
        # waiting for a connection that activity tasks held it timed out by the hundred in `make test`'s sixty
        # concurrent projects, each then redone as an activity task, until decisions waited past the API's 30 s
        max_concurrent_activities=max(1, max_concurrent_activities - max_concurrent_activities // 2),
        max_concurrent_local_activities=max(1, max_concurrent_activities // 2),
        max_concurrent_workflow_tasks=max_concurrent_workflow_tasks,
        max_heartbeat_throttle_interval=HEARTBEAT_SEND_EVERY,
        nonsticky_to_sticky_poll_ratio=NORMAL_POLL_SHARE,
    )


async def start_dispatcher(client: Client, settings: Settings) -> None:
    """Start the notification dispatcher unless it runs already (every worker asks; one runs)."""
    await client.start_workflow(
        "NotificationDispatchWorkflow",
        DispatcherInput(poll_seconds=settings.notify.poll_seconds, batch_size=settings.notify.batch_size),
        id=dispatcher_workflow_id(settings.task_queue),
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or `stop` is set, for a caller that owns the signals), then finish in-flight work and
    close the pool. The report schedules are ensured first (created, or brought up to date)."""
    log = structlog.get_logger("worker")
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow)
    runtime = make_runtime(settings.worker_metrics_bind or None)
    client = await connect(settings, runtime=runtime)
    sessions = make_sessions(engine)
    worker = build_worker(
        client,
        sessions,
        task_queue=settings.task_queue,
        platform=make_platform(settings, sessions),
        graceful_shutdown=timedelta(seconds=settings.worker_shutdown_grace_seconds),
        max_concurrent_activities=settings.db_pool_size + settings.db_max_overflow,
        operation=settings.operation,
        payments=make_payments(settings, sessions),
        reports=settings.reports,
        time_zone=settings.time_zone,
        notify=settings.notify,
    )
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    try:
        if settings.reports.schedules:
            for ensured in await ensure_schedules(client, settings):
                log.info("report schedule", schedule_id=ensured.schedule_id, outcome=ensured.outcome)
        if settings.problems.watch:
            await start_problem_watch(client, settings)
        if settings.notify.dispatcher:
            await start_dispatcher(client, settings)
        log.info("worker started", task_queue=settings.task_queue, temporal=settings.temporal_address)
        async with worker:
            await stop.wait()
            log.info("worker stopping")
    finally:
        await engine.dispose()


async def start_problem_watch(client: Client, settings: Settings) -> None:
    """Start the daily problem check (`problem-watch`) unless it runs already: every worker start asks, one runs."""
    handle = await client.start_workflow(
        ProblemWatchWorkflow.run,
        ProblemWatchInput(check_hour=settings.problems.check_hour),
        id=watch_id(""),
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    structlog.get_logger("worker").info("problem watch running", workflow_id=handle.id)


def main() -> None:
    """Entry point: `python worker.py`."""
    settings = get_settings()
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    asyncio.run(run_worker(settings))
    # The worker has drained and the pool is closed. Interpreter teardown may still meet a thread of the SDK's
    # Rust runtime taking the GIL and abort (SIGABRT instead of exit 0, about one stop in seven here;
    # temporalio/sdk-python#300), so after flushing the logs the process ends without it.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
