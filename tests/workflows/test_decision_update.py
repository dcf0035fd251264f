"""The decision Update: the validator refuses stale, foreign and forbidden decisions before history."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.worker import Worker

from domain.failures import DecisionRefused
from domain.payloads import Actor, ProjectStatus, SubmitDecisionInput
from tests.conftest import Login, World, application, eventually
from workflows.approval import ApprovalWorkflow

UPDATE_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
}


async def _update_events(client: Client, workflow_id: str) -> int:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return sum(1 for e in history.events if e.event_type in UPDATE_EVENTS)


def _actor(user: Any, role: str, region: str, level: str) -> Actor:
    return Actor(user_id=user.id, username=user.username, role=role, region_code=region, region_level=level)


async def test_validator_refusals_leave_no_trace_in_history(
    api: httpx.AsyncClient, worker: Worker, world: World, login: Login, temporal_client: Client
) -> None:
    pm_user = world.users["pm"]
    code = (await api.post("/api/v1/projects", json=application(world), headers=await login(pm_user))).json()["code"]
    handle = temporal_client.get_workflow_handle_for(ApprovalWorkflow.run, f"project-{code}-approval-1")

    async def open_task() -> str | None:
        try:
            status: ProjectStatus = await handle.query(ApprovalWorkflow.get_status)
        except RPCError:  # the project's workflow has not started its approval workflow yet
            return None
        return status.open_task.task_id if status.open_task else None

    task_id = await eventually(open_task)
    township = world.townships[0]
    reviewer = _actor(world.users["township"], "township_reviewer", township, "township")
    refusals = [
        # applicant holding the reviewer role (separation of duties is enforced in the workflow too)
        (
            SubmitDecisionInput(task_id, "approve", "", _actor(pm_user, "township_reviewer", township, "township")),
            DecisionRefused.SEPARATION_OF_DUTIES,
        ),
        (SubmitDecisionInput("stale-task", "approve", "", reviewer), DecisionRefused.TASK_NOT_OPEN),
        (
            SubmitDecisionInput(
                task_id, "approve", "", _actor(world.users["county"], "county_reviewer", world.county, "county")
            ),
            DecisionRefused.NOT_ELIGIBLE,
        ),
        (
            SubmitDecisionInput(
                task_id,
                "approve",
                "",
                _actor(world.users["township_other"], "township_reviewer", world.townships[1], "township"),
            ),
            DecisionRefused.NOT_ELIGIBLE,
        ),
        (SubmitDecisionInput(task_id, "shrug", "", reviewer), DecisionRefused.INVALID_DECISION),
        (SubmitDecisionInput(task_id, "reject", "  ", reviewer), DecisionRefused.OPINION_REQUIRED),
    ]
    for inp, expected in refusals:
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await handle.execute_update(ApprovalWorkflow.submit_decision, inp)
        assert isinstance(err.value.cause, ApplicationError)
        assert err.value.cause.type == expected, inp
    assert await _update_events(temporal_client, handle.id) == 0

    result = await handle.execute_update(
        ApprovalWorkflow.submit_decision, SubmitDecisionInput(task_id, "reject", "重复申报", reviewer), id="d-1"
    )
    assert result.stage == "rejected"
    # the same update id again returns the first result without running the handler twice
    again = await handle.execute_update(
        ApprovalWorkflow.submit_decision, SubmitDecisionInput(task_id, "reject", "重复申报", reviewer), id="d-1"
    )
    assert again == result
    assert (await handle.result()).stage == "rejected"
    assert await temporal_client.get_workflow_handle(f"project-{code}").result() == "rejected"
    assert await _update_events(temporal_client, handle.id) == 2
    detail = (await api.get(f"/api/v1/projects/{code}", headers=await login(pm_user))).json()
    assert (detail["stage"], detail["status"]) == ("rejected", "rejected")
