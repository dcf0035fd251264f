"""ProjectLifecycleWorkflow: one per project (`project-{code}`), from application to its end — FROZEN.

Projects now start as ProjectWorkflow (workflows/project.py) with one child workflow per phase. This class
stays, unchanged in its command sequence, so that every recorded history replays and every running execution
goes on; `hand_over` (behind HAND_OVER_PATCH) continues a running execution as a ProjectWorkflow.

Human steps are tasks: an activity records the task in the read model, the workflow waits, and the
decision arrives as an Update whose validator refuses a stale, foreign or forbidden decision before
anything reaches history. Every open task has a deadline watcher: a reminder at its due time, an
escalation at twice its limit (working days, computed by the activity from the holiday calendar).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

from domain.enums import Decision, Phase, RegionLevel, Role, Stage, TaskKind
from domain.experts import ExpertScore, panel_verdict, score_problem
from domain.failures import STORE_FAILED, UNSTORABLE, DecisionRefused
from domain.lifecycle import (
    ACCEPTANCE_DECISIONS,
    CONFIRM_DECISIONS,
    EXPERT_DECISIONS,
    LIBRARY_DECISIONS,
    NOT_A_LEVEL,
    NOTICE_LEVELS,
    OBJECTION_DECISIONS,
    OPINION_REQUIRED,
    REGISTRATION_DECISIONS,
    REVIEW_DECISIONS,
    REVIEW_TASK,
    REVISION_DECISIONS,
    may_intervene,
    revision_limit_reached,
    stage_after,
)
from domain.payloads import (
    Actor,
    BlockedStep,
    CancelTasksInput,
    ClaimInput,
    CloseNoticeInput,
    CompletionInput,
    ConstructionCheckInput,
    DeadlineEvent,
    DecisionResult,
    DrawPanelInput,
    DrawResult,
    NoticeInput,
    ObjectionInput,
    ObjectionResult,
    OpenedTask,
    OpenTaskInput,
    PanelSeat,
    PanelVerdictInput,
    ProgressInput,
    ProjectStart,
    ProjectStatus,
    ReassignInput,
    RecordClaimInput,
    RecordCompletionInput,
    RecordDecisionInput,
    RecordObjectionInput,
    RecordProgressInput,
    RecordReassignInput,
    RecordRegistrationInput,
    RecordRevisionInput,
    RegisterAssetsInput,
    RetryInput,
    RevisionInput,
    StageChange,
    SubmitDecisionInput,
    TaskChange,
)
from domain.phases import CarriedScore, CompletionFacts, NoticeState, Opinion, PhaseResume, ProjectState
from domain.platform_payloads import RegisterAssetInput
from domain.regions import covers
from workflows.steps import STORE_HEARTBEAT

with workflow.unsafe.imports_passed_through():
    from activities.construction import ConstructionActivities
    from activities.platform import PlatformActivities
    from activities.projects import ProjectActivities
    from activities.reviews import ReviewActivities

# One transaction. Every activity heartbeats while it runs (the worker's HeartbeatInterceptor), so a killed
# worker's attempt is retried by another once its heartbeat timeout passes, while a slow one under load is not
# duplicated. Its short store and step activities use STORE_HEARTBEAT (see workflows/steps.py), the platform's
# registration HEARTBEAT.
DB_TIMEOUT = timedelta(seconds=60)
HEARTBEAT = timedelta(seconds=5)
# A database outage must not lose a step: retry until it is back, backing off to a minute.
DB_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
# A step of the run loop that fails for this long (or permanently) marks the project blocked: an operator
# sees what it waits for and retries it; a transient outage is retried again on its own after BLOCKED_RETRY.
STEP_BUDGET = timedelta(minutes=5)
BLOCKED_RETRY = timedelta(minutes=15)
# Inside an Update the caller waits: a store that cannot finish in its budget (config.store_budget_seconds) is
# answered (503) and the workflow's lock released, never retried for ever while later Updates queue behind it.
STORE_BUDGET = timedelta(seconds=20)
STORE_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=500), maximum_interval=timedelta(seconds=4))
A = TypeVar("A")
R = TypeVar("R")
TERMINAL = frozenset({Stage.REJECTED, Stage.CLOSED})
# Executions started before the approval chain existed keep their recorded command sequence.
APPROVAL_CHAIN_PATCH = "approval-chain-v1"
# Executions that entered construction before construction, acceptance and registration existed wait as before.
CONSTRUCTION_PATCH = "construction-v1"
# Running executions continue as a ProjectWorkflow when signalled `hand_over` (cli: assetflow hand-over).
HAND_OVER_PATCH = "hand-over-v1"
PROJECT_WORKFLOW = "ProjectWorkflow"
HANDED_OVER_DRAWS = 100
PHASE_OF_STAGE: dict[Stage, Phase] = {
    Stage.CONSTRUCTION: Phase.CONSTRUCTION,
    Stage.ACCEPTANCE: Phase.CONSTRUCTION,
    Stage.ASSET_REGISTRATION: Phase.REGISTRATION,
    Stage.OPERATION: Phase.OPERATION,
}
CHINA = timezone(timedelta(hours=8))  # Asia/Shanghai has no daylight saving: a fixed offset needs no tz files
WEEKLY_CHECK_HOUR = 9
PLATFORM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=10)
)


@dataclass(frozen=True)
class _Refusal:
    type: str
    message: str


def _refuse(refusal: _Refusal | None) -> None:
    if refusal is not None:
        raise ApplicationError(refusal.message, type=refusal.type)


def _provisional(inp: OpenTaskInput) -> OpenedTask:
    """A task being opened, as the validators see it until its stored row comes back."""
    return OpenedTask(
        task_id=inp.task_id,
        kind=inp.kind,
        stage=inp.stage,
        candidate_role=inp.candidate_role,
        region_code=inp.region_code,
        allowed_decisions=list(inp.allowed_decisions),
        due_at=inp.opened_at,
        assignee_id=inp.assignee_id,
        details=dict(inp.details),
    )


@dataclass
class _Outcome:
    """How a task was closed: the decision as submitted and the stage it led to."""

    decision: str
    to_stage: Stage
    actor_id: int
    opinion: str = ""


@workflow.defn
class ProjectLifecycleWorkflow:
    """Carries one project through its stages."""

    @workflow.init
    def __init__(self, start: ProjectStart) -> None:
        self._start = start
        self._stage = Stage.APPLICATION
        self._tasks: dict[str, OpenedTask] = {}
        # tasks whose row is being written: known to the validators, decided once open
        self._pending: dict[str, OpenedTask] = {}
        # a run-loop step that could not be done, until it is retried
        self._blocked: BlockedStep | None = None
        self._retry_asked = False
        self._outcomes: dict[str, _Outcome] = {}
        self._deciders: dict[str, list[int]] = {}
        self._round = 1
        self._revisions = 0
        self._lock = asyncio.Lock()
        # the expert panel of the current round: task id → seat, and the scores given
        self._seats: dict[str, PanelSeat] = {}
        self._scores: dict[str, ExpertScore] = {}
        self._opinions: list[dict[str, Any]] = []
        self._notice_id: str | None = None
        self._notice_ends: datetime | None = None
        self._objection_tasks: set[str] = set()
        self._upheld: str | None = None
        self._notice_stage = Stage.APPROVAL_NOTICE
        self._upheld_to = Stage.TOWNSHIP_REVIEW
        # construction and registration
        self._last_percent = 0
        self._completion: str | None = None
        self._completion_facts: dict[str, Any] = {}
        self._registered: list[str] = []
        # set by the legacy path only (executions recorded before the approval chain)
        self._task: OpenedTask | None = None
        self._watchers: list[asyncio.Task[None]] = []
        self._busy = 0

    @workflow.run
    async def run(self, start: ProjectStart) -> str:
        """Drive the project through the approval chain and its public notice into construction."""
        if not workflow.patched(APPROVAL_CHAIN_PATCH):
            return await self._legacy_run()
        await self._approval()
        if self._stage is Stage.CONSTRUCTION and workflow.patched(CONSTRUCTION_PATCH):
            await self._construction_to_operation()
        # Operation and later stages are added by later steps; until then the project waits here.
        await workflow.wait_condition(lambda: self._stage in TERMINAL)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._stage.value

    # ---------------------------------------------------------------- the approval chain (两库三审)

    async def _approval(self) -> None:
        restart_note: dict[str, Any] = {}
        while True:
            outcome = await self._review_chain(restart_note)
            restart_note = {}
            if outcome is Stage.REJECTED:
                return
            if outcome is Stage.RETURNED:
                await self._revision()
                continue
            upheld = await self._notice()
            if upheld is None:
                break
            self._round += 1
            restart_note = {"objection": upheld}
        await self._change_stage(Stage.CONSTRUCTION, "approval notice ended without an upheld objection")

    async def _review_chain(self, note: dict[str, Any]) -> Stage:
        for stage in (Stage.TOWNSHIP_REVIEW, Stage.EXPERT_REVIEW, Stage.COUNTY_APPROVAL, Stage.CITY_FILING):
            if stage is Stage.EXPERT_REVIEW:
                outcome = await self._expert_panel()
            else:
                outcome = await self._review(stage, note)
            note = {}
            if outcome in (Stage.RETURNED, Stage.REJECTED):
                return outcome
        return Stage.APPROVAL_NOTICE

    async def _review(self, stage: Stage, note: dict[str, Any]) -> Stage:
        kind, role = REVIEW_TASK[stage]
        region = {
            Stage.TOWNSHIP_REVIEW: self._start.township_code,
            Stage.COUNTY_APPROVAL: self._start.county_code,
            Stage.CITY_FILING: self._start.city_code,
        }[stage]
        details: dict[str, Any] = {"earlier_opinions": list(self._opinions), **note}
        task = await self._open_task(kind, stage, role.value, region, REVIEW_DECISIONS, details=details)
        outcome = await self._closed(task)
        return outcome.to_stage

    async def _open_task(
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
        task = await self._open_tracked(
            self._task_input(kind, stage, role, region, decisions, assignee_id=assignee_id, details=details)
        )
        self._stage = stage
        return task

    async def _open_tracked(self, inp: OpenTaskInput) -> OpenedTask:
        """Record a task and track it. From the moment its id exists the task is pending: the inbox may show
        it before this workflow hears the activity's result, and a decision arriving then waits for it
        instead of being refused as if the task were closed."""
        self._pending[inp.task_id] = _provisional(inp)
        try:
            task = await self._step(ProjectActivities.open_task, inp)
        finally:
            self._pending.pop(inp.task_id, None)
        self._track(task)
        return task

    async def _ready(self, task_id: str) -> None:
        """Wait until a pending task is open (its row stored and its result back in this workflow)."""
        if task_id in self._pending:  # no yield otherwise: recorded histories replay command for command
            await workflow.wait_condition(lambda: task_id not in self._pending)

    def _task_input(
        self,
        kind: TaskKind,
        stage: Stage,
        role: str,
        region: str,
        decisions: tuple[Decision, ...],
        *,
        assignee_id: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> OpenTaskInput:
        return OpenTaskInput(
            task_id=str(workflow.uuid4()),
            project_code=self._start.code,
            kind=kind.value,
            stage=stage.value,
            candidate_role=role,
            region_code=region,
            allowed_decisions=[d.value for d in decisions],
            opened_at=workflow.now(),
            working_days=self._start.config.review_working_days,
            time_zone=self._start.config.time_zone,
            round=self._round,
            assignee_id=assignee_id,
            details=details or {},
        )

    def _track(self, task: OpenedTask) -> None:
        self._tasks[task.task_id] = task
        # one watcher per task; it ends when the task closes
        self._watchers = [w for w in self._watchers if not w.done()]
        self._watchers.append(asyncio.create_task(self._watch_deadline(task)))

    async def _closed(self, task: OpenedTask) -> _Outcome:
        await workflow.wait_condition(lambda: task.task_id in self._outcomes)
        return self._outcomes[task.task_id]

    async def _watch_deadline(self, task: OpenedTask) -> None:
        """Remind at the due time, escalate at twice the limit; the task keeps waiting either way."""
        for event, at in (("remind", task.due_at), ("escalate", task.escalate_at)):
            if at is None:
                return
            delay = (at - workflow.now()).total_seconds()
            if delay > 0:
                try:
                    await workflow.wait_condition(lambda: task.task_id not in self._tasks, timeout=delay)
                    return
                except TimeoutError:
                    pass
            if task.task_id not in self._tasks:
                return
            current = self._tasks[task.task_id]
            await self._step(
                ReviewActivities.notify_deadline,
                DeadlineEvent(
                    task_id=task.task_id,
                    project_code=self._start.code,
                    kind=task.kind,
                    event=event,
                    candidate_role=task.candidate_role,
                    region_code=task.region_code,
                    assignee_id=current.assignee_id,
                    at=workflow.now(),
                ),
            )

    # ---------------------------------------------------------------- the expert panel (专家论证)

    async def _expert_panel(self) -> Stage:
        cfg = self._start.config
        self._seats = {}
        self._scores = {}
        drawn: list[int] = []
        draws = 0
        self._stage = Stage.EXPERT_REVIEW
        while True:
            open_seats = [t for t in self._seats if t not in self._outcomes or t in self._scores]
            missing = cfg.panel_size - len(open_seats)
            if missing > 0:
                draws += 1
                result = await self._draw(missing, drawn, draws)
                for seat in result.chosen:
                    drawn.append(seat.expert_id)
                    await self._open_seat(seat)
                if result.shortfall > 0:
                    await self._extend_library(result, draws)
                    continue
            pending = {t for t in self._seats if t not in self._outcomes}
            if not pending:
                break
            await workflow.wait_condition(partial(self._any_decided, pending))
            decided = [t for t in pending if t in self._outcomes]
            if any(self._outcomes[t].to_stage is not Stage.EXPERT_REVIEW for t in decided):
                break
        verdict = panel_verdict(list(self._scores.values()), cfg.pass_mark)
        await self._step(
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
        return self._stage

    async def _store(self, activity_method: Callable[[Any, A], Awaitable[R]], arg: A, what: str) -> R:
        """Run the read-model activity of an Update, bounded: a failure is answered as StoreFailed (or
        Unstorable, when the database refuses the data itself) and nothing of the Update's state changes."""
        try:
            return await workflow.execute_activity_method(
                activity_method,
                arg,
                start_to_close_timeout=DB_TIMEOUT,
                heartbeat_timeout=STORE_HEARTBEAT,
                schedule_to_close_timeout=timedelta(seconds=self._start.config.store_budget_seconds),
                retry_policy=STORE_RETRY,
            )
        except ActivityError as err:
            cause = err.cause
            at = workflow.now().isoformat()
            if isinstance(cause, ApplicationError) and cause.type == UNSTORABLE:
                raise ApplicationError(f"{what} could not be stored: {cause.message}", at, type=UNSTORABLE) from err
            reason = cause.message if isinstance(cause, FailureError) else str(cause or err)
            raise ApplicationError(f"{what} could not be stored ({reason})", at, type=STORE_FAILED) from err

    async def _step(self, activity_method: Callable[[Any, A], Awaitable[R]], arg: A) -> R:
        """Run a read-model activity of the run loop. A transient outage is ridden out; a step that fails
        permanently, or for longer than STEP_BUDGET, blocks the project visibly until it is retried."""
        self._busy += 1  # counted for the hand-over, which waits for a moment with no step under way
        try:
            while True:
                try:
                    result = await workflow.execute_activity_method(
                        activity_method,
                        arg,
                        start_to_close_timeout=DB_TIMEOUT,
                        heartbeat_timeout=STORE_HEARTBEAT,
                        schedule_to_close_timeout=STEP_BUDGET,
                        retry_policy=DB_RETRY,
                    )
                except ActivityError as err:
                    await self._blocked_on(getattr(activity_method, "__name__", "step"), err)
                    continue
                if self._blocked is not None:
                    await self._mark_blocked(replace(self._blocked, cleared=True))
                    self._blocked = None
                return result
        finally:
            self._busy -= 1

    async def _blocked_on(self, step: str, err: ActivityError) -> None:
        """Say what the project waits for, then wait for an operator's retry (or, if transient, a while)."""
        cause = err.cause
        permanent = isinstance(cause, ApplicationError) and cause.non_retryable
        reason = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
        self._blocked = BlockedStep(
            project_code=self._start.code,
            step=step,
            error=reason.replace("\x00", "")[:300],
            since=workflow.now(),
            permanent=permanent,
        )
        await self._mark_blocked(self._blocked)
        self._retry_asked = False
        timeout = None if permanent else BLOCKED_RETRY.total_seconds()
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: self._retry_asked, timeout=timeout)
        self._retry_asked = False

    async def _mark_blocked(self, blocked: BlockedStep) -> None:
        # best effort: when the database itself is down the query (get_status) still tells
        with contextlib.suppress(ActivityError):
            await workflow.execute_activity_method(
                ProjectActivities.mark_blocked,
                blocked,
                start_to_close_timeout=DB_TIMEOUT,
                heartbeat_timeout=STORE_HEARTBEAT,
                schedule_to_close_timeout=STORE_BUDGET,
                retry_policy=STORE_RETRY,
            )

    def _any_decided(self, task_ids: set[str]) -> bool:
        return any(t in self._outcomes for t in task_ids)

    async def _draw(self, seats: int, drawn: list[int], n: int) -> DrawResult:
        s = self._start
        excluded = sorted({u for stage, users in self._deciders.items() if stage != Stage.EXPERT_REVIEW for u in users})
        return await self._step(
            ReviewActivities.draw_panel,
            DrawPanelInput(
                draw_key=f"{s.code}:r{self._round}:d{n}",
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
            "earlier_opinions": list(self._opinions),
        }
        task = await self._open_tracked(
            self._task_input(
                TaskKind.EXPERT_REVIEW,
                Stage.EXPERT_REVIEW,
                Role.EXPERT.value,
                self._start.city_code,
                EXPERT_DECISIONS,
                assignee_id=seat.user_id,
                details=details,
            )
        )
        self._seats[task.task_id] = seat

    async def _extend_library(self, result: DrawResult, n: int) -> None:
        """Too few eligible experts: the county extends the library, then the draw is repeated."""
        details = {
            "shortfall": result.shortfall,
            "pool_size": result.pool_size,
            "excluded": result.excluded,
            "project_type": self._start.project_type,
            "draw": n,
        }
        task = await self._open_task(
            TaskKind.EXTEND_EXPERT_LIBRARY,
            Stage.EXPERT_REVIEW,
            Role.COUNTY_REVIEWER.value,
            self._start.county_code,
            LIBRARY_DECISIONS,
            details=details,
        )
        await self._closed(task)

    # ---------------------------------------------------------------- revision (退回修改)

    async def _revision(self) -> None:
        details = {"opinions": [o for o in self._opinions if o.get("round") == self._round]}
        task = await self._open_task(
            TaskKind.REVISION,
            Stage.RETURNED,
            Role.PROJECT_MANAGER.value,
            self._start.village_code,
            REVISION_DECISIONS,
            assignee_id=self._start.applicant_id,
            details=details,
        )
        await self._closed(task)
        self._revisions += 1
        self._round += 1

    # ---------------------------------------------------------------- public notice (公示) and objections

    async def _notice(
        self, kind: str = "approval", stage: Stage = Stage.APPROVAL_NOTICE, upheld_to: Stage = Stage.TOWNSHIP_REVIEW
    ) -> str | None:
        """Run a public notice; the id of an upheld objection, or None when the notice ends clean."""
        cfg = self._start.config
        starts = workflow.now()
        ends = starts + timedelta(days=cfg.notice_days)
        notice_id = f"{self._start.code}-{kind}-r{self._round}"
        await self._step(
            ReviewActivities.open_notice,
            NoticeInput(
                notice_id=notice_id,
                project_code=self._start.code,
                kind=kind,
                levels=list(NOTICE_LEVELS),
                starts_at=starts,
                ends_at=ends,
                stage=stage.value,
            ),
        )
        self._upheld = None
        self._objection_tasks = set()
        self._notice_id, self._notice_ends = notice_id, ends
        self._notice_stage, self._upheld_to = stage, upheld_to
        self._stage = stage
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: self._upheld is not None, timeout=(ends - starts).total_seconds())
        await workflow.wait_condition(
            lambda: self._upheld is not None or not (self._objection_tasks & set(self._tasks))
        )
        upheld = self._upheld
        self._notice_id = None
        await self._step(
            ReviewActivities.close_notice,
            CloseNoticeInput(
                notice_id=notice_id,
                project_code=self._start.code,
                status="interrupted" if upheld else "completed",
                at=workflow.now(),
            ),
        )
        if upheld:
            still_open = sorted(self._objection_tasks & set(self._tasks))
            if still_open:
                await self._step(
                    ReviewActivities.cancel_tasks,
                    CancelTasksInput(
                        project_code=self._start.code,
                        task_ids=still_open,
                        reason="another objection was upheld; the project is reviewed again",
                        at=workflow.now(),
                    ),
                )
                for task_id in still_open:
                    self._tasks.pop(task_id, None)
        return upheld

    async def _change_stage(self, to: Stage, reason: str) -> None:
        await self._step(
            ProjectActivities.change_stage,
            StageChange(
                project_code=self._start.code,
                from_stage=self._stage.value,
                to_stage=to.value,
                at=workflow.now(),
                reason=reason,
            ),
        )
        self._stage = to

    # ---------------------------------------------------------------- construction, acceptance, registration

    async def _construction_to_operation(self) -> None:
        """Build (weekly check), complete, be accepted and noticed, register the assets, notice, operate."""
        while True:
            await self._construction()
            accepted = await self._acceptance()
            if accepted:
                break
        await self._registration()
        await self._change_stage(Stage.OPERATION, "asset registration noticed without an upheld objection")

    def _next_weekly_check(self) -> datetime:
        local = workflow.now().astimezone(CHINA)
        monday = local.date() - timedelta(days=local.weekday())
        check = datetime(monday.year, monday.month, monday.day, WEEKLY_CHECK_HOUR, tzinfo=CHINA)
        return check if check > local else check + timedelta(days=7)

    async def _construction(self) -> None:
        """Until the completion report arrives: every Monday recompute the colour and remind of a missing report."""
        self._completion = None
        self._stage = Stage.CONSTRUCTION
        while self._completion is None:
            delay = (self._next_weekly_check() - workflow.now()).total_seconds()
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self._completion is not None, timeout=delay)
            if self._completion is not None:
                return
            s = self._start
            await self._step(
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

    async def _acceptance(self) -> bool:
        """The county accepts (then the acceptance is noticed) or lists what to rectify (back to construction)."""
        while True:
            task = await self._open_task(
                TaskKind.ACCEPTANCE,
                Stage.ACCEPTANCE,
                Role.COUNTY_REVIEWER.value,
                self._start.county_code,
                ACCEPTANCE_DECISIONS,
                details={
                    **self._completion_facts,
                    "completion_id": self._completion,
                    "earlier_opinions": list(self._opinions),
                },
            )
            outcome = await self._closed(task)
            if outcome.decision == Decision.RECTIFY:
                return False
            upheld = await self._notice("acceptance", Stage.ACCEPTANCE, Stage.ACCEPTANCE)
            if upheld is None:
                return True
            self._round += 1

    async def _registration(self) -> None:
        """The applicant registers the assets, the county confirms, the platform issues cards, the notice runs."""
        while True:
            task = await self._open_task(
                TaskKind.ASSET_REGISTRATION,
                Stage.ASSET_REGISTRATION,
                Role.PROJECT_MANAGER.value,
                self._start.village_code,
                REGISTRATION_DECISIONS,
                assignee_id=self._start.applicant_id,
                details={"opinions": [o for o in self._opinions if o.get("kind") == TaskKind.CONFIRM_REGISTRATION]},
            )
            await self._closed(task)
            confirm = await self._open_task(
                TaskKind.CONFIRM_REGISTRATION,
                Stage.ASSET_REGISTRATION,
                Role.COUNTY_REVIEWER.value,
                self._start.county_code,
                CONFIRM_DECISIONS,
                details={"asset_ids": list(self._registered)},
            )
            if (await self._closed(confirm)).decision != Decision.CONFIRM:
                continue
            await self._register_on_platform()
            upheld = await self._notice("registration", Stage.ASSET_REGISTRATION, Stage.ASSET_REGISTRATION)
            if upheld is None:
                return
            self._round += 1

    async def _register_on_platform(self) -> None:
        """Register each asset once (the asset id is the idempotency key); a rejection waits for the county."""
        for asset_id in list(self._registered):
            while True:
                try:
                    self._busy += 1
                    try:
                        await workflow.execute_activity_method(
                            PlatformActivities.register_asset,
                            RegisterAssetInput(asset_id=asset_id, project_code=self._start.code, at=workflow.now()),
                            start_to_close_timeout=timedelta(minutes=2),
                            heartbeat_timeout=HEARTBEAT,
                            retry_policy=PLATFORM_RETRY,
                        )
                    finally:
                        self._busy -= 1
                    break
                except ActivityError as err:
                    task = await self._open_task(
                        TaskKind.PLATFORM_REJECTED,
                        Stage.ASSET_REGISTRATION,
                        Role.COUNTY_REVIEWER.value,
                        self._start.county_code,
                        (Decision.RETRY,),
                        details={"asset_id": asset_id, "error": str(err.cause or err)},
                    )
                    await self._closed(task)

    # ---------------------------------------------------------------- the rules every Update is checked against

    def _eligible(self, task: OpenedTask, actor: Actor) -> _Refusal | None:
        if actor.role != task.candidate_role:
            return _Refusal(DecisionRefused.NOT_ELIGIBLE, f"only a {task.candidate_role} may act on this task")
        if task.assignee_id is not None:
            if actor.user_id != task.assignee_id:
                return _Refusal(DecisionRefused.NOT_ELIGIBLE, "this task is assigned to another user")
        elif not covers(actor.region_code, RegionLevel(actor.region_level), task.region_code):
            return _Refusal(DecisionRefused.NOT_ELIGIBLE, "this task belongs to a region outside yours")
        return self._duties(task, actor)

    def _duties(self, task: OpenedTask, actor: Actor) -> _Refusal | None:
        s = self._start
        if task.kind == TaskKind.REVISION:
            return None
        if actor.user_id == s.applicant_id:
            return _Refusal(DecisionRefused.SEPARATION_OF_DUTIES, "the applicant may not decide their own project")
        if task.kind == TaskKind.EXPERT_REVIEW:
            if actor.region_code.startswith(s.township_code):
                return _Refusal(
                    DecisionRefused.SEPARATION_OF_DUTIES, "an expert may not score a project of their township"
                )
            org, entity = actor.organisation.strip(), s.implementing_entity.strip()
            if org and entity and (org in entity or entity in org):
                return _Refusal(
                    DecisionRefused.SEPARATION_OF_DUTIES,
                    "an expert may not score a project of their own organisation",
                )
        if task.kind in NOT_A_LEVEL:
            return None
        for stage, users in self._deciders.items():
            if actor.user_id in users and stage != task.stage:
                return _Refusal(
                    DecisionRefused.SEPARATION_OF_DUTIES,
                    f"you already decided the {stage} step of this project; one person decides one level",
                )
        return None

    def _open(self, task_id: str) -> OpenedTask | _Refusal:
        task = self._tasks.get(task_id) or self._pending.get(task_id)
        if task is None or task_id in self._outcomes:
            return _Refusal(DecisionRefused.TASK_NOT_OPEN, "this task is not open")
        return task

    def _decision_refusal(self, inp: SubmitDecisionInput) -> _Refusal | None:
        task = self._open(inp.task_id)
        if isinstance(task, _Refusal):
            return task
        if task.kind in (TaskKind.REVISION, TaskKind.ASSET_REGISTRATION):
            return _Refusal(DecisionRefused.INVALID_DECISION, f"a {task.kind} task is completed by its own form")
        if inp.decision not in task.allowed_decisions:
            allowed = ", ".join(task.allowed_decisions)
            return _Refusal(DecisionRefused.INVALID_DECISION, f"decision must be one of: {allowed}")
        if Decision(inp.decision) in OPINION_REQUIRED and not inp.opinion.strip():
            return _Refusal(DecisionRefused.OPINION_REQUIRED, f"an opinion is required to {inp.decision}")
        if inp.decision == Decision.RECTIFY and not [i for i in inp.items if i.strip()]:
            return _Refusal(DecisionRefused.ITEMS_REQUIRED, "list what must be rectified")
        if inp.decision == Decision.SCORE:
            problem = score_problem(inp.scores, inp.veto, inp.veto_other)
            if problem is not None:
                return _Refusal(DecisionRefused.INVALID_SCORES, f"{problem[0]}: {problem[1]}")
        if task.claimed_by is not None and task.claimed_by != inp.actor.user_id:
            return _Refusal(DecisionRefused.TASK_CLAIMED, "another user has claimed this task")
        return self._eligible(task, inp.actor)

    # ---------------------------------------------------------------- Updates

    @workflow.update
    async def submit_decision(self, inp: SubmitDecisionInput) -> DecisionResult:
        """A reviewer, expert or the county decides an open task; the project moves on once it is stored."""
        if self._task is not None:
            return await self._legacy_submit_decision(inp)
        await self._ready(inp.task_id)
        async with self._lock:
            _refuse(self._decision_refusal(inp))  # concurrent updates may both have passed the validator
            task = self._tasks[inp.task_id]
            decision = Decision(inp.decision)
            to_stage, details = self._consequence(task, inp)
            result = await self._store(
                ProjectActivities.record_decision,
                RecordDecisionInput(
                    task_id=task.task_id,
                    project_code=self._start.code,
                    decision=inp.decision,
                    opinion=inp.opinion,
                    actor=inp.actor,
                    from_stage=task.stage,
                    to_stage=to_stage.value,
                    decided_at=workflow.now(),
                    kind=task.kind,
                    details=details,
                ),
                "the decision",
            )
            # state changes only once the decision is stored, all at once, so the run loop never sees half of it
            self._outcomes[task.task_id] = _Outcome(inp.decision, to_stage, inp.actor.user_id, inp.opinion)
            self._tasks.pop(task.task_id, None)
            if task.kind not in NOT_A_LEVEL:
                users = self._deciders.setdefault(task.stage, [])
                if inp.actor.user_id not in users:
                    users.append(inp.actor.user_id)
            self._after_decision(task, inp, decision, to_stage)
            return result

    def _consequence(self, task: OpenedTask, inp: SubmitDecisionInput) -> tuple[Stage, dict[str, Any]]:
        """Where this decision sends the project, and what the record of it carries."""
        decision = Decision(inp.decision)
        details: dict[str, Any] = {"round": self._round}
        if inp.attachments:
            details["attachments"] = list(inp.attachments)
        stage = Stage(task.stage)
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
            details["objection_id"] = task.details.get("objection_id")
            if decision is Decision.UPHOLD:
                return self._upheld_to, details
            return self._notice_stage, details
        if task.kind == TaskKind.EXTEND_EXPERT_LIBRARY:
            return Stage.EXPERT_REVIEW, details
        if task.kind == TaskKind.ACCEPTANCE:
            details["completion_id"] = task.details.get("completion_id")
            if decision is Decision.RECTIFY:
                details["rectify_items"] = list(inp.items)
                return Stage.CONSTRUCTION, details
            return Stage.ACCEPTANCE, details
        if task.kind in (TaskKind.CONFIRM_REGISTRATION, TaskKind.PLATFORM_REJECTED):
            return Stage.ASSET_REGISTRATION, details
        to_stage = stage_after(stage, decision)
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

    def _expert_score(self, task: OpenedTask, inp: SubmitDecisionInput) -> ExpertScore:
        vetoes = [*inp.veto]
        return ExpertScore(int(task.details.get("expert_id", 0)), dict(inp.scores), vetoes, inp.opinion)

    def _after_decision(self, task: OpenedTask, inp: SubmitDecisionInput, decision: Decision, to: Stage) -> None:
        opinion = {
            "round": self._round,
            "kind": task.kind,
            "decision": inp.decision,
            "opinion": inp.opinion,
            "by": inp.actor.username,
        }
        if task.kind == TaskKind.EXPERT_REVIEW:
            if decision is Decision.SCORE:
                self._scores[task.task_id] = self._expert_score(task, inp)
            if to is not Stage.EXPERT_REVIEW:  # the panel is complete: its opinions become visible
                self._opinions.extend(
                    {"round": self._round, "kind": task.kind, "decision": "score", "opinion": s.opinion}
                    for s in self._scores.values()
                )
        elif task.kind == TaskKind.OBJECTION:
            self._objection_tasks.discard(task.task_id)
            if decision is Decision.UPHOLD and self._upheld is None:
                self._upheld = str(task.details.get("objection_id", task.task_id))
            self._opinions.append(opinion)
        elif task.kind != TaskKind.EXTEND_EXPERT_LIBRARY:
            self._opinions.append(opinion)
        self._stage = to

    @submit_decision.validator
    def _validate_decision(self, inp: SubmitDecisionInput) -> None:
        if self._task is not None:
            _refuse(self._legacy_refusal(inp))
            return
        _refuse(self._decision_refusal(inp))

    @workflow.update
    async def revise_application(self, inp: RevisionInput) -> DecisionResult:
        """The applicant resubmits a returned application; the chain starts again at the township."""
        await self._ready(inp.task_id)
        async with self._lock:
            _refuse(self._revision_refusal(inp))
            task = self._tasks[inp.task_id]
            await self._store(
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
            self._outcomes[task.task_id] = _Outcome(Decision.RESUBMIT.value, Stage.TOWNSHIP_REVIEW, inp.actor.user_id)
            self._tasks.pop(task.task_id, None)
            self._stage = Stage.TOWNSHIP_REVIEW
            return DecisionResult(task_id=task.task_id, decision=Decision.RESUBMIT.value, stage=self._stage.value)

    def _applicant_task_refusal(self, task_id: str, actor: Actor, kind: TaskKind, what: str) -> _Refusal | None:
        """The applicant's own open task of `kind` (a revision, the asset registration), or why not."""
        task = self._open(task_id)
        if isinstance(task, _Refusal):
            return task
        if task.kind != kind:
            return _Refusal(DecisionRefused.WRONG_STAGE, f"the project is not awaiting {what}")
        if actor.user_id != self._start.applicant_id:
            return _Refusal(DecisionRefused.NOT_ELIGIBLE, f"only the applicant may submit {what}")
        return None

    def _revision_refusal(self, inp: RevisionInput) -> _Refusal | None:
        return self._applicant_task_refusal(inp.task_id, inp.actor, TaskKind.REVISION, "a revision")

    @revise_application.validator
    def _validate_revision(self, inp: RevisionInput) -> None:
        _refuse(self._revision_refusal(inp))

    @workflow.update
    async def report_progress(self, inp: ProgressInput) -> DecisionResult:
        """The applicant reports the week's progress; the colour of the construction archive follows."""
        async with self._lock:
            _refuse(self._progress_refusal(inp))
            colour = await self._store(
                ConstructionActivities.record_progress,
                RecordProgressInput(
                    project_code=self._start.code, report=inp, at=workflow.now(), config=self._start.config
                ),
                "the report",
            )
            self._last_percent = max(self._last_percent, inp.percent)
            return DecisionResult(task_id="", decision=colour, stage=self._stage.value)

    def _construction_refusal(self, actor: Actor, what: str) -> _Refusal | None:
        if self._stage is not Stage.CONSTRUCTION or self._completion is not None:
            return _Refusal(
                DecisionRefused.WRONG_STAGE, f"the project is at {self._stage.value}, not under construction"
            )
        if actor.user_id != self._start.applicant_id:
            return _Refusal(DecisionRefused.NOT_ELIGIBLE, f"only the project's manager (applicant) reports {what}")
        return None

    def _progress_refusal(self, inp: ProgressInput) -> _Refusal | None:
        if refusal := self._construction_refusal(inp.actor, "its progress"):
            return refusal
        if inp.percent < self._last_percent:
            return _Refusal(DecisionRefused.WRONG_STAGE, f"percent may not fall below {self._last_percent}")
        return None

    @report_progress.validator
    def _validate_progress(self, inp: ProgressInput) -> None:
        _refuse(self._progress_refusal(inp))

    @workflow.update
    async def report_completion(self, inp: CompletionInput) -> DecisionResult:
        """The applicant reports completion (竣工): the county's acceptance task opens."""
        async with self._lock:
            _refuse(self._completion_refusal(inp))
            completion_id = str(workflow.uuid4())
            await self._store(
                ConstructionActivities.record_completion,
                RecordCompletionInput(
                    completion_id=completion_id, project_code=self._start.code, completion=inp, at=workflow.now()
                ),
                "the completion",
            )
            self._completion = completion_id
            self._completion_facts = {
                "completion_id": completion_id,
                "final_cost_fen": inp.final_cost_fen,
                "completion_date": inp.completion_date,
                "documents": list(inp.documents),
                "note": inp.note,
            }
            self._stage = Stage.ACCEPTANCE
            return DecisionResult(task_id=completion_id, decision="completed", stage=self._stage.value)

    def _completion_refusal(self, inp: CompletionInput) -> _Refusal | None:
        return self._construction_refusal(inp.actor, "completion")

    @report_completion.validator
    def _validate_completion(self, inp: CompletionInput) -> None:
        _refuse(self._completion_refusal(inp))

    @workflow.update
    async def register_assets(self, inp: RegisterAssetsInput) -> DecisionResult:
        """The applicant registers the assets the project produced; the county confirms next."""
        await self._ready(inp.task_id)
        async with self._lock:
            _refuse(self._registration_refusal(inp))
            task = self._tasks[inp.task_id]
            asset_ids = [str(workflow.uuid4()) for _ in inp.assets]
            await self._store(
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
            self._outcomes[task.task_id] = _Outcome(
                Decision.REGISTER.value, Stage.ASSET_REGISTRATION, inp.actor.user_id
            )
            self._tasks.pop(task.task_id, None)
            return DecisionResult(task_id=task.task_id, decision=Decision.REGISTER.value, stage=self._stage.value)

    def _registration_refusal(self, inp: RegisterAssetsInput) -> _Refusal | None:
        return self._applicant_task_refusal(
            inp.task_id, inp.actor, TaskKind.ASSET_REGISTRATION, "its asset registration"
        )

    @register_assets.validator
    def _validate_registration(self, inp: RegisterAssetsInput) -> None:
        _refuse(self._registration_refusal(inp))

    @workflow.update
    async def file_objection(self, inp: ObjectionInput) -> ObjectionResult:
        """Anyone of the region files an objection during the notice; the county must resolve it."""
        async with self._lock:
            _refuse(self._objection_refusal(inp))
            objection_id = str(workflow.uuid4())
            task_input = self._task_input(
                TaskKind.OBJECTION,
                self._notice_stage,
                Role.COUNTY_REVIEWER.value,
                self._start.county_code,
                OBJECTION_DECISIONS,
                details={"objection_id": objection_id, "text": inp.text, "notice_id": self._notice_id},
            )
            self._pending[task_input.task_id] = _provisional(task_input)
            try:
                task = await self._store(
                    ReviewActivities.record_objection,
                    RecordObjectionInput(
                        objection_id=objection_id,
                        notice_id=self._notice_id or "",
                        project_code=self._start.code,
                        text=inp.text,
                        actor=inp.actor,
                        task=task_input,
                    ),
                    "the objection",
                )
            finally:
                self._pending.pop(task_input.task_id, None)
            self._objection_tasks.add(task.task_id)
            self._track(task)
            return ObjectionResult(objection_id=objection_id, task_id=task.task_id)

    def _objection_refusal(self, inp: ObjectionInput) -> _Refusal | None:
        if self._notice_id is None or self._notice_ends is None or self._upheld is not None:
            return _Refusal(DecisionRefused.NOTICE_CLOSED, "the project is not under public notice")
        if workflow.now() >= self._notice_ends:
            return _Refusal(DecisionRefused.NOTICE_CLOSED, "the notice period is over")
        if not inp.text.strip():
            return _Refusal(DecisionRefused.OPINION_REQUIRED, "an objection needs a text")
        a = inp.actor
        if not covers(a.region_code, RegionLevel(a.region_level), self._start.village_code) and not covers(
            self._start.village_code, RegionLevel.VILLAGE, a.region_code
        ):
            return _Refusal(DecisionRefused.NOT_ELIGIBLE, "only users of the project's region may object")
        return None

    @file_objection.validator
    def _validate_objection(self, inp: ObjectionInput) -> None:
        _refuse(self._objection_refusal(inp))

    @workflow.update
    async def claim_task(self, inp: ClaimInput) -> TaskChange:
        """Take a group task (others see it is taken) or release it."""
        await self._ready(inp.task_id)
        async with self._lock:
            _refuse(self._claim_refusal(inp))
            task = self._tasks[inp.task_id]
            await self._store(
                ReviewActivities.record_claim,
                RecordClaimInput(
                    task_id=task.task_id,
                    project_code=self._start.code,
                    actor=inp.actor,
                    claim=inp.claim,
                    at=workflow.now(),
                ),
                "the claim",
            )
            claimed = replace(task, claimed_by=inp.actor.user_id if inp.claim else None)
            self._tasks[task.task_id] = claimed
            return TaskChange(task_id=task.task_id, assignee_id=claimed.assignee_id, claimed_by=claimed.claimed_by)

    def _claim_refusal(self, inp: ClaimInput) -> _Refusal | None:
        task = self._open(inp.task_id)
        if isinstance(task, _Refusal):
            return task
        if inp.claim:
            if task.claimed_by is not None and task.claimed_by != inp.actor.user_id:
                return _Refusal(DecisionRefused.TASK_CLAIMED, "another user has claimed this task")
            return self._eligible(task, inp.actor)
        if task.claimed_by != inp.actor.user_id:
            return _Refusal(DecisionRefused.NOT_CLAIMED, "you have not claimed this task; there is nothing to release")
        return None

    @claim_task.validator
    def _validate_claim(self, inp: ClaimInput) -> None:
        _refuse(self._claim_refusal(inp))

    @workflow.update
    async def reassign_task(self, inp: ReassignInput) -> TaskChange:
        """A county supervisor or an admin gives a task to another eligible user, with a reason."""
        await self._ready(inp.task_id)
        async with self._lock:
            _refuse(self._reassign_refusal(inp))
            task = self._tasks[inp.task_id]
            details = dict(task.details)
            if task.kind == TaskKind.EXPERT_REVIEW:
                # the seat now belongs to another expert: their library id goes with their score
                details.update(expert_id=inp.expert_id, expert_name=inp.to.username)
            await self._store(
                ReviewActivities.record_reassign,
                RecordReassignInput(
                    task_id=task.task_id,
                    project_code=self._start.code,
                    to=inp.to,
                    reason=inp.reason,
                    actor=inp.actor,
                    at=workflow.now(),
                    details=details if task.kind == TaskKind.EXPERT_REVIEW else None,
                ),
                "the reassignment",
            )
            moved = replace(task, assignee_id=inp.to.user_id, claimed_by=None, details=details)
            self._tasks[task.task_id] = moved
            if task.task_id in self._seats:
                seat = self._seats[task.task_id]
                self._seats[task.task_id] = replace(
                    seat, expert_id=inp.expert_id or seat.expert_id, user_id=inp.to.user_id, name=inp.to.username
                )
            return TaskChange(task_id=task.task_id, assignee_id=moved.assignee_id, claimed_by=None)

    def _reassign_refusal(self, inp: ReassignInput) -> _Refusal | None:
        task = self._open(inp.task_id)
        if isinstance(task, _Refusal):
            return task
        a = inp.actor
        if not may_intervene(a.role, a.region_level):
            return _Refusal(DecisionRefused.NOT_ELIGIBLE, "only a county supervisor or an admin may reassign a task")
        if not covers(a.region_code, RegionLevel(a.region_level), self._start.village_code):
            return _Refusal(DecisionRefused.NOT_ELIGIBLE, "this project lies outside your region")
        if not inp.reason.strip():
            return _Refusal(DecisionRefused.OPINION_REQUIRED, "a reassignment needs a reason")
        if task.kind == TaskKind.EXPERT_REVIEW:
            if inp.to.role != Role.EXPERT:
                return _Refusal(DecisionRefused.NOT_ELIGIBLE, "an expert task goes to another expert")
            if any(s.user_id == inp.to.user_id for s in self._seats.values()):
                return _Refusal(DecisionRefused.NOT_ELIGIBLE, "that expert already sits on this panel")
            entity = self._start.implementing_entity.strip()
            declared = [o.strip() for o in inp.conflict_organisations if o.strip()]
            if self._start.township_code in inp.conflict_townships or (
                entity and any(o in entity or entity in o for o in declared)
            ):
                return _Refusal(
                    DecisionRefused.SEPARATION_OF_DUTIES, "that expert declared a conflict with this project"
                )
            return self._duties(task, inp.to)
        refusal = self._eligible(replace(task, assignee_id=None), inp.to)
        if refusal is not None and refusal.type == DecisionRefused.NOT_ELIGIBLE:
            # the refusal concerns the user the task would go to, not the one reassigning it
            return _Refusal(
                refusal.type,
                f"{inp.to.username} cannot take this task: it needs a {task.candidate_role} "
                f"whose region covers {task.region_code}",
            )
        return refusal

    @reassign_task.validator
    def _validate_reassign(self, inp: ReassignInput) -> None:
        _refuse(self._reassign_refusal(inp))

    @workflow.update
    def retry_blocked(self, inp: RetryInput) -> str:
        """An operator retries the step the project is blocked on (after fixing its cause)."""
        self._retry_asked = True
        return self._blocked.step if self._blocked else ""

    @retry_blocked.validator
    def _validate_retry(self, inp: RetryInput) -> None:
        a = inp.actor
        if not may_intervene(a.role, a.region_level):
            _refuse(_Refusal(DecisionRefused.NOT_ELIGIBLE, "only a county supervisor or an admin may retry a step"))
        if not covers(a.region_code, RegionLevel(a.region_level), self._start.village_code):
            _refuse(_Refusal(DecisionRefused.NOT_ELIGIBLE, "this project lies outside your region"))
        if self._blocked is None:
            _refuse(_Refusal(DecisionRefused.WRONG_STAGE, "the project is not blocked; there is nothing to retry"))

    # ---------------------------------------------------------------- the hand-over to the phase workflows

    @workflow.signal
    async def hand_over(self) -> None:
        """Continue as a ProjectWorkflow (phase workflows) at the next moment nothing is under way: no step
        running, no Update in progress, no task being opened. Its open tasks, notice and record go with it."""
        if not workflow.patched(HAND_OVER_PATCH):
            return
        while not self._at_rest():
            await workflow.wait_condition(self._at_rest)
        if self._stage in TERMINAL:
            return
        workflow.continue_as_new(workflow=PROJECT_WORKFLOW, args=[self._handed_over()])

    def _at_rest(self) -> bool:
        return self._busy == 0 and not self._lock.locked() and not self._pending

    def _handed_over(self) -> ProjectState:
        """This execution's state as ProjectWorkflow carries it."""
        tasks = [*self._tasks.values(), *([self._task] if self._task is not None else [])]
        notice = None
        if self._notice_id is not None and self._notice_ends is not None:
            kind = self._notice_id[len(self._start.code) + 1 :].rsplit("-r", 1)[0]
            notice = NoticeState(
                notice_id=self._notice_id,
                kind=kind,
                stage=self._notice_stage,
                upheld_to=self._upheld_to,
                ends_at=self._notice_ends,
                objection_task_ids=sorted(self._objection_tasks & set(self._tasks)),
            )
        users = {t: seat.user_id for t, seat in self._seats.items()}
        scores = [
            CarriedScore(t, s.expert_id, dict(s.scores), list(s.vetoes), s.opinion, users.get(t, 0))
            for t, s in self._scores.items()
        ]
        facts = self._completion_facts if self._completion else {}
        completion = (
            CompletionFacts(
                completion_id=str(facts["completion_id"]),
                final_cost_fen=int(facts["final_cost_fen"]),
                completion_date=str(facts["completion_date"]),
                documents=list(facts.get("documents", [])),
                note=str(facts.get("note", "")),
            )
            if facts
            else None
        )
        phase = PHASE_OF_STAGE.get(self._stage, Phase.APPROVAL)
        return ProjectState(
            start=self._start,
            phase=phase,
            round=self._round,
            revisions=self._revisions,
            deciders={k: list(v) for k, v in self._deciders.items()},
            opinions=[
                Opinion(
                    int(o.get("round", self._round)),
                    str(o.get("kind", "")),
                    str(o.get("decision", "")),
                    str(o.get("opinion", "")),
                    str(o.get("by", "")),
                )
                for o in self._opinions
            ],
            resume=None
            if phase is Phase.OPERATION
            else PhaseResume(
                stage=self._stage,
                tasks=tasks,
                notice=notice,
                scores=scores,
                completion=completion,
                registered=list(self._registered),
                last_percent=self._last_percent,
                # a handed-over round numbers its expert draws on from here, clear of the draws already made
                draws=HANDED_OVER_DRAWS if self._stage is Stage.EXPERT_REVIEW else 0,
            ),
            handed_over_from=workflow.info().run_id,
        )

    @workflow.query
    def get_status(self) -> ProjectStatus:
        """The workflow's own view: stage, open tasks, who decided which level."""
        tasks = list(self._tasks.values())
        return ProjectStatus(
            code=self._start.code,
            stage=self._stage.value,
            open_task=self._task or (tasks[0] if tasks else None),
            deciders={k: list(v) for k, v in self._deciders.items()},
            round=self._round,
            open_tasks=tasks,
            revisions=self._revisions,
            notice_ends_at=self._notice_ends if self._notice_id else None,
            blocked=self._blocked,
            pending_tasks=sorted(self._pending),
        )

    # ---------------------------------------------------------------- executions recorded before approval-chain-v1

    async def _legacy_run(self) -> str:
        """The township review alone, exactly as first released (kept for replay of older histories)."""
        kind, role = REVIEW_TASK[Stage.TOWNSHIP_REVIEW]
        self._task = await self._step(
            ProjectActivities.open_task,
            OpenTaskInput(
                task_id=str(workflow.uuid4()),
                project_code=self._start.code,
                kind=kind.value,
                stage=Stage.TOWNSHIP_REVIEW.value,
                candidate_role=role.value,
                region_code=self._start.township_code,
                allowed_decisions=[d.value for d in REVIEW_DECISIONS],
                opened_at=workflow.now(),
                working_days=self._start.config.review_working_days,
                time_zone=self._start.config.time_zone,
                round=self._round,
            ),
        )
        self._stage = Stage.TOWNSHIP_REVIEW
        await workflow.wait_condition(lambda: self._stage is not Stage.TOWNSHIP_REVIEW)
        await workflow.wait_condition(lambda: self._stage in TERMINAL)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._stage.value

    def _legacy_refusal(self, inp: SubmitDecisionInput) -> _Refusal | None:
        task = self._task
        if task is None or task.task_id != inp.task_id or task.decided_by is not None:
            return _Refusal(DecisionRefused.TASK_NOT_OPEN, "this task is not open for a decision")
        if inp.decision not in task.allowed_decisions:
            allowed = ", ".join(task.allowed_decisions)
            return _Refusal(DecisionRefused.INVALID_DECISION, f"decision must be one of: {allowed}")
        if Decision(inp.decision) in OPINION_REQUIRED and not inp.opinion.strip():
            return _Refusal(DecisionRefused.OPINION_REQUIRED, f"an opinion is required to {inp.decision}")
        if inp.actor.user_id == self._start.applicant_id:
            return _Refusal(DecisionRefused.SEPARATION_OF_DUTIES, "the applicant may not decide their own project")
        return self._eligible(replace(task, assignee_id=None), inp.actor)

    async def _legacy_submit_decision(self, inp: SubmitDecisionInput) -> DecisionResult:
        async with self._lock:
            _refuse(self._legacy_refusal(inp))
            task = self._task
            assert task is not None
            self._task = replace(task, decided_by=inp.actor.user_id)
            from_stage = Stage(task.stage)
            to_stage = stage_after(from_stage, Decision(inp.decision))
            try:
                result = await self._store(
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
                    "the decision",
                )
            except ApplicationError:
                self._task = task
                raise
            self._deciders[from_stage.value] = [inp.actor.user_id]
            self._task = None
            self._stage = to_stage
            return result
