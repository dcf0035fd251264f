"""ProjectLifecycleWorkflow: one per project (`project-{code}`), from application to its end.

Human steps are tasks: an activity records the task in the read model, the workflow waits, and the
decision arrives as the `submit_decision` Update whose validator refuses a stale, foreign or forbidden
decision before anything reaches history.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from domain.enums import Decision, RegionLevel, Stage
from domain.lifecycle import OPINION_REQUIRED, REVIEW_DECISIONS, REVIEW_TASK, stage_after
from domain.payloads import (
    DecisionResult,
    OpenedTask,
    OpenTaskInput,
    ProjectStart,
    ProjectStatus,
    RecordDecisionInput,
    SubmitDecisionInput,
)
from domain.regions import covers

with workflow.unsafe.imports_passed_through():
    from activities.projects import ProjectActivities

DB_TIMEOUT = timedelta(seconds=30)
# A database outage must not lose a step: retry until it is back, backing off to a minute.
DB_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
TERMINAL = frozenset({Stage.REJECTED, Stage.CLOSED})


@dataclass(frozen=True)
class _Refusal:
    type: str
    message: str


class DecisionRefused:
    """ApplicationError types a decision can be refused with (the API maps them to 403/409/422)."""

    TASK_NOT_OPEN = "TaskNotOpen"
    NOT_ELIGIBLE = "NotEligible"
    SEPARATION_OF_DUTIES = "SeparationOfDuties"
    INVALID_DECISION = "InvalidDecision"
    OPINION_REQUIRED = "OpinionRequired"


@workflow.defn
class ProjectLifecycleWorkflow:
    """Carries one project through its stages."""

    @workflow.init
    def __init__(self, start: ProjectStart) -> None:
        self._start = start
        self._stage = Stage.APPLICATION
        self._task: OpenedTask | None = None
        self._deciders: dict[str, int] = {}
        self._round = 1
        self._lock = asyncio.Lock()

    @workflow.run
    async def run(self, start: ProjectStart) -> str:
        """Drive the project: township review now; later stages are added step by step."""
        await self._review(Stage.TOWNSHIP_REVIEW)
        # The stages after the township review are decided by steps the approval chain adds; until a
        # terminal stage is reached the project waits here durably (years if need be).
        await workflow.wait_condition(lambda: self._stage in TERMINAL)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._stage.value

    async def _review(self, stage: Stage) -> None:
        kind, role = REVIEW_TASK[stage]
        region = {
            Stage.TOWNSHIP_REVIEW: self._start.township_code,
        }[stage]
        task_id = str(workflow.uuid4())
        self._task = await workflow.execute_activity_method(
            ProjectActivities.open_task,
            OpenTaskInput(
                task_id=task_id,
                project_code=self._start.code,
                kind=kind.value,
                stage=stage.value,
                candidate_role=role.value,
                region_code=region,
                allowed_decisions=[d.value for d in REVIEW_DECISIONS],
                opened_at=workflow.now(),
                working_days=self._start.config.review_working_days,
                time_zone=self._start.config.time_zone,
                round=self._round,
            ),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        self._stage = stage
        await workflow.wait_condition(lambda: self._stage is not stage)

    def _refusal(self, inp: SubmitDecisionInput) -> _Refusal | None:
        task = self._task
        if task is None or task.task_id != inp.task_id or task.decided_by is not None:
            return _Refusal(DecisionRefused.TASK_NOT_OPEN, "this task is not open for a decision")
        if inp.decision not in task.allowed_decisions:
            allowed = ", ".join(task.allowed_decisions)
            return _Refusal(DecisionRefused.INVALID_DECISION, f"decision must be one of: {allowed}")
        if Decision(inp.decision) in OPINION_REQUIRED and not inp.opinion.strip():
            return _Refusal(DecisionRefused.OPINION_REQUIRED, f"an opinion is required to {inp.decision}")
        actor = inp.actor
        if actor.role != task.candidate_role:
            return _Refusal(DecisionRefused.NOT_ELIGIBLE, f"only a {task.candidate_role} may decide this task")
        if not covers(actor.region_code, RegionLevel(actor.region_level), task.region_code):
            return _Refusal(DecisionRefused.NOT_ELIGIBLE, "this task belongs to a region outside yours")
        if actor.user_id == self._start.applicant_id:
            return _Refusal(DecisionRefused.SEPARATION_OF_DUTIES, "the applicant may not decide their own project")
        for stage, user_id in self._deciders.items():
            if user_id == actor.user_id and stage != task.stage:
                return _Refusal(
                    DecisionRefused.SEPARATION_OF_DUTIES,
                    f"you already decided the {stage} step of this project; one person decides one level",
                )
        return None

    @workflow.update
    async def submit_decision(self, inp: SubmitDecisionInput) -> DecisionResult:
        """A reviewer decides the open task; the project moves on once the decision is stored."""
        async with self._lock:
            refusal = self._refusal(inp)  # concurrent updates may both pass the validator
            if refusal is not None:
                raise ApplicationError(refusal.message, type=refusal.type)
            task = self._task
            assert task is not None
            self._task = replace(task, decided_by=inp.actor.user_id)
            from_stage = Stage(task.stage)
            to_stage = stage_after(from_stage, Decision(inp.decision))
            try:
                result = await workflow.execute_activity_method(
                    ProjectActivities.record_decision,
                    RecordDecisionInput(
                        task_id=task.task_id,
                        project_code=self._start.code,
                        decision=inp.decision,
                        opinion=inp.opinion,
                        actor=inp.actor,
                        from_stage=from_stage.value,
                        to_stage=to_stage.value,
                        decided_at=workflow.now(),
                    ),
                    start_to_close_timeout=DB_TIMEOUT,
                    retry_policy=DB_RETRY,
                )
            except ActivityError as err:
                self._task = task
                raise ApplicationError("the decision could not be stored", type="StoreFailed") from err
            self._deciders[from_stage.value] = inp.actor.user_id
            self._task = None
            self._stage = to_stage
            return result

    @submit_decision.validator
    def _validate_decision(self, inp: SubmitDecisionInput) -> None:
        refusal = self._refusal(inp)
        if refusal is not None:
            raise ApplicationError(refusal.message, type=refusal.type)

    @workflow.query
    def get_status(self) -> ProjectStatus:
        """The workflow's own view: stage, open task, who decided which level."""
        return ProjectStatus(
            code=self._start.code,
            stage=self._stage.value,
            open_task=self._task,
            deciders=dict(self._deciders),
            round=self._round,
        )
