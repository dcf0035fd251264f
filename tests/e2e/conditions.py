"""Conditions on a workflow that tests wait on instead of sleeping."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowHandle

from core.temporal import project_workflow_id


def project_handle(client: Client, code: str) -> WorkflowHandle[Any, Any]:
    """The handle of a project's lifecycle workflow."""
    return client.get_workflow_handle(project_workflow_id(code))


def phase_handle(client: Client, code: str, phase: str) -> WorkflowHandle[Any, Any]:
    """The handle of a project's phase workflow (its first run of that phase)."""
    return client.get_workflow_handle(f"{project_workflow_id(code)}-{phase}-1")


async def settled(handle: WorkflowHandle[Any, Any]) -> bool:
    """The workflow has no work outstanding: every activity result was processed, nothing is scheduled.

    Exact, unlike "the history stopped growing for a while": an activity completion and the workflow task
    that processes it are recorded together, and so are a workflow task's result and the activities it
    schedules. A worker stopped before this point leaves work behind that the next worker does first."""
    d = (await handle.describe()).raw_description
    return not d.HasField("pending_workflow_task") and not d.pending_activities


async def project_settled(client: Client, code: str, phase: str = "approval") -> bool:
    """The project's workflow and its phase workflow both have no work outstanding (see `settled`)."""
    return await settled(project_handle(client, code)) and await settled(phase_handle(client, code, phase))


async def waits_for_worker(handle: WorkflowHandle[Any, Any]) -> bool:
    """A workflow task is scheduled on a settled workflow: a request (an Update) reached it and waits for a worker."""
    d = (await handle.describe()).raw_description
    return d.HasField("pending_workflow_task")
