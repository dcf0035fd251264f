"""Phase workflows on their own, with the real worker machinery and stand-in activities registered under the
real activity names — here the branching of a workflow is the point (the end-to-end life through the API is in
tests/api/test_construction.py and tests/workflows/test_handover.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from domain.enums import Decision, Stage, TaskKind
from domain.payloads import (
    Actor,
    AdoptTasksInput,
    BlockedStep,
    CloseNoticeInput,
    CompletionInput,
    ConstructionCheckInput,
    ConstructionState,
    DeadlineEvent,
    DecisionResult,
    LifecycleConfig,
    NoticeInput,
    OpenedTask,
    OpenTaskInput,
    PhaseEntry,
    ProjectStart,
    RecordCompletionInput,
    RecordDecisionInput,
    RecordRegistrationInput,
    RegisterAssetsInput,
    StageChange,
    SubmitDecisionInput,
)
from domain.phases import PhaseInput, PhaseResult
from domain.platform_payloads import RegisterAssetInput, RegisterAssetResult
from tests.conftest import eventually
from worker import workflow_runner
from workflows.construction import ConstructionWorkflow
from workflows.registration import RegistrationWorkflow

APPLICANT = Actor(1, "pm", "project_manager", "370115100001", "village")
COUNTY = Actor(2, "county", "county_reviewer", "370115", "county")
NOTICE_SECONDS = 2.0


@dataclass
class StandIns:
    """The read model as the workflow sees it: tasks opened, decisions, notices; the platform refuses once."""

    opened: list[OpenTaskInput] = field(default_factory=list)
    decisions: list[RecordDecisionInput] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)
    platform_calls: list[str] = field(default_factory=list)
    refuse_platform_once: bool = True

    def activities(self) -> list[object]:
        @activity.defn(name="enter_phase")
        async def enter_phase(inp: PhaseEntry) -> None:
            self.stages.append(inp.stage)

        @activity.defn(name="adopt_tasks")
        async def adopt_tasks(inp: AdoptTasksInput) -> None:
            return None

        @activity.defn(name="open_task")
        async def open_task(inp: OpenTaskInput) -> OpenedTask:
            self.opened.append(inp)
            due = inp.opened_at + timedelta(days=30)
            return OpenedTask(
                task_id=inp.task_id,
                kind=inp.kind,
                stage=inp.stage,
                candidate_role=inp.candidate_role,
                region_code=inp.region_code,
                allowed_decisions=inp.allowed_decisions,
                due_at=due,
                assignee_id=inp.assignee_id,
                escalate_at=due + timedelta(days=30),
                details=inp.details,
            )

        @activity.defn(name="record_decision")
        async def record_decision(inp: RecordDecisionInput) -> DecisionResult:
            self.decisions.append(inp)
            return DecisionResult(inp.task_id, inp.decision, inp.to_stage)

        @activity.defn(name="open_notice")
        async def open_notice(inp: NoticeInput) -> None:
            self.notices.append(f"open {inp.kind}")

        @activity.defn(name="close_notice")
        async def close_notice(inp: CloseNoticeInput) -> None:
            self.notices.append(f"close {inp.status}")

        @activity.defn(name="change_stage")
        async def change_stage(inp: StageChange) -> None:
            self.stages.append(inp.to_stage)

        @activity.defn(name="mark_blocked")
        async def mark_blocked(inp: BlockedStep) -> None:
            return None

        @activity.defn(name="notify_deadline")
        async def notify_deadline(inp: DeadlineEvent) -> None:
            return None

        @activity.defn(name="record_registration")
        async def record_registration(inp: RecordRegistrationInput) -> None:
            return None

        @activity.defn(name="record_completion")
        async def record_completion(inp: RecordCompletionInput) -> None:
            return None

        @activity.defn(name="check_construction")
        async def check_construction(inp: ConstructionCheckInput) -> ConstructionState:
            return ConstructionState("green", "on plan", False)

        @activity.defn(name="register_asset")
        async def register_asset(inp: RegisterAssetInput) -> RegisterAssetResult:
            self.platform_calls.append(inp.asset_id)
            if self.refuse_platform_once:
                self.refuse_platform_once = False
                raise ApplicationError("the platform refused: owner missing", non_retryable=True)
            return RegisterAssetResult(inp.asset_id, "SZ-1")

        return [
            enter_phase,
            adopt_tasks,
            open_task,
            record_decision,
            open_notice,
            close_notice,
            change_stage,
            mark_blocked,
            notify_deadline,
            record_registration,
            record_completion,
            check_construction,
            register_asset,
        ]

    def task(self, kind: TaskKind) -> OpenTaskInput:
        return [t for t in self.opened if t.kind == kind][-1]


def _phase_input() -> PhaseInput:
    start = ProjectStart(
        code=f"T{uuid.uuid4().hex[:8]}",
        applicant_id=APPLICANT.user_id,
        project_type="greenhouse",
        village_code="370115100001",
        township_code="370115100",
        county_code="370115",
        city_code="370100",
        config=LifecycleConfig(notice_days=NOTICE_SECONDS / 86400, store_budget_seconds=5),
    )
    return PhaseInput(start=start)


async def _until(check: Callable[[], bool]) -> None:
    """Wait (with `eventually`'s deadline) until the stand-ins have seen what `check` looks for."""

    async def seen() -> bool:
        return check()

    await eventually(seen, interval=0.05)


def _worker(client: Client, queue: str, stand_ins: StandIns) -> Worker:
    return Worker(
        client,
        task_queue=queue,
        workflows=[RegistrationWorkflow, ConstructionWorkflow],
        activities=stand_ins.activities(),  # type: ignore[arg-type]
        workflow_runner=workflow_runner(),
    )


async def test_registration_waits_for_the_county_after_a_platform_refusal(temporal_client: Client) -> None:
    stand_ins = StandIns()
    queue = f"phase-{uuid.uuid4().hex[:8]}"
    inp = _phase_input()
    async with _worker(temporal_client, queue, stand_ins):
        handle = await temporal_client.start_workflow(
            RegistrationWorkflow.run, inp, id=f"project-{inp.start.code}-registration-1", task_queue=queue
        )
        await _until(lambda: any(t.kind == TaskKind.ASSET_REGISTRATION for t in stand_ins.opened))
        form = stand_ins.task(TaskKind.ASSET_REGISTRATION)
        # only the applicant registers; a decision is not how a form task is completed
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(
                RegistrationWorkflow.register_assets, RegisterAssetsInput(form.task_id, COUNTY, [{"asset_class": "x"}])
            )
        assets = [{"asset_class": "operating"}, {"asset_class": "household"}]
        await handle.execute_update(
            RegistrationWorkflow.register_assets, RegisterAssetsInput(form.task_id, APPLICANT, assets)
        )
        await _until(lambda: any(t.kind == TaskKind.CONFIRM_REGISTRATION for t in stand_ins.opened))
        confirm = stand_ins.task(TaskKind.CONFIRM_REGISTRATION)
        assert len(confirm.details["asset_ids"]) == 1  # the household asset needs no platform card
        await handle.execute_update(
            RegistrationWorkflow.submit_decision, SubmitDecisionInput(confirm.task_id, Decision.CONFIRM, "齐全", COUNTY)
        )
        # the platform refuses: the county gets a task, nothing is retried until it decides
        await _until(lambda: any(t.kind == TaskKind.PLATFORM_REJECTED for t in stand_ins.opened))
        refused = stand_ins.task(TaskKind.PLATFORM_REJECTED)
        assert "owner missing" in refused.details["error"]
        assert len(stand_ins.platform_calls) == 1
        await handle.execute_update(
            RegistrationWorkflow.submit_decision, SubmitDecisionInput(refused.task_id, Decision.RETRY, "已更正", COUNTY)
        )
        result: PhaseResult = await handle.result()
    assert result.stage is Stage.OPERATION
    assert stand_ins.platform_calls == [confirm.details["asset_ids"][0]] * 2
    assert stand_ins.notices == ["open registration", "close completed"]
    assert stand_ins.stages == ["", Stage.OPERATION]


async def test_construction_goes_back_on_rectify_and_ends_after_the_acceptance_notice(
    temporal_client: Client,
) -> None:
    stand_ins = StandIns()
    queue = f"phase-{uuid.uuid4().hex[:8]}"
    inp = _phase_input()
    completion = CompletionInput(APPLICANT, 95_000_000, datetime.now().date().isoformat())
    async with _worker(temporal_client, queue, stand_ins):
        handle = await temporal_client.start_workflow(
            ConstructionWorkflow.run, inp, id=f"project-{inp.start.code}-construction-1", task_queue=queue
        )
        await handle.execute_update(ConstructionWorkflow.report_completion, completion)
        await _until(lambda: any(t.kind == TaskKind.ACCEPTANCE for t in stand_ins.opened))
        first = stand_ins.task(TaskKind.ACCEPTANCE)
        assert first.details["final_cost_fen"] == 95_000_000
        rectify = SubmitDecisionInput(first.task_id, Decision.RECTIFY, "排水沟未完工", COUNTY, items=["补建排水沟"])
        await handle.execute_update(ConstructionWorkflow.submit_decision, rectify)
        # back under construction: completion is taken again, and only by the applicant
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(
                ConstructionWorkflow.report_completion, CompletionInput(COUNTY, 1, "2026-01-01")
            )
        await handle.execute_update(ConstructionWorkflow.report_completion, completion)
        await _until(lambda: len([t for t in stand_ins.opened if t.kind == TaskKind.ACCEPTANCE]) == 2)
        second = stand_ins.task(TaskKind.ACCEPTANCE)
        assert second.task_id != first.task_id
        await handle.execute_update(
            ConstructionWorkflow.submit_decision, SubmitDecisionInput(second.task_id, Decision.ACCEPT, "合格", COUNTY)
        )
        result: PhaseResult = await handle.result()
    assert result.stage is Stage.ASSET_REGISTRATION
    assert [d.decision for d in stand_ins.decisions] == ["rectify", "accept"]
    assert [o.kind for o in result.opinions] == ["acceptance", "acceptance"]
    assert stand_ins.notices == ["open acceptance", "close completed"]
    assert stand_ins.stages == [Stage.CONSTRUCTION]


def test_the_project_workflow_names_registered_phase_workflows() -> None:
    """PHASES names the children by string (so a ProjectWorkflow's sandbox loads only its own module)."""
    from temporalio import workflow as wf

    from workflows import WORKFLOWS
    from workflows.project import PHASES

    registered = {wf._Definition.must_from_class(cls).name for cls in WORKFLOWS}
    assert set(PHASES.values()) <= registered
