"""Who owns a project's Updates: open_task records the calling workflow as the task's owner, enter_phase makes the
calling phase workflow the project's, adopt_tasks hands open tasks over; each audited once however often it runs.
Real activities run by a real Temporal worker, called from a small test workflow as a phase workflow would."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from temporalio import workflow
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.projects import ProjectActivities
from db.engine import Sessions
from db.models import AuditEntry, Project, Task
from db.repositories.audit import project_chain, verify_audit_chains
from db.repositories.tasks import cancel_tasks
from domain.enums import Phase, Role, Stage, TaskKind
from domain.payloads import AdoptTasksInput, OpenedTask, OpenTaskInput, PhaseEntry
from tests.conftest import World, seed_project

AT = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Steps:
    """What the test workflow does, in this order; enter_phase and adopt_tasks run twice (a retry after a lost
    completion sends the same input again)."""

    open_tasks: list[OpenTaskInput] = field(default_factory=list)
    entry: PhaseEntry | None = None
    adopt: AdoptTasksInput | None = None


@workflow.defn(name="TestPhaseSteps")
class PhaseStepsWorkflow:
    """Calls the project activities by name, the way a phase workflow does."""

    @workflow.run
    async def run(self, steps: Steps) -> None:
        """Run the steps."""
        timeout = timedelta(seconds=10)
        for task in steps.open_tasks:
            await workflow.execute_activity("open_task", task, result_type=OpenedTask, start_to_close_timeout=timeout)
        for _ in range(2):
            if steps.entry is not None:
                await workflow.execute_activity("enter_phase", steps.entry, start_to_close_timeout=timeout)
            if steps.adopt is not None:
                await workflow.execute_activity("adopt_tasks", steps.adopt, start_to_close_timeout=timeout)


class PhaseRunner:
    """Runs a test workflow with a chosen id to its end on a worker with the real project activities."""

    def __init__(self, client: Client, task_queue: str) -> None:
        self.client, self.task_queue = client, task_queue

    async def __call__(self, workflow_id: str, steps: Steps) -> None:
        """Run `steps` as the workflow `workflow_id`."""
        await self.client.execute_workflow(
            PhaseStepsWorkflow.run,
            steps,
            id=workflow_id,
            task_queue=self.task_queue,
            execution_timeout=timedelta(seconds=60),
        )


@pytest.fixture
async def run(sessions: Sessions, temporal_client: Client, task_queue: str) -> AsyncIterator[PhaseRunner]:
    """A worker for this test's task queue with the test workflow and the real ProjectActivities."""
    acts = ProjectActivities(sessions)
    # the test workflow lives in a module that imports I/O libraries; it runs unsandboxed (it is deterministic)
    async with Worker(
        temporal_client,
        task_queue=task_queue,
        workflows=[PhaseStepsWorkflow],
        activities=[acts.open_task, acts.enter_phase, acts.adopt_tasks],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        yield PhaseRunner(temporal_client, task_queue)


def _task(code: str, world: World, task_id: str) -> OpenTaskInput:
    return OpenTaskInput(
        task_id=task_id,
        project_code=code,
        kind=TaskKind.PROGRESS_REPORT.value,
        stage=Stage.CONSTRUCTION.value,
        candidate_role=Role.PROJECT_MANAGER.value,
        region_code=world.villages[0],
        allowed_decisions=[],
        opened_at=AT,
        working_days=5,
        time_zone="Asia/Shanghai",
    )


async def _project(sessions: Sessions, code: str) -> Project:
    async with sessions() as s:
        project = await s.get(Project, code)
        assert project is not None
        return project


async def _owners(sessions: Sessions, code: str) -> dict[str, str | None]:
    async with sessions() as s:
        rows = await s.execute(select(Task.id, Task.workflow_id).where(Task.project_code == code))
        return {task_id: owner for task_id, owner in rows}


async def _audits(sessions: Sessions, code: str, *actions: str) -> list[tuple[str, dict[str, object]]]:
    async with sessions() as s:
        rows = await s.scalars(
            select(AuditEntry)
            .where(AuditEntry.chain == project_chain(code), AuditEntry.action.in_(actions))
            .order_by(AuditEntry.seq)
        )
        return [(r.action, r.payload) for r in rows]


async def _chain_verifies(sessions: Sessions, code: str) -> bool:
    async with sessions() as s:
        return all(not r.problems for r in await verify_audit_chains(s, chain=project_chain(code)))


async def test_open_task_records_the_calling_workflow_as_the_owner(
    sessions: Sessions, world: World, run: PhaseRunner
) -> None:
    code = await seed_project(sessions, world, stage=Stage.CONSTRUCTION.value)
    first, second = f"{code}-remind-1", f"{code}-remind-2"
    await run(f"project-{code}-construction-1", Steps(open_tasks=[_task(code, world, first)]))
    await run(f"project-{code}", Steps(open_tasks=[_task(code, world, second)]))
    assert await _owners(sessions, code) == {first: f"project-{code}-construction-1", second: f"project-{code}"}


@pytest.mark.parametrize(
    ("before", "entry", "status", "stage_audits"),
    [
        # a new phase moves the stage: audited like change_stage, once
        (Stage.APPROVAL_NOTICE, Stage.CONSTRUCTION, "active", 1),
        # the stage is already the phase's (the parent moved it): no stage audit
        (Stage.CONSTRUCTION, Stage.CONSTRUCTION, "active", 0),
        # a terminal stage closes the project's status, as change_stage does
        (Stage.OPERATION, Stage.CLOSED, "closed", 1),
    ],
)
async def test_enter_phase_routes_the_project_to_the_phase_and_audits_once(
    sessions: Sessions, world: World, run: PhaseRunner, before: Stage, entry: Stage, status: str, stage_audits: int
) -> None:
    code = await seed_project(sessions, world, stage=before.value)
    phase_id = f"project-{code}-construction-1"
    inp = PhaseEntry(project_code=code, phase=Phase.CONSTRUCTION.value, stage=entry.value, at=AT)
    await run(phase_id, Steps(entry=inp))  # enter_phase runs twice
    project = await _project(sessions, code)
    assert (project.phase_workflow_id, project.workflow_id) == (phase_id, f"project-{code}")
    assert (project.stage, project.status) == (entry.value, status)
    audits = await _audits(sessions, code, "phase_started", "stage_changed")
    started = ("phase_started", {"phase": "construction", "workflow_id": phase_id})
    moved = ("stage_changed", {"from": before.value, "to": entry.value, "reason": "construction phase started"})
    assert audits == ([started, moved] if stage_audits else [started])
    assert await _chain_verifies(sessions, code)


async def test_enter_phase_passes_on_its_reason_and_a_later_phase_takes_over(
    sessions: Sessions, world: World, run: PhaseRunner
) -> None:
    code = await seed_project(sessions, world, stage=Stage.ACCEPTANCE.value)
    construction, registration = f"project-{code}-construction-1", f"project-{code}-registration-1"
    await run(construction, Steps(entry=PhaseEntry(code, Phase.CONSTRUCTION.value, Stage.ACCEPTANCE.value, AT)))
    later = AT + timedelta(days=3)
    reason = "acceptance notice completed"
    entry = PhaseEntry(code, Phase.REGISTRATION.value, Stage.ASSET_REGISTRATION.value, later, reason)
    await run(registration, Steps(entry=entry))
    project = await _project(sessions, code)
    assert (project.phase_workflow_id, project.stage) == (registration, Stage.ASSET_REGISTRATION.value)
    assert await _audits(sessions, code, "phase_started", "stage_changed") == [
        ("phase_started", {"phase": "construction", "workflow_id": construction}),
        ("phase_started", {"phase": "registration", "workflow_id": registration}),
        ("stage_changed", {"from": "acceptance", "to": "asset_registration", "reason": reason}),
    ]


async def test_adopt_tasks_hands_over_only_the_projects_open_tasks_once(
    sessions: Sessions, world: World, run: PhaseRunner
) -> None:
    code = await seed_project(sessions, world, stage=Stage.CONSTRUCTION.value)
    other = await seed_project(sessions, world, stage=Stage.CONSTRUCTION.value)
    old, new = f"project-{code}", f"project-{code}-construction-1"
    open_a, open_b, cancelled = (f"{code}-t{i}" for i in range(3))
    foreign = f"{other}-t0"
    await run(old, Steps(open_tasks=[_task(code, world, t) for t in (open_a, open_b, cancelled)]))
    await run(f"project-{other}", Steps(open_tasks=[_task(other, world, foreign)]))
    async with sessions.begin() as s:
        assert await cancel_tasks(s, task_ids=[cancelled], at=AT) == 1

    # adopt_tasks runs twice; a task of another project in the list is not taken
    await run(new, Steps(adopt=AdoptTasksInput(code, [open_b, open_a, cancelled, foreign], AT + timedelta(hours=1))))
    assert await _owners(sessions, code) == {open_a: new, open_b: new, cancelled: old}
    assert await _owners(sessions, other) == {foreign: f"project-{other}"}
    assert await _audits(sessions, code, "tasks_handed_over") == [
        ("tasks_handed_over", {"task_ids": sorted([open_a, open_b]), "workflow_id": new}),
    ]
    assert await _audits(sessions, other, "tasks_handed_over") == []
    assert await _chain_verifies(sessions, code)


async def test_adopt_tasks_with_nothing_open_changes_and_audits_nothing(
    sessions: Sessions, world: World, run: PhaseRunner
) -> None:
    code = await seed_project(sessions, world, stage=Stage.CONSTRUCTION.value)
    task_id = f"{code}-t0"
    await run(f"project-{code}", Steps(open_tasks=[_task(code, world, task_id)]))
    async with sessions.begin() as s:
        await cancel_tasks(s, task_ids=[task_id], at=AT)
    await run(f"project-{code}-construction-1", Steps(adopt=AdoptTasksInput(code, [task_id, "no-such-task"], AT)))
    assert await _owners(sessions, code) == {task_id: f"project-{code}"}
    assert await _audits(sessions, code, "tasks_handed_over") == []


async def test_owner_activities_refuse_to_run_outside_a_workflow(sessions: Sessions, world: World) -> None:
    code = await seed_project(sessions, world, stage=Stage.CONSTRUCTION.value)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id=None)
    acts = ProjectActivities(sessions)
    with pytest.raises(ApplicationError) as entering:
        await env.run(acts.enter_phase, PhaseEntry(code, Phase.CONSTRUCTION.value, Stage.CONSTRUCTION.value, AT))
    with pytest.raises(ApplicationError) as adopting:
        await env.run(acts.adopt_tasks, AdoptTasksInput(code, [], AT))
    with pytest.raises(ApplicationError) as opening:
        await env.run(acts.open_task, _task(code, world, f"{code}-t0"))
    for caught in (entering, adopting, opening):
        assert (caught.value.type, caught.value.non_retryable) == ("NoWorkflow", True)
    assert (await _project(sessions, code)).phase_workflow_id is None
    assert await _owners(sessions, code) == {}
