"""RegistrationWorkflow, id `project-{code}-registration-{n}`: the assets into the "three assets" platform.

The applicant registers the assets the project produced, the county confirms (or returns them), each
non-household asset is registered once on the platform (a refusal waits for the county), and the
registration is noticed; then the project is in operation.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from domain.enums import Decision, Phase, Role, Stage, TaskKind, UpdateName
from domain.lifecycle import CONFIRM_DECISIONS, REGISTRATION_DECISIONS
from domain.payloads import (
    ClaimInput,
    DecisionResult,
    ObjectionInput,
    ObjectionResult,
    OpenedTask,
    PhaseEntry,
    ProjectStatus,
    ReassignInput,
    RecordRegistrationInput,
    RegisterAssetsInput,
    RetryInput,
    StageChange,
    SubmitDecisionInput,
    TaskChange,
)
from domain.phases import NoticeState, Opinion, PhaseInput, PhaseResult, PhaseResume
from domain.platform_payloads import RegisterAssetInput
from domain.task_rules import Refusal
from workflows.notices import Notices
from workflows.steps import HEARTBEAT, Steps, refuse
from workflows.tasks import Outcome, TaskBoard

with workflow.unsafe.imports_passed_through():
    from activities.construction import ConstructionActivities
    from activities.platform import PlatformActivities
    from activities.projects import ProjectActivities

PLATFORM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=10)
)


def _resume_at(resume: PhaseResume) -> str:
    """Where a handed-over registration goes on: the notice, the platform, the confirmation or the form."""
    kinds = {t.kind for t in resume.tasks}
    if resume.notice is not None:
        return "notice"
    if TaskKind.CONFIRM_REGISTRATION in kinds:
        return "confirm"
    if TaskKind.PLATFORM_REJECTED in kinds:
        return "platform"
    return "register"


@workflow.defn
class RegistrationWorkflow:
    """Carries one accepted project's assets through registration, confirmation, the platform and the notice."""

    @workflow.init
    def __init__(self, inp: PhaseInput) -> None:
        self._start = inp.start
        self._steps = Steps(inp.start)
        self._board = TaskBoard(inp.start, self._steps, inp.deciders)
        self._notices = Notices(self._board)
        self._stage = Stage.ASSET_REGISTRATION
        self._round = inp.round
        self._revisions = inp.revisions
        self._opinions = list(inp.opinions)
        self._registered: list[str] = list(inp.resume.registered) if inp.resume else []

    @workflow.run
    async def run(self, inp: PhaseInput) -> PhaseResult:
        """Register, confirm, card on the platform, notice; then the project is in operation."""
        await self._steps.step(
            ProjectActivities.enter_phase,
            PhaseEntry(project_code=self._start.code, phase=Phase.REGISTRATION.value, stage="", at=workflow.now()),
        )
        resume = inp.resume
        at, notice = "register", None
        if resume is not None:
            await self._board.adopt(resume.tasks)
            at, notice = _resume_at(resume), resume.notice
        await self._registration(at, notice)
        await self._steps.step(
            ProjectActivities.change_stage,
            StageChange(
                project_code=self._start.code,
                from_stage=Stage.ASSET_REGISTRATION.value,
                to_stage=Stage.OPERATION.value,
                at=workflow.now(),
                reason="asset registration noticed without an upheld objection",
            ),
        )
        self._stage = Stage.OPERATION
        await workflow.wait_condition(workflow.all_handlers_finished)
        return PhaseResult(
            stage=Stage.OPERATION,
            round=self._round,
            revisions=self._revisions,
            deciders=self._board.deciders,
            opinions=self._opinions,
        )

    async def _registration(self, at: str, notice: NoticeState | None) -> None:
        """The applicant registers the assets, the county confirms, the platform issues cards, the notice runs."""
        while True:
            if at == "register":
                await self._board.closed(await self._register_task())
                at = "confirm"
            if at == "confirm":
                confirm = await self._open(
                    TaskKind.CONFIRM_REGISTRATION,
                    Role.COUNTY_REVIEWER.value,
                    CONFIRM_DECISIONS,
                    details={"asset_ids": list(self._registered)},
                )
                if (await self._board.closed(confirm)).decision != Decision.CONFIRM:
                    at = "register"
                    continue
                at = "platform"
            if at == "platform":
                await self._register_on_platform()
            upheld = await self._notices.run(
                "registration", Stage.ASSET_REGISTRATION, Stage.ASSET_REGISTRATION, self._round, resume=notice
            )
            notice = None
            if upheld is None:
                return
            self._round += 1
            at = "register"

    async def _register_task(self) -> OpenedTask:
        return await self._open(
            TaskKind.ASSET_REGISTRATION,
            Role.PROJECT_MANAGER.value,
            REGISTRATION_DECISIONS,
            assignee_id=self._start.applicant_id,
            details={"opinions": [o.as_detail() for o in self._opinions if o.kind == TaskKind.CONFIRM_REGISTRATION]},
        )

    async def _open(
        self,
        kind: TaskKind,
        role: str,
        decisions: tuple[Decision, ...],
        *,
        assignee_id: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> OpenedTask:
        region = self._start.village_code if kind == TaskKind.ASSET_REGISTRATION else self._start.county_code
        task = await self._board.open(
            self._board.task_input(
                kind,
                Stage.ASSET_REGISTRATION,
                role,
                region,
                decisions,
                self._round,
                assignee_id=assignee_id,
                details=details,
            )
        )
        self._stage = Stage.ASSET_REGISTRATION
        return task

    async def _register_on_platform(self) -> None:
        """Register each asset once (the asset id is the idempotency key); a rejection waits for the county."""
        for handed in self._board.adopted(TaskKind.PLATFORM_REJECTED):
            await self._board.closed(handed)  # a refusal handed over: the county retries it first
        for asset_id in list(self._registered):
            while True:
                try:
                    await workflow.execute_activity_method(
                        PlatformActivities.register_asset,
                        RegisterAssetInput(asset_id=asset_id, project_code=self._start.code, at=workflow.now()),
                        start_to_close_timeout=timedelta(minutes=2),
                        heartbeat_timeout=HEARTBEAT,
                        retry_policy=PLATFORM_RETRY,
                    )
                    break
                except ActivityError as err:
                    task = await self._open(
                        TaskKind.PLATFORM_REJECTED,
                        Role.COUNTY_REVIEWER.value,
                        (Decision.RETRY,),
                        details={"asset_id": asset_id, "error": str(err.cause or err)},
                    )
                    await self._board.closed(task)

    # ---------------------------------------------------------------- decisions

    def _consequence(self, task: OpenedTask, inp: SubmitDecisionInput) -> tuple[Stage, dict[str, Any]]:
        details: dict[str, Any] = {"round": self._round}
        if inp.attachments:
            details["attachments"] = list(inp.attachments)
        if task.kind == TaskKind.OBJECTION:
            return self._notices.consequence(task, inp, details), details
        return Stage.ASSET_REGISTRATION, details

    def _after(self, task: OpenedTask, inp: SubmitDecisionInput, to: Stage) -> None:
        if task.kind == TaskKind.OBJECTION:
            self._notices.resolved(task, inp)
        self._opinions.append(Opinion(self._round, task.kind, inp.decision, inp.opinion, inp.actor.username))
        self._stage = to

    # ---------------------------------------------------------------- Updates

    @workflow.update(name=UpdateName.SUBMIT_DECISION)
    async def submit_decision(self, inp: SubmitDecisionInput) -> DecisionResult:
        """The county confirms or returns the registration, retries a platform refusal, resolves an objection."""
        return await self._board.decide(inp, self._consequence, self._after)

    @submit_decision.validator
    def _validate_decision(self, inp: SubmitDecisionInput) -> None:
        refuse(self._board.decision_refusal(inp))

    def _registration_refusal(self, inp: RegisterAssetsInput) -> Refusal | None:
        return self._board.applicant_refusal(
            inp.task_id, inp.actor, TaskKind.ASSET_REGISTRATION, "its asset registration"
        )

    @workflow.update(name=UpdateName.REGISTER_ASSETS)
    async def register_assets(self, inp: RegisterAssetsInput) -> DecisionResult:
        """The applicant registers the assets the project produced; the county confirms next."""
        board = self._board
        await board.ready(inp.task_id)
        async with board.lock:
            refuse(self._registration_refusal(inp))
            task = board.tasks[inp.task_id]
            asset_ids = [str(workflow.uuid4()) for _ in inp.assets]
            await self._steps.store(
                ConstructionActivities.record_registration,
                RecordRegistrationInput(
                    task_id=task.task_id,
                    project_code=self._start.code,
                    actor=inp.actor,
                    assets=inp.assets,
                    asset_ids=asset_ids,
                    at=workflow.now(),
                ),
                "the registration",
            )
            # household assets belong to their household and need no platform card
            self._registered = [
                i for i, a in zip(asset_ids, inp.assets, strict=True) if a.get("asset_class") != "household"
            ]
            board.close(task, Outcome(Decision.REGISTER.value, Stage.ASSET_REGISTRATION, inp.actor.user_id))
            return DecisionResult(task_id=task.task_id, decision=Decision.REGISTER.value, stage=self._stage.value)

    @register_assets.validator
    def _validate_registration(self, inp: RegisterAssetsInput) -> None:
        refuse(self._registration_refusal(inp))

    @workflow.update(name=UpdateName.FILE_OBJECTION)
    async def file_objection(self, inp: ObjectionInput) -> ObjectionResult:
        """Anyone of the region files an objection during the registration notice."""
        return await self._notices.file(inp, self._round)

    @file_objection.validator
    def _validate_objection(self, inp: ObjectionInput) -> None:
        refuse(self._notices.refusal(inp))

    @workflow.update(name=UpdateName.CLAIM_TASK)
    async def claim_task(self, inp: ClaimInput) -> TaskChange:
        """Take a group task (others see it is taken) or release it."""
        return await self._board.claim(inp)

    @claim_task.validator
    def _validate_claim(self, inp: ClaimInput) -> None:
        refuse(self._board.claim_refusal(inp))

    @workflow.update(name=UpdateName.REASSIGN_TASK)
    async def reassign_task(self, inp: ReassignInput) -> TaskChange:
        """A county supervisor or an admin gives a task to another eligible user, with a reason."""
        return (await self._board.reassign(inp))[1]

    @reassign_task.validator
    def _validate_reassign(self, inp: ReassignInput) -> None:
        refuse(self._board.reassign_refusal(inp))

    @workflow.update(name=UpdateName.RETRY_BLOCKED)
    def retry_blocked(self, inp: RetryInput) -> str:
        """An operator retries the step the project is blocked on (after fixing its cause)."""
        return self._steps.retry()

    @retry_blocked.validator
    def _validate_retry(self, inp: RetryInput) -> None:
        refuse(self._steps.retry_refusal(inp))

    @workflow.query
    def get_status(self) -> ProjectStatus:
        """This phase's view: stage, open tasks, blocked step."""
        ends = self._notices.ends if self._notices.notice_id else None
        return self._board.status(self._stage, self._round, self._revisions, ends)
