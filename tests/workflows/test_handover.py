"""Executions of the single-class ProjectLifecycleWorkflow are handed over to the phase workflows and finish
their life there: one started before the approval chain existed (stuck after its township approval), one in
the middle of its expert panel, one under construction. Each ends in `operation`, driven through the API. And a
ProjectWorkflow run that reached operation before OperationWorkflow existed starts it with `start-operations`.

The executions are real: the frozen class runs them on the real worker, exactly as before this change (the
pre-approval-chain one by the class's own `_legacy_run`, which is what an execution recorded before
`approval-chain-v1` replays through). The hand-over is the CLI's `hand_over_all`.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker
from typer.testing import CliRunner

from cli.handover import hand_over_all, running_legacy, start_operations
from cli.main import app
from core.settings import get_settings
from db.engine import Sessions
from db.models import Project
from domain.payloads import LifecycleConfig, ProjectStart
from domain.phases import ProjectState
from tests.api.chain_helpers import Driver, add_library
from tests.conftest import World, eventually, seed_project
from tests.replay.test_replay import _replayer, record_history
from tests.workflows.lifecycle import finish_from_construction
from tests.workflows.test_operation_years import _seed as _seed_operation
from tests.workflows.test_operation_years import _start as _operation_state
from worker import build_worker
from workflows import WORKFLOWS
from workflows.project import ProjectWorkflow
from workflows.project_lifecycle import ProjectLifecycleWorkflow

# notices of a few seconds: the dev server's clock is real (hand-over needs its visibility to list executions)
NOTICE = timedelta(seconds=4)


async def _notice_passes() -> None:
    await asyncio.sleep(NOTICE.total_seconds() + 1)


@workflow.defn(name="ProjectLifecycleWorkflow", sandboxed=False)
class BeforeTheApprovalChain(ProjectLifecycleWorkflow):
    """The class as an execution recorded before `approval-chain-v1` runs it: the township review alone."""

    @workflow.run
    async def run(self, start: ProjectStart) -> str:
        """The first release's path (today's class takes it whenever the patch marker is absent)."""
        return await self._legacy_run()


async def _start_legacy(client: Client, sessions: Sessions, world: World, task_queue: str) -> str:
    """A project filed into the library and run by the single-class workflow, as the API did before."""
    code = await seed_project(sessions, world, stage="application")
    start = ProjectStart(
        code=code,
        applicant_id=world.users["pm"].id,
        project_type="photovoltaic",
        village_code=world.villages[0],
        township_code=world.townships[0],
        county_code=world.county,
        city_code=world.city,
        config=LifecycleConfig(notice_days=NOTICE.total_seconds() / 86400),
        implementing_entity="东关村股份经济合作社",  # as the world's application names it
    )
    await client.start_workflow(ProjectLifecycleWorkflow.run, start, id=f"project-{code}", task_queue=task_queue)
    return code


async def _legacy_run(client: Client, code: str) -> str:
    async for execution in client.list_workflows(f"WorkflowId = 'project-{code}'"):
        if execution.workflow_type == "ProjectLifecycleWorkflow":
            return execution.run_id
    raise AssertionError(f"no ProjectLifecycleWorkflow run of project-{code}")


async def _hand_over(client: Client, code: str, record_as: str, cli: pytest.MonkeyPatch | None = None) -> None:
    """Hand over (with the CLI command when given its environment, else with its function); the single-class run
    ends by continuing as a ProjectWorkflow, and nothing is left to hand over."""
    if cli is None:
        results = await hand_over_all(client, timeout=60)
        mine = [r for r in results if r.workflow_id == f"project-{code}"]
        assert [r.done for r in mine] == [True], mine
    else:
        cli.setenv("TEMPORAL_ADDRESS", client.service_client.config.target_host)
        get_settings.cache_clear()
        try:
            result = await asyncio.to_thread(CliRunner().invoke, app, ["workflows", "hand-over", "--timeout", "60"])
        finally:
            get_settings.cache_clear()
        output = " ".join(result.output.split())
        assert result.exit_code == 0, output
        assert f"handed over project-{code} (construction)" in output
        assert "running execution(s) handed over to ProjectWorkflow" in output
    assert f"project-{code}" not in await running_legacy(client)
    run_id = await _legacy_run(client, code)
    history = await client.get_workflow_handle(f"project-{code}", run_id=run_id).fetch_history()
    assert history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    assert (await _replayer().replay_workflow(history, raise_on_replay_failure=True)).replay_failure is None
    if os.environ.get("RECORD_HISTORIES") == "1":
        await record_history(client, f"project-{code}", record_as, run_id=run_id)


async def _to_operation_from_approval(drive: Driver, world: World, code: str) -> None:
    u = world.users
    await drive.approve(u["county"], code, "county_approval")
    await drive.approve(u["city"], code, "city_filing")
    await drive.notice_open(code)
    await _notice_passes()
    await drive.stage_is(code, "construction")
    await finish_from_construction(drive, world, code, _notice_passes)


async def test_an_execution_from_before_the_approval_chain_is_handed_over_and_reaches_operation(
    temporal_client: Client, api: httpx.AsyncClient, sessions: Sessions, world: World, task_queue: str
) -> None:
    client = temporal_client
    drive = Driver(api, world)
    u = world.users
    library = await add_library(sessions, world, eligible=3)
    earlier = [BeforeTheApprovalChain, *(w for w in WORKFLOWS if w is not ProjectLifecycleWorkflow)]
    async with build_worker(client, sessions, task_queue=task_queue, workflows=earlier):
        code = await _start_legacy(client, sessions, world, task_queue)
        await drive.task_for(u["township"], code, "township_review")
    async with build_worker(client, sessions, task_queue=task_queue):
        # today's class replays the execution through `_legacy_run`; after the township's approval such an
        # execution waited for ever at the expert review, with nothing to open it
        assert await drive.approve(u["township"], code, "township_review") == "expert_review"
        await _hand_over(client, code, "before_approval_chain_handed_over")
        await drive.score_all(code, library.eligible)
        await _to_operation_from_approval(drive, world, code)


async def test_an_execution_in_its_expert_panel_is_handed_over_and_reaches_operation(
    temporal_client: Client, api: httpx.AsyncClient, sessions: Sessions, world: World, task_queue: str, worker: Worker
) -> None:
    drive = Driver(api, world)
    u = world.users
    library = await add_library(sessions, world, eligible=3)
    code = await _start_legacy(temporal_client, sessions, world, task_queue)
    await drive.approve(u["township"], code, "township_review")
    seats = await drive.panel(code, library.eligible)
    first = next(e for e in library.eligible if e.id in seats)
    r = await drive.decide(
        first,
        seats[first.id]["id"],
        decision="score",
        opinion="可行",
        scores={"operating_model": 20, "revenue_estimate": 20, "benefit_linkage": 25, "compliance_risk": 15},
    )
    assert r.status_code == 200, r.text
    await _hand_over(temporal_client, code, "expert_panel_handed_over")
    # the two open seats go on with the approval workflow, and the score given before the hand-over counts:
    # the last two scores complete a panel of three
    assert await drive.score_all(code, [e for e in library.eligible if e.id != first.id], seats_open=2) == (
        "county_approval"
    )
    await _to_operation_from_approval(drive, world, code)


async def test_an_execution_under_construction_is_handed_over_and_reaches_operation(
    temporal_client: Client,
    api: httpx.AsyncClient,
    sessions: Sessions,
    world: World,
    task_queue: str,
    worker: Worker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Handed over by the CLI command `assetflow workflows hand-over`."""
    drive = Driver(api, world)
    u = world.users
    library = await add_library(sessions, world, eligible=3)
    code = await _start_legacy(temporal_client, sessions, world, task_queue)
    await drive.approve(u["township"], code, "township_review")
    await drive.score_all(code, library.eligible)
    await drive.approve(u["county"], code, "county_approval")
    await drive.approve(u["city"], code, "city_filing")
    await drive.notice_open(code)
    await _notice_passes()
    await drive.stage_is(code, "construction")
    await _hand_over(temporal_client, code, "construction_handed_over", cli=monkeypatch)
    await finish_from_construction(drive, world, code, _notice_passes)


@workflow.defn(name="ProjectWorkflow", sandboxed=False)
class BeforeOperation(ProjectWorkflow):
    """ProjectWorkflow as it was before OperationWorkflow existed: a run in operation waited there for good."""

    @workflow.run
    async def run(self, state: ProjectState) -> str:
        """The old seam: no child, no marker."""
        await workflow.wait_condition(lambda: False)
        return "closed"


async def test_a_run_waiting_in_operation_from_before_starts_its_operation_workflow(
    temporal_client: Client, sessions: Sessions, world: World, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = temporal_client
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    code, _, _ = await _seed_operation(sessions, world, today)
    earlier = [BeforeOperation, *(w for w in WORKFLOWS if w is not ProjectWorkflow)]
    async with build_worker(client, sessions, task_queue=task_queue, workflows=earlier):
        handle = await client.start_workflow(
            "ProjectWorkflow", _operation_state(world, code), id=f"project-{code}", task_queue=task_queue
        )
        assert (await handle.query(ProjectWorkflow.get_status)).child_id == ""
    async with build_worker(client, sessions, task_queue=task_queue):
        # today's class replays the run as it waited; the command starts its OperationWorkflow
        monkeypatch.setenv("TEMPORAL_ADDRESS", client.service_client.config.target_host)
        monkeypatch.setenv("TASK_QUEUE", task_queue)
        get_settings.cache_clear()
        try:
            result = await asyncio.to_thread(
                CliRunner().invoke, app, ["workflows", "start-operations", "--timeout", "60"]
            )
        finally:
            get_settings.cache_clear()
        output = " ".join(result.output.split())
        assert result.exit_code == 0, output
        assert f"started project-{code} (operation)" in output
        view = await handle.query(ProjectWorkflow.get_status)
        assert view.child_id == f"project-{code}-operation-1"

        async def entered() -> bool:
            async with sessions() as s:
                project = await s.get(Project, code)
                return project is not None and project.phase_workflow_id == view.child_id

        await eventually(entered)
        # a second run finds nothing left to start
        again = await start_operations(client, timeout=10, task_queue=task_queue)
        assert [r for r in again if r.workflow_id == f"project-{code}"] == []
        history = await handle.fetch_history()
        assert (await _replayer().replay_workflow(history, raise_on_replay_failure=True)).replay_failure is None
