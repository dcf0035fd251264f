"""Hand every running single-class execution (ProjectLifecycleWorkflow) over to the phase workflows; start the
OperationWorkflow of ProjectWorkflow runs that reached operation before it existed.

Each running `ProjectLifecycleWorkflow` is signalled `hand_over`; at its next moment with nothing under way
it continues as a `ProjectWorkflow` carrying its stage, open tasks, notice and record, and the phase's
child workflow adopts the open tasks. The command waits until every execution has been handed over (or the
timeout passes) and reports each: its stage, the phase it went to, and the workflow that now takes its
Updates. Running it again finds nothing left to hand over.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from domain.phases import ProjectView
from workflows.project import ProjectWorkflow
from workflows.project_lifecycle import ProjectLifecycleWorkflow

LEGACY_QUERY = "WorkflowType = 'ProjectLifecycleWorkflow' AND ExecutionStatus = 'Running'"
# every call to Temporal has a deadline: a query waits for a worker to answer it, and none may be running
CALL_TIMEOUT = timedelta(seconds=10)


@dataclass(frozen=True)
class HandOver:
    """What happened to one execution."""

    workflow_id: str
    stage: str
    phase: str = ""
    child_id: str = ""
    problem: str = ""

    @property
    def done(self) -> bool:
        """True once the execution runs as a ProjectWorkflow."""
        return bool(self.phase) and not self.problem


async def running_legacy(client: Client) -> list[str]:
    """The ids of the running single-class executions."""
    return [w.id async for w in client.list_workflows(LEGACY_QUERY)]


async def _stage(client: Client, workflow_id: str) -> str:
    try:
        status = await client.get_workflow_handle(workflow_id).query(
            ProjectLifecycleWorkflow.get_status, rpc_timeout=CALL_TIMEOUT
        )
    except RPCError as err:
        return f"unknown ({err.message})"
    return status.stage


async def _handed(client: Client, workflow_id: str, stage: str, deadline: float) -> HandOver:
    handle = client.get_workflow_handle(workflow_id)
    while True:
        described = await handle.describe(rpc_timeout=CALL_TIMEOUT)
        if described.workflow_type == "ProjectWorkflow":
            if described.status != WorkflowExecutionStatus.RUNNING:
                return HandOver(workflow_id, stage, problem=f"the new run is {described.status}")
            try:
                view: ProjectView = await handle.query(ProjectWorkflow.get_status, rpc_timeout=CALL_TIMEOUT)
            except RPCError:  # no worker answered in time: ask again until the deadline
                view = ProjectView(workflow_id, "", "", 0)
            if view.child_id or view.phase == "operation":
                return HandOver(workflow_id, stage, view.phase, view.child_id)
        elif described.status != WorkflowExecutionStatus.RUNNING:
            return HandOver(workflow_id, stage, problem=f"ended as {described.status} before its hand-over")
        if time.monotonic() > deadline:
            return HandOver(workflow_id, stage, problem="not handed over in time: a step or an Update is under way")
        await asyncio.sleep(0.5)


async def hand_over_all(
    client: Client, *, timeout: float, progress: Callable[[HandOver], None] | None = None
) -> list[HandOver]:
    """Signal every running legacy execution and wait for each to run as a ProjectWorkflow."""
    ids = await running_legacy(client)
    deadline = time.monotonic() + timeout
    results: list[HandOver] = []
    for workflow_id in ids:
        stage = await _stage(client, workflow_id)
        await client.get_workflow_handle(workflow_id).signal(
            ProjectLifecycleWorkflow.hand_over, rpc_timeout=CALL_TIMEOUT
        )
        result = await _handed(client, workflow_id, stage, deadline)
        results.append(result)
        if progress is not None:
            progress(result)
    return results


PROJECT_QUERY = "WorkflowType = 'ProjectWorkflow' AND ExecutionStatus = 'Running'"


async def start_operations(
    client: Client, *, timeout: float, task_queue: str, progress: Callable[[HandOver], None] | None = None
) -> list[HandOver]:
    """Signal every running ProjectWorkflow that waits in operation without an OperationWorkflow (it reached
    operation before OperationWorkflow existed) to start it, and wait until each has. Runs that have one are left
    alone, so running it again finds nothing to do."""
    deadline = time.monotonic() + timeout
    results: list[HandOver] = []
    async for execution in client.list_workflows(f"{PROJECT_QUERY} AND TaskQueue = '{task_queue}'"):
        handle = client.get_workflow_handle(execution.id)
        try:
            view: ProjectView = await handle.query(ProjectWorkflow.get_status, rpc_timeout=CALL_TIMEOUT)
        except RPCError as err:
            results.append(HandOver(execution.id, "operation?", problem=f"no answer to its status ({err.message})"))
            continue
        if view.phase != "operation" or view.child_id:
            continue
        await handle.signal(ProjectWorkflow.start_operation, rpc_timeout=CALL_TIMEOUT)
        result = await _operating(client, execution.id, deadline)
        results.append(result)
        if progress is not None:
            progress(result)
    return results


async def _operating(client: Client, workflow_id: str, deadline: float) -> HandOver:
    handle = client.get_workflow_handle(workflow_id)
    while True:
        try:
            view: ProjectView = await handle.query(ProjectWorkflow.get_status, rpc_timeout=CALL_TIMEOUT)
        except RPCError:  # no worker answered in time: ask again until the deadline
            view = ProjectView(workflow_id, "operation", "", 0)
        if view.child_id:
            return HandOver(workflow_id, "operation", view.phase, view.child_id)
        if time.monotonic() > deadline:
            return HandOver(workflow_id, "operation", problem="its OperationWorkflow did not start in time")
        await asyncio.sleep(0.5)
