"""ApprovalWorkflow, id `project-{code}-approval-{n}`: the "two libraries, three reviews" (两库三审).

Township review → expert panel → county approval → city filing → approval notice (公示) with objections;
a return sends the application back to its applicant for a revision round (up to the configured limit).
It ends when the notice closes without an upheld objection (→ construction) or the project is rejected.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from temporalio import workflow

from domain.enums import Decision, Phase, Role, Stage, TaskKind, UpdateName
from domain.experts import ExpertScore, panel_verdict
from domain.lifecycle import (
    EXPERT_DECISIONS,
    LIBRARY_DECISIONS,
    REVIEW_DECISIONS,
    REVIEW_TASK,
    REVISION_DECISIONS,
    revision_limit_reached,
    stage_after,
)
from domain.payloads import (
    ClaimInput,
    DecisionResult,
    DrawPanelInput,
    DrawResult,
    ObjectionInput,
    ObjectionResult,
    OpenedTask,
    PanelSeat,
    PanelVerdictInput,
    PhaseEntry,
    ProjectStatus,
    ReassignInput,
    RecordRevisionInput,
    RetryInput,
    RevisionInput,
    SubmitDecisionInput,
    TaskChange,
)
from domain.phases import Opinion, PhaseInput, PhaseResult, PhaseResume
from domain.task_rules import Refusal
from workflows.notices import Notices
from workflows.steps import Steps, refuse
from workflows.tasks import Outcome, TaskBoard

with workflow.unsafe.imports_passed_through():
    from activities.projects import ProjectActivities
    from activities.reviews import ReviewActivities

CHAIN = (Stage.TOWNSHIP_REVIEW, Stage.EXPERT_REVIEW, Stage.COUNTY_APPROVAL, Stage.CITY_FILING)


@workflow.defn
class ApprovalWorkflow:
    """Carries one project's application through its reviews and the approval notice."""

    @workflow.init
    def __init__(self, inp: PhaseInput) -> None:
        self._start = inp.start
        self._steps = Steps(inp.start)
        self._board = TaskBoard(inp.start, self._steps, inp.deciders)
        self._notices = Notices(self._board)
        self._stage = inp.resume.stage if inp.resume else Stage.APPLICATION
        self._round = inp.round
        self._revisions = inp.revisions
        self._opinions = list(inp.opinions)
        # the expert panel of the current round: task id → seat, and the scores given
        self._seats: dict[str, PanelSeat] = {}
        self._scores: dict[str, ExpertScore] = {}
        self._draws = 0

    @workflow.run
    async def run(self, inp: PhaseInput) -> PhaseResult:
        """Review, revise and notice until the project is approved into construction or rejected."""
        await self._steps.step(
            ProjectActivities.enter_phase,
            PhaseEntry(project_code=self._start.code, phase=Phase.APPROVAL.value, stage="", at=workflow.now()),
        )
        resume = inp.resume
        if resume is not None:
            self._take_over(resume)
            await self._board.adopt(resume.tasks)
        end = await self._approval(resume)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return PhaseResult(
            stage=end,
            round=self._round,
            revisions=self._revisions,
            deciders=self._board.deciders,
            opinions=self._opinions,
        )

    def _take_over(self, resume: PhaseResume) -> None:
        """The expert panel of a handed-over round: the seats still open and the scores already given."""
        self._draws = resume.draws
        for task in resume.tasks:
            if task.kind == TaskKind.EXPERT_REVIEW:
                self._seats[task.task_id] = PanelSeat(
                    int(task.details.get("expert_id", 0)),
                    task.assignee_id or 0,
                    str(task.details.get("expert_name", "")),
                )
        for s in resume.scores:
            self._seats[s.task_id] = PanelSeat(s.expert_id, s.user_id, "")
            self._scores[s.task_id] = ExpertScore(s.expert_id, dict(s.scores), list(s.vetoes), s.opinion)
            self._board.outcomes[s.task_id] = Outcome(Decision.SCORE.value, Stage.EXPERT_REVIEW, s.user_id, s.opinion)

    async def _approval(self, resume: PhaseResume | None) -> Stage:
        at = resume.stage if resume else Stage.TOWNSHIP_REVIEW
        notice = resume.notice if resume else None
        note: dict[str, Any] = {}
        while True:
            outcome: Stage = at
            if at not in (Stage.APPROVAL_NOTICE, Stage.RETURNED):
                outcome = await self._review_chain(at if at in CHAIN else Stage.TOWNSHIP_REVIEW, note)
            at, note = Stage.TOWNSHIP_REVIEW, {}
            if outcome is Stage.REJECTED:
                return Stage.REJECTED
            if outcome is Stage.RETURNED:
                await self._revision()
                continue
            upheld = await self._notices.run(
                "approval", Stage.APPROVAL_NOTICE, Stage.TOWNSHIP_REVIEW, self._round, resume=notice
            )
            notice = None
            if upheld is None:
                return Stage.CONSTRUCTION
            self._round += 1
            note = {"objection": upheld}

    async def _review_chain(self, first: Stage, note: dict[str, Any]) -> Stage:
        for stage in CHAIN[CHAIN.index(first) :]:
            outcome = await (self._expert_panel() if stage is Stage.EXPERT_REVIEW else self._review(stage, note))
            note = {}
            if outcome in (Stage.RETURNED, Stage.REJECTED):
                return outcome
        return Stage.APPROVAL_NOTICE

    async def _open(
        self,
        kind: TaskKind,
        stage: Stage,
        role: str,
        region: str,
        decisions: tuple[Decision, ...],
        *,
        assignee_id: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> OpenedTask:
        task = await self._board.open(
            self._board.task_input(
                kind, stage, role, region, decisions, self._round, assignee_id=assignee_id, details=details
            )
        )
        self._stage = stage
        return task

    def _earlier(self) -> list[dict[str, Any]]:
        return [o.as_detail() for o in self._opinions]

    async def _review(self, stage: Stage, note: dict[str, Any]) -> Stage:
        kind, role = REVIEW_TASK[stage]
        region = {
            Stage.TOWNSHIP_REVIEW: self._start.township_code,
            Stage.COUNTY_APPROVAL: self._start.county_code,
            Stage.CITY_FILING: self._start.city_code,
        }[stage]
        details: dict[str, Any] = {"earlier_opinions": self._earlier(), **note}
        task = await self._open(kind, stage, role.value, region, REVIEW_DECISIONS, details=details)
        return (await self._board.closed(task)).to_stage

    # ---------------------------------------------------------------- the expert panel (专家论证)

    async def _expert_panel(self) -> Stage:
        cfg = self._start.config
        board = self._board
        drawn = [seat.expert_id for seat in self._seats.values()]
        self._stage = Stage.EXPERT_REVIEW
        while True:
            seated = [t for t in self._seats if t not in board.outcomes or t in self._scores]
            missing = cfg.panel_size - len(seated)
            if missing > 0:
                self._draws += 1
                result = await self._draw(missing, drawn)
                for seat in result.chosen:
                    drawn.append(seat.expert_id)
                    await self._open_seat(seat)
                if result.shortfall > 0:
                    await self._extend_library(result)
                    continue
            waiting = {t for t in self._seats if t not in board.outcomes}
            if not waiting:
                break
            await workflow.wait_condition(partial(board.any_decided, waiting))
            decided = [t for t in waiting if t in board.outcomes]
            if any(board.outcomes[t].to_stage is not Stage.EXPERT_REVIEW for t in decided):
                break
        verdict = panel_verdict(list(self._scores.values()), cfg.pass_mark)
        await self._steps.step(
            ReviewActivities.record_panel_verdict,
            PanelVerdictInput(
                project_code=self._start.code,
                round=self._round,
                passed=verdict.passed,
                average_total=verdict.average_total,
                reason=verdict.reason,
                scores=[
                    {
                        "expert_id": s.expert_id,
                        "scores": s.scores,
                        "total": s.total,
                        "veto": s.vetoes,
                        "opinion": s.opinion,
                    }
                    for s in self._scores.values()
                ],
                at=workflow.now(),
            ),
        )
        # the next round draws a new panel
        self._seats, self._scores, self._draws = {}, {}, 0
        return self._stage

    async def _draw(self, seats: int, drawn: list[int]) -> DrawResult:
        s = self._start
        excluded = sorted(
            {u for stage, users in self._board.deciders.items() if stage != Stage.EXPERT_REVIEW for u in users}
        )
        return await self._steps.step(
            ReviewActivities.draw_panel,
            DrawPanelInput(
                draw_key=f"{s.code}:r{self._round}:d{self._draws}",
                project_code=s.code,
                round=self._round,
                seats=seats,
                seed=workflow.random().getrandbits(63),
                city_code=s.city_code,
                township_code=s.township_code,
                project_type=s.project_type,
                implementing_entity=s.implementing_entity,
                at=workflow.now(),
                already_drawn=list(drawn),
                excluded_users=[*excluded, s.applicant_id],
            ),
        )

    async def _open_seat(self, seat: PanelSeat) -> None:
        details: dict[str, Any] = {
            "expert_id": seat.expert_id,
            "expert_name": seat.name,
            "earlier_opinions": self._earlier(),
        }
        task = await self._board.open(
            self._board.task_input(
                TaskKind.EXPERT_REVIEW,
                Stage.EXPERT_REVIEW,
                Role.EXPERT.value,
                self._start.city_code,
                EXPERT_DECISIONS,
                self._round,
                assignee_id=seat.user_id,
                details=details,
            )
        )
        self._seats[task.task_id] = seat

    async def _extend_library(self, result: DrawResult) -> None:
        """Too few eligible experts: the county extends the library, then the draw is repeated."""
        details = {
            "shortfall": result.shortfall,
            "pool_size": result.pool_size,
            "excluded": result.excluded,
            "project_type": self._start.project_type,
            "draw": self._draws,
        }
        task = await self._open(
            TaskKind.EXTEND_EXPERT_LIBRARY,
            Stage.EXPERT_REVIEW,
            Role.COUNTY_REVIEWER.value,
            self._start.county_code,
            LIBRARY_DECISIONS,
            details=details,
        )
        await self._board.closed(task)

    # ---------------------------------------------------------------- revision (退回修改)

    async def _revision(self) -> None:
        details = {"opinions": [o.as_detail() for o in self._opinions if o.round == self._round]}
        task = await self._open(
            TaskKind.REVISION,
            Stage.RETURNED,
            Role.PROJECT_MANAGER.value,
            self._start.village_code,
            REVISION_DECISIONS,
            assignee_id=self._start.applicant_id,
            details=details,
        )
        await self._board.closed(task)
        self._revisions += 1
        self._round += 1

    # ---------------------------------------------------------------- decisions

    def _consequence(self, task: OpenedTask, inp: SubmitDecisionInput) -> tuple[Stage, dict[str, Any]]:
        """Where this decision sends the project, and what the record of it carries."""
        decision = Decision(inp.decision)
        details: dict[str, Any] = {"round": self._round}
        if inp.attachments:
            details["attachments"] = list(inp.attachments)
        if task.kind == TaskKind.EXPERT_REVIEW:
            details.update(expert_id=task.details.get("expert_id"))
            if decision is Decision.DECLINE:
                return Stage.EXPERT_REVIEW, details
            details.update(scores=dict(inp.scores), veto=list(inp.veto), veto_other=inp.veto_other)
            scored = [*self._scores.values(), self._expert_score(task, inp)]
            if len(scored) < self._start.config.panel_size:
                return Stage.EXPERT_REVIEW, details
            verdict = panel_verdict(scored, self._start.config.pass_mark)
            details["panel"] = {"passed": verdict.passed, "average_total": verdict.average_total}
            if verdict.passed:
                return Stage.COUNTY_APPROVAL, details
            return self._returned(details, verdict.reason)
        if task.kind == TaskKind.OBJECTION:
            return self._notices.consequence(task, inp, details), details
        if task.kind == TaskKind.EXTEND_EXPERT_LIBRARY:
            return Stage.EXPERT_REVIEW, details
        to_stage = stage_after(Stage(task.stage), decision)
        if to_stage is Stage.RETURNED:
            return self._returned(details, inp.opinion)
        return to_stage, details

    def _returned(self, details: dict[str, Any], reason: str) -> tuple[Stage, dict[str, Any]]:
        limit = self._start.config.revision_limit
        if revision_limit_reached(self._revisions, limit):
            details["rejected_because"] = (
                f"returned again after {self._revisions} revision round(s); the limit is {limit}: {reason}"
            )
            return Stage.REJECTED, details
        details["return_reason"] = reason
        return Stage.RETURNED, details

    @staticmethod
    def _expert_score(task: OpenedTask, inp: SubmitDecisionInput) -> ExpertScore:
        return ExpertScore(int(task.details.get("expert_id", 0)), dict(inp.scores), list(inp.veto), inp.opinion)

    def _after(self, task: OpenedTask, inp: SubmitDecisionInput, to: Stage) -> None:
        opinion = Opinion(self._round, task.kind, inp.decision, inp.opinion, inp.actor.username)
        if task.kind == TaskKind.EXPERT_REVIEW:
            if inp.decision == Decision.SCORE:
                self._scores[task.task_id] = self._expert_score(task, inp)
            if to is not Stage.EXPERT_REVIEW:  # the panel is complete: its opinions become visible
                self._opinions.extend(
                    Opinion(self._round, task.kind, Decision.SCORE.value, s.opinion) for s in self._scores.values()
                )
        elif task.kind == TaskKind.OBJECTION:
            self._notices.resolved(task, inp)
            self._opinions.append(opinion)
        elif task.kind != TaskKind.EXTEND_EXPERT_LIBRARY:
            self._opinions.append(opinion)
        self._stage = to

    # ---------------------------------------------------------------- Updates

    @workflow.update(name=UpdateName.SUBMIT_DECISION)
    async def submit_decision(self, inp: SubmitDecisionInput) -> DecisionResult:
        """A reviewer, an expert or the county decides an open task; the project moves on once it is stored."""
        return await self._board.decide(inp, self._consequence, self._after)

    @submit_decision.validator
    def _validate_decision(self, inp: SubmitDecisionInput) -> None:
        refuse(self._board.decision_refusal(inp))

    @workflow.update(name=UpdateName.REVISE_APPLICATION)
    async def revise_application(self, inp: RevisionInput) -> DecisionResult:
        """The applicant resubmits a returned application; the chain starts again at the township."""
        board = self._board
        await board.ready(inp.task_id)
        async with board.lock:
            refuse(self._revision_refusal(inp))
            task = board.tasks[inp.task_id]
            await self._steps.store(
                ReviewActivities.record_revision,
                RecordRevisionInput(
                    task_id=task.task_id,
                    project_code=self._start.code,
                    round=self._round + 1,
                    actor=inp.actor,
                    application=inp.application,
                    next_stage=Stage.TOWNSHIP_REVIEW.value,
                    at=workflow.now(),
                ),
                "the revision",
            )
            board.close(task, Outcome(Decision.RESUBMIT.value, Stage.TOWNSHIP_REVIEW, inp.actor.user_id))
            self._stage = Stage.TOWNSHIP_REVIEW
            return DecisionResult(task_id=task.task_id, decision=Decision.RESUBMIT.value, stage=self._stage.value)

    def _revision_refusal(self, inp: RevisionInput) -> Refusal | None:
        return self._board.applicant_refusal(inp.task_id, inp.actor, TaskKind.REVISION, "a revision")

    @revise_application.validator
    def _validate_revision(self, inp: RevisionInput) -> None:
        refuse(self._revision_refusal(inp))

    @workflow.update(name=UpdateName.FILE_OBJECTION)
    async def file_objection(self, inp: ObjectionInput) -> ObjectionResult:
        """Anyone of the region files an objection during the notice; the county must resolve it."""
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

    def _panel(self) -> list[int]:
        return [seat.user_id for seat in self._seats.values()]

    @workflow.update(name=UpdateName.REASSIGN_TASK)
    async def reassign_task(self, inp: ReassignInput) -> TaskChange:
        """A county supervisor or an admin gives a task to another eligible user, with a reason."""
        moved, change = await self._board.reassign(inp, self._panel())
        if moved.task_id in self._seats:
            seat = self._seats[moved.task_id]
            self._seats[moved.task_id] = PanelSeat(
                inp.expert_id or seat.expert_id, inp.to.user_id, inp.to.username, seat.affiliation
            )
        return change

    @reassign_task.validator
    def _validate_reassign(self, inp: ReassignInput) -> None:
        refuse(self._board.reassign_refusal(inp, self._panel()))

    @workflow.update(name=UpdateName.RETRY_BLOCKED)
    def retry_blocked(self, inp: RetryInput) -> str:
        """An operator retries the step the project is blocked on (after fixing its cause)."""
        return self._steps.retry()

    @retry_blocked.validator
    def _validate_retry(self, inp: RetryInput) -> None:
        refuse(self._steps.retry_refusal(inp))

    @workflow.query
    def get_status(self) -> ProjectStatus:
        """This phase's view: stage, open tasks, who decided which level."""
        ends = self._notices.ends if self._notices.notice_id else None
        return self._board.status(self._stage, self._round, self._revisions, ends)
