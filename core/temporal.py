"""Temporal client, workflow ids and the activity logging interceptor."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import structlog
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from core.settings import Settings
from domain.enums import Phase, RegionLevel
from domain.payloads import LifecycleConfig, ProjectStart
from domain.phases import ProjectState
from domain.regions import ancestors

# A workflow task a killed worker had started (or was being handed as it died) is given to another after this, not
# the default 10 s. With an Update's store run as a local activity (workflows.steps.LOCAL_STEPS) it is the main
# term of the stall a kill causes a decision (README, `make faults`). It must exceed the longest live workflow task
# with margin, or live ones are timed out and redone: with 20 workflow task slots (worker.MAX_WORKFLOW_TASKS) the
# longest measured in `make faults` was 2.0-3.4 s at load 2.5-5, and a local store takes at most LOCAL_BUDGET (1 s)
# of it. The phase workflows get the same (workflows/project.py CHILD_TASK_TIMEOUT; workflows import nothing from
# core).
WORKFLOW_TASK_TIMEOUT = timedelta(seconds=4)
PROJECT_WORKFLOW = "ProjectWorkflow"


def dispatcher_workflow_id(task_queue: str) -> str:
    """The notification dispatcher of a task queue (one per deployment; tests have a queue each)."""
    return f"notifications-{task_queue}"


def project_workflow_id(code: str) -> str:
    """The one workflow of a project lives at this id."""
    return f"project-{code}"


def lifecycle_config(settings: Settings) -> LifecycleConfig:
    """The configurable numbers a project's workflow runs with, from the settings at its start."""
    return LifecycleConfig(
        review_working_days=settings.review.working_days,
        revision_limit=settings.review.revision_limit,
        time_zone=settings.time_zone,
        panel_size=settings.review.panel_size,
        pass_mark=settings.review.pass_mark,
        notice_days=settings.review.notice_days,
        yellow_behind_points=settings.construction.yellow_behind_points,
        red_behind_points=settings.construction.red_behind_points,
        not_started_yellow_months=settings.construction.not_started_yellow_months,
        not_started_red_months=settings.construction.not_started_red_months,
        store_budget_seconds=settings.store_budget_seconds,
    )


def project_start(
    settings: Settings,
    *,
    code: str,
    applicant_id: int,
    project_type: str,
    village_code: str,
    implementing_entity: str,
) -> ProjectStart:
    """A project as its workflows know it: the one ProjectStart of a filed and of an imported project."""
    regions = ancestors(village_code)
    return ProjectStart(
        code=code,
        applicant_id=applicant_id,
        project_type=project_type,
        village_code=village_code,
        township_code=regions[RegionLevel.TOWNSHIP],
        county_code=regions[RegionLevel.COUNTY],
        city_code=regions[RegionLevel.CITY],
        config=lifecycle_config(settings),
        implementing_entity=implementing_entity,
    )


async def start_project_workflows(
    client: Client,
    settings: Settings,
    starts: Sequence[ProjectStart],
    *,
    phase: Phase,
    concurrency: int = 50,
    done: Callable[[], None] = lambda: None,
) -> int:
    """Start ProjectWorkflow (by name) for each project directly in `phase`, at most `concurrency` starts at a time.

    A project whose workflow is running already (a rerun) keeps it: USE_EXISTING answers with that execution, and
    a closed one of the same id stays closed (REJECT_DUPLICATE raises WorkflowAlreadyStartedError, also success).
    How many were started or found running."""
    gate = asyncio.Semaphore(concurrency)

    async def one(start: ProjectStart) -> None:
        async with gate:
            with contextlib.suppress(WorkflowAlreadyStartedError):
                await client.start_workflow(
                    PROJECT_WORKFLOW,
                    ProjectState(start=start, phase=phase),
                    id=project_workflow_id(start.code),
                    task_queue=settings.task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                    task_timeout=WORKFLOW_TASK_TIMEOUT,
                    rpc_timeout=timedelta(seconds=settings.temporal_wait_seconds),
                )
            done()

    await asyncio.gather(*(one(s) for s in starts))
    return len(starts)


def make_runtime(metrics_bind: str | None) -> Runtime | None:
    """A runtime exporting the SDK's metrics in Prometheus format on `metrics_bind` (host:port)."""
    if not metrics_bind:
        return None
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=metrics_bind)))


async def connect(settings: Settings, *, runtime: Runtime | None = None) -> Client:
    """Connect to the configured Temporal frontend and namespace."""
    kwargs: dict[str, Any] = {"namespace": settings.temporal_namespace}
    if runtime is not None:
        kwargs["runtime"] = runtime
    return await Client.connect(settings.temporal_address, **kwargs)


class _BindActivityContext(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        with structlog.contextvars.bound_contextvars(
            workflow_id=info.workflow_id,
            activity=info.activity_type,
            attempt=info.attempt,
            project_code=info.workflow_id.removeprefix("project-") if info.workflow_id else None,
        ):
            return await self.next.execute_activity(input)


class LoggingInterceptor(Interceptor):
    """Binds workflow_id, project_code and activity to every log line an activity writes."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _BindActivityContext(next)
