"""The task mechanism every workflow composes: open a human step, watch its deadline, take claims and
reassignments, lock, and refuse stale, foreign and forbidden decisions before anything reaches history.

`TaskBoard` is not a workflow: each workflow owns one and delegates its task Updates to it (three lines
each), so the rules of a task are written once. The rules themselves are pure functions in
`domain/task_rules.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from temporalio import workflow

from domain.enums import Decision, Stage, TaskKind
from domain.failures import DecisionRefused
from domain.lifecycle import NOT_A_LEVEL
from domain.payloads import (
    Actor,
    AdoptTasksInput,
    ClaimInput,
    DeadlineEvent,
    DecisionResult,
    OpenedTask,
    OpenTaskInput,
    ProjectStart,
    ProjectStatus,
    ReassignInput,
    RecordClaimInput,
    RecordDecisionInput,
    RecordReassignInput,
    SubmitDecisionInput,
    TaskChange,
)
from domain.task_rules import (
    Refusal,
    applicant_task_refusal,
    claim_refusal,
    decision_refusal,
    reassign_refusal,
)
from workflows.steps import Steps, refuse

with workflow.unsafe.imports_passed_through():
    from activities.projects import ProjectActivities
    from activities.reviews import ReviewActivities

# What a decision leads to (the stage, and what the record carries), computed before it is stored.
Consequence = Callable[[OpenedTask, SubmitDecisionInput], tuple[Stage, dict[str, Any]]]
# What the workflow learns from a stored decision (its own state), applied under the lock.
Aftermath = Callable[[OpenedTask, SubmitDecisionInput, Stage], None]


@dataclass(frozen=True)
class Outcome:
    """How a task was closed: the decision as submitted and the stage it led to."""

    decision: str
    to_stage: Stage
    actor_id: int
    opinion: str = ""


def provisional(inp: OpenTaskInput) -> OpenedTask:
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


class TaskBoard:
    """The open tasks of one workflow execution, who decided which level, and the lock of its Updates."""

    def __init__(self, project: ProjectStart, steps: Steps, deciders: dict[str, list[int]]) -> None:
        self.project = project
        self.steps = steps
        self.deciders = {stage: list(users) for stage, users in deciders.items()}
        self.lock = asyncio.Lock()
        self.tasks: dict[str, OpenedTask] = {}
        # tasks whose row is being written: known to the validators, decided once open
        self.pending: dict[str, OpenedTask] = {}
        self.outcomes: dict[str, Outcome] = {}
        # tasks handed over from another execution, taken by the first `open` of their kind and stage
        self._adoptable: list[OpenedTask] = []
        self._watchers: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------ opening, adopting, waiting

    def task_input(
        self,
        kind: TaskKind,
        stage: Stage,
        role: str,
        region: str,
        decisions: tuple[Decision, ...],
        round_: int,
        *,
        assignee_id: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> OpenTaskInput:
        """A new task of this workflow (its id from the workflow's deterministic uuid)."""
        return OpenTaskInput(
            task_id=str(workflow.uuid4()),
            project_code=self.project.code,
            kind=kind.value,
            stage=stage.value,
            candidate_role=role,
            region_code=region,
            allowed_decisions=[d.value for d in decisions],
            opened_at=workflow.now(),
            working_days=self.project.config.review_working_days,
            time_zone=self.project.config.time_zone,
            round=round_,
            assignee_id=assignee_id,
            details=details or {},
        )

    async def open(self, inp: OpenTaskInput) -> OpenedTask:
        """Record a task and track it, or take the handed-over task of the same kind and stage. From the moment
        its id exists the task is pending: a decision arriving before the activity's result waits for it."""
        for task in self._adoptable:
            if task.kind == inp.kind and task.stage == inp.stage:
                self._adoptable.remove(task)
                return task
        self.pending[inp.task_id] = provisional(inp)
        try:
            task = await self.steps.step(ProjectActivities.open_task, inp)
        finally:
            self.pending.pop(inp.task_id, None)
        self.track(task)
        return task

    async def adopt(self, tasks: Iterable[OpenedTask]) -> None:
        """Take over open tasks of an earlier execution: their decisions come to this workflow from now on."""
        handed = list(tasks)
        if not handed:
            return
        for task in handed:
            self.track(task)
        self._adoptable.extend(handed)
        await self.steps.step(
            ProjectActivities.adopt_tasks,
            AdoptTasksInput(project_code=self.project.code, task_ids=[t.task_id for t in handed], at=workflow.now()),
        )

    def adopted(self, kind: TaskKind) -> list[OpenedTask]:
        """Handed-over tasks of `kind` not yet taken by an `open` (expert seats, objections)."""
        taken = [t for t in self._adoptable if t.kind == kind]
        self._adoptable = [t for t in self._adoptable if t.kind != kind]
        return taken

    def track(self, task: OpenedTask) -> None:
        """Know an open task and watch its deadline (one watcher per task; it ends when the task closes)."""
        self.tasks[task.task_id] = task
        self._watchers = [w for w in self._watchers if not w.done()]
        self._watchers.append(asyncio.create_task(self._watch_deadline(task)))

    async def ready(self, task_id: str) -> None:
        """Wait until a pending task is open (its row stored and its result back in this workflow)."""
        if task_id in self.pending:
            await workflow.wait_condition(lambda: task_id not in self.pending)

    async def closed(self, task: OpenedTask) -> Outcome:
        """Wait for the task's decision."""
        await workflow.wait_condition(lambda: task.task_id in self.outcomes)
        return self.outcomes[task.task_id]

    def any_decided(self, task_ids: set[str]) -> bool:
        """True once one of these tasks is decided."""
        return any(t in self.outcomes for t in task_ids)

    def close(self, task: OpenedTask, outcome: Outcome) -> None:
        """The task is done: its outcome known, its decider on record for the level (if it is one)."""
        self.outcomes[task.task_id] = outcome
        self.tasks.pop(task.task_id, None)
        if task.kind not in NOT_A_LEVEL:
            users = self.deciders.setdefault(task.stage, [])
            if outcome.actor_id not in users:
                users.append(outcome.actor_id)

    def drop(self, task_ids: Iterable[str]) -> None:
        """Forget tasks cancelled by the workflow (their watchers end)."""
        for task_id in task_ids:
            self.tasks.pop(task_id, None)

    async def _watch_deadline(self, task: OpenedTask) -> None:
        """Remind at the due time, escalate at twice the limit; the task keeps waiting either way."""
        for event, at in (("remind", task.due_at), ("escalate", task.escalate_at)):
            if at is None:
                return
            delay = (at - workflow.now()).total_seconds()
            if delay > 0:
                try:
                    await workflow.wait_condition(lambda: task.task_id not in self.tasks, timeout=delay)
                    return
                except TimeoutError:
                    pass
            if task.task_id not in self.tasks:
                return
            current = self.tasks[task.task_id]
            await self.steps.step(
                ReviewActivities.notify_deadline,
                DeadlineEvent(
                    task_id=task.task_id,
                    project_code=self.project.code,
                    kind=task.kind,
                    event=event,
                    candidate_role=task.candidate_role,
                    region_code=task.region_code,
                    assignee_id=current.assignee_id,
                    at=workflow.now(),
                ),
            )

    def status(self, stage: Stage, round_: int, revisions: int, notice_ends: datetime | None = None) -> ProjectStatus:
        """A phase workflow's status query: its stage, open and pending tasks, deciders and blocked step."""
        tasks = list(self.tasks.values())
        return ProjectStatus(
            code=self.project.code,
            stage=stage.value,
            open_task=tasks[0] if tasks else None,
            deciders={k: list(v) for k, v in self.deciders.items()},
            round=round_,
            open_tasks=tasks,
            revisions=revisions,
            notice_ends_at=notice_ends,
            blocked=self.steps.blocked,
            pending_tasks=sorted(self.pending),
        )

    # ------------------------------------------------------------ the refusals

    def open_task(self, task_id: str) -> OpenedTask | Refusal:
        """The open (or pending) task, or why it cannot be acted on."""
        task = self.tasks.get(task_id) or self.pending.get(task_id)
        if task is None or task_id in self.outcomes:
            return Refusal(DecisionRefused.TASK_NOT_OPEN, "this task is not open")
        return task

    def decision_refusal(self, inp: SubmitDecisionInput) -> Refusal | None:
        """Why a decision on this task is refused, or None."""
        task = self.open_task(inp.task_id)
        if isinstance(task, Refusal):
            return task
        return decision_refusal(task, inp, self.project, self.deciders)

    def applicant_refusal(self, task_id: str, actor: Actor, kind: TaskKind, what: str) -> Refusal | None:
        """Why the applicant's form for this task (a revision, the asset registration) is refused, or None."""
        task = self.open_task(task_id)
        if isinstance(task, Refusal):
            return task
        return applicant_task_refusal(task, actor, self.project, kind, what)

    def claim_refusal(self, inp: ClaimInput) -> Refusal | None:
        """Why a claim or release is refused, or None."""
        task = self.open_task(inp.task_id)
        if isinstance(task, Refusal):
            return task
        return claim_refusal(task, inp, self.project, self.deciders)

    def reassign_refusal(self, inp: ReassignInput, panel: Iterable[int] = ()) -> Refusal | None:
        """Why a reassignment is refused, or None (`panel`: users seated on the expert panel)."""
        task = self.open_task(inp.task_id)
        if isinstance(task, Refusal):
            return task
        return reassign_refusal(task, inp, self.project, self.deciders, tuple(panel))

    # ------------------------------------------------------------ the Updates every workflow takes

    async def decide(self, inp: SubmitDecisionInput, consequence: Consequence, after: Aftermath) -> DecisionResult:
        """Store a decision and close its task; the workflow's own state follows only once it is stored."""
        await self.ready(inp.task_id)
        async with self.lock:
            refuse(self.decision_refusal(inp))  # concurrent Updates may both have passed the validator
            task = self.tasks[inp.task_id]
            to_stage, details = consequence(task, inp)
            result = await self.steps.store(
                ProjectActivities.record_decision,
                RecordDecisionInput(
                    task_id=task.task_id,
                    project_code=self.project.code,
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
            self.close(task, Outcome(inp.decision, to_stage, inp.actor.user_id, inp.opinion))
            after(task, inp, to_stage)
            return result

    async def claim(self, inp: ClaimInput) -> TaskChange:
        """Take a group task (others see it is taken) or release it."""
        await self.ready(inp.task_id)
        async with self.lock:
            refuse(self.claim_refusal(inp))
            task = self.tasks[inp.task_id]
            await self.steps.store(
                ReviewActivities.record_claim,
                RecordClaimInput(
                    task_id=task.task_id,
                    project_code=self.project.code,
                    actor=inp.actor,
                    claim=inp.claim,
                    at=workflow.now(),
                ),
                "the claim",
            )
            claimed = replace(task, claimed_by=inp.actor.user_id if inp.claim else None)
            self.tasks[task.task_id] = claimed
            return TaskChange(task_id=task.task_id, assignee_id=claimed.assignee_id, claimed_by=claimed.claimed_by)

    async def reassign(self, inp: ReassignInput, panel: Iterable[int] = ()) -> tuple[OpenedTask, TaskChange]:
        """Give a task to another eligible user; an expert seat's library id and name go with it."""
        seated = tuple(panel)
        await self.ready(inp.task_id)
        async with self.lock:
            refuse(self.reassign_refusal(inp, seated))
            task = self.tasks[inp.task_id]
            details = dict(task.details)
            expert = task.kind == TaskKind.EXPERT_REVIEW
            if expert:
                details.update(expert_id=inp.expert_id, expert_name=inp.to.username)
            await self.steps.store(
                ReviewActivities.record_reassign,
                RecordReassignInput(
                    task_id=task.task_id,
                    project_code=self.project.code,
                    to=inp.to,
                    reason=inp.reason,
                    actor=inp.actor,
                    at=workflow.now(),
                    details=details if expert else None,
                ),
                "the reassignment",
            )
            moved = replace(task, assignee_id=inp.to.user_id, claimed_by=None, details=details)
            self.tasks[task.task_id] = moved
            return moved, TaskChange(task_id=task.task_id, assignee_id=moved.assignee_id, claimed_by=None)
