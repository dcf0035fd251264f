"""Conditions on a project's workflow that the restart tests wait on instead of sleeping."""

from __future__ import annotations

from temporalio.client import Client

from core.temporal import project_workflow_id


async def settled(client: Client, code: str) -> bool:
    """The workflow has no work outstanding: every activity result was processed, nothing is scheduled.

    A worker stopped before this point leaves work behind that the next worker does first, and the test
    would no longer be about the one request it sends while no worker runs."""
    d = (await client.get_workflow_handle(project_workflow_id(code)).describe()).raw_description
    return not d.HasField("pending_workflow_task") and not d.pending_activities


async def waits_for_worker(client: Client, code: str) -> bool:
    """A workflow task is scheduled on a settled workflow: a request (an Update) reached it and waits for a worker."""
    d = (await client.get_workflow_handle(project_workflow_id(code)).describe()).raw_description
    return d.HasField("pending_workflow_task")
