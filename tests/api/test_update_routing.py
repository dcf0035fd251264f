"""Each Update reaches the workflow that owns it: a task's goes to `tasks.workflow_id`, a project-level one to
`projects.phase_workflow_id`, each by name, falling back to the project's own workflow; a workflow that has closed,
never ran or takes no such Update answers 409 wrong_stage, at once. Real app, worker, Temporal and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from temporalio import workflow
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from db.engine import Sessions
from db.models import Project, Task
from domain.payloads import DecisionResult, RetryInput, SubmitDecisionInput
from tests.conftest import Login, World, application, eventually

pytestmark = pytest.mark.usefixtures("worker")

PHASE_ENDED = "this phase of the project has ended; reload the project"


@workflow.defn(name="TestPhaseStandIn")
class PhaseStandInWorkflow:
    """Plays a phase workflow: takes `submit_decision` and `retry_blocked` by name and says it was the one asked;
    it has no `claim_task`. It runs until terminated."""

    @workflow.run
    async def run(self) -> None:
        """Wait."""
        await workflow.wait_condition(lambda: False)

    @workflow.update
    def submit_decision(self, inp: SubmitDecisionInput) -> DecisionResult:
        """Answer with this workflow's mark as the stage."""
        return DecisionResult(task_id=inp.task_id, decision=inp.decision, stage="stand-in")

    @workflow.update
    def retry_blocked(self, inp: RetryInput) -> str:
        """Answer with this workflow's mark as the step."""
        return "stand-in"


@workflow.defn(name="TestPhaseEndsMidUpdate")
class PhaseEndsMidUpdateWorkflow:
    """A phase workflow that ends while a `retry_blocked` it has accepted is still running."""

    def __init__(self) -> None:
        self._asked = False

    @workflow.run
    async def run(self) -> None:
        """End once asked, leaving the handler behind."""
        await workflow.wait_condition(lambda: self._asked)

    @workflow.update(unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)
    async def retry_blocked(self, inp: RetryInput) -> str:
        """Never finishes: the run ends first."""
        self._asked = True
        await workflow.wait_condition(lambda: False)
        return "unreachable"


StandIns = Callable[[str], Awaitable[WorkflowHandle[Any, Any]]]


@pytest.fixture
async def stand_ins(temporal_client: Client) -> AsyncIterator[StandIns]:
    """Starts stand-in phase workflows on a worker and task queue of their own; terminates them at the end."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    started: list[WorkflowHandle[Any, Any]] = []

    async def start(workflow_type: str) -> WorkflowHandle[Any, Any]:
        handle = await temporal_client.start_workflow(
            workflow_type, id=f"test-phase-{uuid.uuid4().hex[:12]}", task_queue=queue
        )
        started.append(handle)
        return handle

    async with Worker(
        temporal_client,
        task_queue=queue,
        workflows=[PhaseStandInWorkflow, PhaseEndsMidUpdateWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),  # deterministic; its module imports I/O libraries
    ):
        yield start
        for handle in started:
            with contextlib.suppress(RPCError):  # ended already
                await handle.terminate("test over")


async def _file(api: httpx.AsyncClient, pm: dict[str, str], world: World) -> str:
    r = await api.post("/api/v1/projects", json=application(world), headers=pm)
    assert r.status_code == 201, r.text
    return str(r.json()["code"])


async def _township_task(api: httpx.AsyncClient, township: dict[str, str], code: str) -> str:
    async def visible() -> str | None:
        r = await api.get("/api/v1/tasks", params={"project": code, "kind": "township_review"}, headers=township)
        items = r.json()["items"]
        return str(items[0]["id"]) if items else None

    found: str = await eventually(visible)
    return found


async def _set(sessions: Sessions, model: type[Project] | type[Task], key: str, **values: str | None) -> None:
    async with sessions.begin() as s:
        column = Project.code if model is Project else Task.id
        await s.execute(update(model).where(column == key).values(**values))


async def _owner(sessions: Sessions, task_id: str) -> str | None:
    async with sessions() as s:
        task = await s.get(Task, task_id)
        assert task is not None
        return task.workflow_id


async def test_an_update_to_a_project_whose_workflow_has_ended_is_409_wrong_stage(
    api: httpx.AsyncClient, world: World, login: Login, sessions: Sessions, temporal_client: Client
) -> None:
    pm, township = await login(world.users["pm"]), await login(world.users["township"])
    supervisor = await login(world.users["supervisor"])
    code = await _file(api, pm, world)
    task_id = await _township_task(api, township, code)
    assert await _owner(sessions, task_id) == f"project-{code}-approval-1"  # the approval workflow opened it
    r = await api.post(
        f"/api/v1/tasks/{task_id}/decision", json={"decision": "reject", "opinion": "不符合"}, headers=township
    )
    assert (r.status_code, r.json()["stage"]) == (200, "rejected"), r.text
    async with asyncio.timeout(30):
        await temporal_client.get_workflow_handle(f"project-{code}").result()

    async with asyncio.timeout(30):  # answered at once, not after the engine's wait
        r = await api.post(f"/api/v1/projects/{code}/retry", headers=supervisor)
    assert (r.status_code, r.json()["code"], r.json()["message"]) == (409, "wrong_stage", PHASE_ENDED)

    # a second decision on a task whose owner has closed (the route's own checks passed: the row says open)
    other = await _file(api, pm, world)
    other_task = await _township_task(api, township, other)
    await _set(sessions, Task, other_task, workflow_id=f"project-{code}-approval-1")
    body = {"decision": "approve", "opinion": "同意"}
    r = await api.post(f"/api/v1/tasks/{other_task}/decision", json=body, headers=township)
    assert (r.status_code, r.json()["code"], r.json()["message"]) == (409, "wrong_stage", PHASE_ENDED)
    # a task without a recorded owner goes to the project's own workflow (rows from before migration 0008): a
    # ProjectWorkflow takes no decisions, its phase workflow does
    await _set(sessions, Task, other_task, workflow_id=None)
    r = await api.post(f"/api/v1/tasks/{other_task}/decision", json=body, headers=township)
    assert (r.status_code, r.json()["code"]) == (409, "wrong_stage"), r.text
    await _set(sessions, Task, other_task, workflow_id=f"project-{other}-approval-1")
    r = await api.post(f"/api/v1/tasks/{other_task}/decision", json=body, headers=township)
    assert (r.status_code, r.json()["stage"]) == (200, "expert_review"), r.text


async def test_updates_go_by_name_to_the_owner_recorded_in_the_read_model(
    api: httpx.AsyncClient,
    world: World,
    login: Login,
    sessions: Sessions,
    stand_ins: StandIns,
) -> None:
    stand_in = await stand_ins("TestPhaseStandIn")
    pm, township = await login(world.users["pm"]), await login(world.users["township"])
    supervisor = await login(world.users["supervisor"])
    code = await _file(api, pm, world)
    task_id = await _township_task(api, township, code)
    body = {"decision": "approve", "opinion": "同意"}

    # the phase workflow takes the project-level Updates, the task's owner the task's
    await _set(sessions, Project, code, phase_workflow_id=stand_in.id)
    r = await api.post(f"/api/v1/projects/{code}/retry", headers=supervisor)
    assert (r.status_code, r.json()) == (200, {"project_code": code, "step": "stand-in"}), r.text
    await _set(sessions, Task, task_id, workflow_id=stand_in.id)
    r = await api.post(f"/api/v1/tasks/{task_id}/decision", json=body, headers=township)
    assert (r.status_code, r.json()["stage"]) == (200, "stand-in"), r.text

    # an owner that takes no such Update: the project is not in a phase that takes it
    r = await api.post(f"/api/v1/tasks/{task_id}/claim", headers=township)
    assert (r.status_code, r.json()["code"]) == (409, "wrong_stage"), r.text
    assert "does not take this request" in r.json()["message"]

    # a phase workflow that never ran, or has ended
    await _set(sessions, Project, code, phase_workflow_id=f"project-{code}-construction-1")
    r = await api.post(f"/api/v1/projects/{code}/retry", headers=supervisor)
    assert (r.status_code, r.json()["code"], r.json()["message"]) == (409, "wrong_stage", PHASE_ENDED)
    await stand_in.terminate("the phase ended")
    await _set(sessions, Project, code, phase_workflow_id=stand_in.id)
    r = await api.post(f"/api/v1/projects/{code}/retry", headers=supervisor)
    assert (r.status_code, r.json()["code"], r.json()["message"]) == (409, "wrong_stage", PHASE_ENDED)

    # without a phase workflow the project's own takes them: the ProjectWorkflow answers for itself
    await _set(sessions, Project, code, phase_workflow_id=None)
    r = await api.post(f"/api/v1/projects/{code}/retry", headers=supervisor)
    assert (r.status_code, r.json()["code"]) == (409, "wrong_stage"), r.text
    assert r.json()["message"] == "the project is not blocked; there is nothing to retry"
    await _set(sessions, Task, task_id, workflow_id=f"project-{code}-approval-1")
    r = await api.post(f"/api/v1/tasks/{task_id}/decision", json=body, headers=township)
    assert (r.status_code, r.json()["stage"]) == (200, "expert_review"), r.text


async def test_a_phase_that_ends_while_it_runs_an_update_is_409_wrong_stage(
    api: httpx.AsyncClient, world: World, login: Login, sessions: Sessions, stand_ins: StandIns
) -> None:
    ending = await stand_ins("TestPhaseEndsMidUpdate")
    pm, supervisor = await login(world.users["pm"]), await login(world.users["supervisor"])
    code = await _file(api, pm, world)
    await _set(sessions, Project, code, phase_workflow_id=ending.id)
    async with asyncio.timeout(30):
        r = await api.post(f"/api/v1/projects/{code}/retry", headers=supervisor)
    assert (r.status_code, r.json()["code"], r.json()["message"]) == (409, "wrong_stage", PHASE_ENDED)
    assert (await ending.describe()).status == WorkflowExecutionStatus.COMPLETED
