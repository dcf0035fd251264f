"""ConstructionWorkflow, id `project-{code}-construction-{n}`: building, completion and acceptance.

Every Monday 09:00 (Asia/Shanghai) the construction colour is recomputed and an unreported week reminded;
the applicant reports progress and completion (竣工); the county accepts or lists what to rectify (back to
construction); the acceptance is noticed with objections. Years of weekly checks stay small: the run
continues as new whenever its history grows past HISTORY_LIMIT events, carrying one small state.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from typing import Any

from temporalio import workflow

from domain.enums import Decision, Phase, Role, Stage, TaskKind, UpdateName
from domain.failures import DecisionRefused
from domain.lifecycle import ACCEPTANCE_DECISIONS
from domain.payloads import (
    Actor,
    ClaimInput,
    CompletionInput,
    ConstructionCheckInput,
    DecisionResult,
    ObjectionInput,
    ObjectionResult,
    OpenedTask,
    PhaseEntry,
    ProgressInput,
    ProjectStatus,
    ReassignInput,
    RecordCompletionInput,
    RecordProgressInput,
    RetryInput,
    SubmitDecisionInput,
    TaskChange,
)
from domain.phases import CompletionFacts, NoticeState, Opinion, PhaseInput, PhaseResult, PhaseResume
from domain.task_rules import Refusal
from workflows.notices import Notices
from workflows.steps import Steps, refuse
from workflows.tasks import TaskBoard

with workflow.unsafe.imports_passed_through():
    from activities.construction import ConstructionActivities
    from activities.projects import ProjectActivities

CHINA = timezone(timedelta(hours=8))  # Asia/Shanghai has no daylight saving: a fixed offset needs no tz files
WEEKLY_CHECK_HOUR = 9
# A run continues as new past this many events (a weekly check costs about eleven): well under Temporal's
# warning at 10,240, and a replay of the run stays fast.
HISTORY_LIMIT = 1000


def next_weekly_check(now: datetime) -> datetime:
    """The next Monday 09:00 in China after `now`."""
    local = now.astimezone(CHINA)
    monday = local.date() - timedelta(days=local.weekday())
    check = datetime(monday.year, monday.month, monday.day, WEEKLY_CHECK_HOUR, tzinfo=CHINA)
    return check if check > local else check + timedelta(days=7)


@workflow.defn
class ConstructionWorkflow:
    """Carries one project from the start of construction to an accepted, noticed completion."""

    @workflow.init
    def __init__(self, inp: PhaseInput) -> None:
        self._start = inp.start
        self._steps = Steps(inp.start)
        self._board = TaskBoard(inp.start, self._steps, inp.deciders)
        self._notices = Notices(self._board)
        resume = inp.resume
        self._stage = resume.stage if resume else Stage.CONSTRUCTION
        self._round = inp.round
        self._revisions = inp.revisions
        self._opinions = list(inp.opinions)
        self._last_percent = resume.last_percent if resume else 0
        self._completion: CompletionFacts | None = resume.completion if resume else None

    @workflow.run
    async def run(self, inp: PhaseInput) -> PhaseResult:
        """Build, complete, be accepted and noticed; the project goes on to asset registration."""
        resume = inp.resume
        await self._steps.step(
            ProjectActivities.enter_phase,
            PhaseEntry(
                project_code=self._start.code,
                phase=Phase.CONSTRUCTION.value,
                # a resumed run (hand-over, continue-as-new) leaves the stage as it is
                stage="" if resume else Stage.CONSTRUCTION.value,
                at=workflow.now(),
                reason="approval notice ended without an upheld objection",
            ),
        )
        if resume is not None:
            await self._board.adopt(resume.tasks)
        notice = resume.notice if resume else None
        while True:
            if notice is None and self._completion is None:
                await self._construction(inp)
            accepted = await self._acceptance(notice)
            notice = None
            if accepted:
                break
        await workflow.wait_condition(workflow.all_handlers_finished)
        return PhaseResult(
            stage=Stage.ASSET_REGISTRATION,
            round=self._round,
            revisions=self._revisions,
            deciders=self._board.deciders,
            opinions=self._opinions,
        )

    async def _construction(self, inp: PhaseInput) -> None:
        """Until the completion report arrives: every Monday recompute the colour and remind of a missing report."""
        self._stage = Stage.CONSTRUCTION
        while self._completion is None:
            delay = (next_weekly_check(workflow.now()) - workflow.now()).total_seconds()
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self._completion is not None, timeout=delay)
            if self._completion is not None:
                return
            s = self._start
            await self._steps.step(
                ConstructionActivities.check_construction,
                ConstructionCheckInput(
                    project_code=s.code,
                    at=workflow.now(),
                    config=s.config,
                    applicant_id=s.applicant_id,
                    village_code=s.village_code,
                    reminder_task_id=str(workflow.uuid4()),
                ),
            )
            self._continue_if_long(inp)

    def _continue_if_long(self, inp: PhaseInput) -> None:
        """Between two weekly checks, with no Update in flight, a long run continues as new."""
        info = workflow.info()
        long = info.is_continue_as_new_suggested() or info.get_current_history_length() > HISTORY_LIMIT
        if long and workflow.all_handlers_finished() and not self._board.tasks and self._completion is None:
            workflow.continue_as_new(
                PhaseInput(
                    start=self._start,
                    round=self._round,
                    revisions=self._revisions,
                    deciders=self._board.deciders,
                    opinions=self._opinions,
                    resume=PhaseResume(stage=Stage.CONSTRUCTION, last_percent=self._last_percent),
                )
            )

    async def _acceptance(self, notice_resume: NoticeState | None) -> bool:
        """The county accepts (then the acceptance is noticed) or lists what to rectify (back to construction)."""
        notice = notice_resume
        while True:
            if notice is None:
                completion = self._completion
                task = await self._open_acceptance(completion)
                outcome = await self._board.closed(task)
                if outcome.decision == Decision.RECTIFY:
                    self._completion = None
                    return False
            upheld = await self._notices.run(
                "acceptance", Stage.ACCEPTANCE, Stage.ACCEPTANCE, self._round, resume=notice
            )
            notice = None
            if upheld is None:
                return True
            self._round += 1

    async def _open_acceptance(self, completion: CompletionFacts | None) -> OpenedTask:
        facts = asdict(completion) if completion else {}
        task = await self._board.open(
            self._board.task_input(
                TaskKind.ACCEPTANCE,
                Stage.ACCEPTANCE,
                Role.COUNTY_REVIEWER.value,
                self._start.county_code,
                ACCEPTANCE_DECISIONS,
                self._round,
                details={
                    **facts,
                    "earlier_opinions": [o.as_detail() for o in self._opinions],
                },
            )
        )
        self._stage = Stage.ACCEPTANCE
        return task

    # ---------------------------------------------------------------- decisions

    def _consequence(self, task: OpenedTask, inp: SubmitDecisionInput) -> tuple[Stage, dict[str, Any]]:
        details: dict[str, Any] = {"round": self._round}
        if inp.attachments:
            details["attachments"] = list(inp.attachments)
        if task.kind == TaskKind.OBJECTION:
            return self._notices.consequence(task, inp, details), details
        details["completion_id"] = task.details.get("completion_id")
        if inp.decision == Decision.RECTIFY:
            details["rectify_items"] = list(inp.items)
            return Stage.CONSTRUCTION, details
        return Stage.ACCEPTANCE, details

    def _after(self, task: OpenedTask, inp: SubmitDecisionInput, to: Stage) -> None:
        if task.kind == TaskKind.OBJECTION:
            self._notices.resolved(task, inp)
        self._opinions.append(Opinion(self._round, task.kind, inp.decision, inp.opinion, inp.actor.username))
        self._stage = to

    # ---------------------------------------------------------------- Updates

    @workflow.update(name=UpdateName.SUBMIT_DECISION)
    async def submit_decision(self, inp: SubmitDecisionInput) -> DecisionResult:
        """The county accepts or lists what to rectify, or resolves an objection to the acceptance."""
        return await self._board.decide(inp, self._consequence, self._after)

    @submit_decision.validator
    def _validate_decision(self, inp: SubmitDecisionInput) -> None:
        refuse(self._board.decision_refusal(inp))

    def _building_refusal(self, actor: Actor, what: str) -> Refusal | None:
        if self._stage is not Stage.CONSTRUCTION or self._completion is not None:
            return Refusal(
                DecisionRefused.WRONG_STAGE, f"the project is at {self._stage.value}, not under construction"
            )
        if actor.user_id != self._start.applicant_id:
            return Refusal(DecisionRefused.NOT_ELIGIBLE, f"only the project's manager (applicant) reports {what}")
        return None

    def _progress_refusal(self, inp: ProgressInput) -> Refusal | None:
        if refusal := self._building_refusal(inp.actor, "its progress"):
            return refusal
        if inp.percent < self._last_percent:
            return Refusal(DecisionRefused.WRONG_STAGE, f"percent may not fall below {self._last_percent}")
        return None

    @workflow.update(name=UpdateName.REPORT_PROGRESS)
    async def report_progress(self, inp: ProgressInput) -> DecisionResult:
        """The applicant reports the week's progress; the colour of the construction archive follows."""
        async with self._board.lock:
            refuse(self._progress_refusal(inp))
            colour = await self._steps.store(
                ConstructionActivities.record_progress,
                RecordProgressInput(
                    project_code=self._start.code, report=inp, at=workflow.now(), config=self._start.config
                ),
                "the report",
            )
            self._last_percent = max(self._last_percent, inp.percent)
            return DecisionResult(task_id="", decision=colour, stage=self._stage.value)

    @report_progress.validator
    def _validate_progress(self, inp: ProgressInput) -> None:
        refuse(self._progress_refusal(inp))

    @workflow.update(name=UpdateName.REPORT_COMPLETION)
    async def report_completion(self, inp: CompletionInput) -> DecisionResult:
        """The applicant reports completion (竣工): the county's acceptance task opens."""
        async with self._board.lock:
            refuse(self._building_refusal(inp.actor, "completion"))
            completion_id = str(workflow.uuid4())
            await self._steps.store(
                ConstructionActivities.record_completion,
                RecordCompletionInput(
                    completion_id=completion_id, project_code=self._start.code, completion=inp, at=workflow.now()
                ),
                "the completion",
            )
            self._completion = CompletionFacts(
                completion_id, inp.final_cost_fen, inp.completion_date, list(inp.documents), inp.note
            )
            self._stage = Stage.ACCEPTANCE
            return DecisionResult(task_id=completion_id, decision="completed", stage=self._stage.value)

    @report_completion.validator
    def _validate_completion(self, inp: CompletionInput) -> None:
        refuse(self._building_refusal(inp.actor, "completion"))

    @workflow.update(name=UpdateName.FILE_OBJECTION)
    async def file_objection(self, inp: ObjectionInput) -> ObjectionResult:
        """Anyone of the region files an objection during the acceptance notice."""
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
