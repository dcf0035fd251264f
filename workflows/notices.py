"""Public notices (公示) and their objections, composed by every phase that notices something.

`Notices` is not a workflow: it opens a notice, takes objections (each a county task on the workflow's
TaskBoard) until the period ends and every objection is resolved, and closes it — completed, or interrupted
by an upheld objection. Its owner delegates the `file_objection` Update to it.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

from domain.enums import Decision, Role, Stage, TaskKind
from domain.failures import DecisionRefused
from domain.lifecycle import NOTICE_LEVELS, OBJECTION_DECISIONS
from domain.payloads import (
    CancelTasksInput,
    CloseNoticeInput,
    NoticeInput,
    ObjectionInput,
    ObjectionResult,
    OpenedTask,
    RecordObjectionInput,
    SubmitDecisionInput,
)
from domain.phases import NoticeState
from domain.task_rules import Refusal, objection_refusal
from workflows.steps import refuse
from workflows.tasks import TaskBoard, provisional

with workflow.unsafe.imports_passed_through():
    from activities.reviews import ReviewActivities


class Notices:
    """The public notice of one workflow execution, if one is running."""

    def __init__(self, board: TaskBoard) -> None:
        self._board = board
        self.notice_id: str | None = None
        self.ends: datetime | None = None
        self.kind = "approval"
        self.stage = Stage.APPROVAL_NOTICE
        self.upheld_to = Stage.TOWNSHIP_REVIEW
        self.upheld: str | None = None
        self.objection_tasks: set[str] = set()

    async def run(
        self, kind: str, stage: Stage, upheld_to: Stage, round_: int, resume: NoticeState | None = None
    ) -> str | None:
        """Run a notice (or go on with a handed-over one); the id of an upheld objection, or None."""
        board = self._board
        code = board.project.code
        if resume is not None:
            notice_id, ends = resume.notice_id, resume.ends_at
            self.objection_tasks = {t for t in resume.objection_task_ids if t in board.tasks}
        else:
            starts = workflow.now()
            ends = starts + timedelta(days=board.project.config.notice_days)
            notice_id = f"{code}-{kind}-r{round_}"
            await board.steps.step(
                ReviewActivities.open_notice,
                NoticeInput(
                    notice_id=notice_id,
                    project_code=code,
                    kind=kind,
                    levels=list(NOTICE_LEVELS),
                    starts_at=starts,
                    ends_at=ends,
                    stage=stage.value,
                ),
            )
            self.objection_tasks = set()
        self.upheld = None
        self.notice_id, self.ends, self.kind = notice_id, ends, kind
        self.stage, self.upheld_to = stage, upheld_to
        remaining = (ends - workflow.now()).total_seconds()
        if remaining > 0:
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self.upheld is not None, timeout=remaining)
        await workflow.wait_condition(lambda: self.upheld is not None or not (self.objection_tasks & set(board.tasks)))
        upheld = self.upheld
        self.notice_id = None
        await board.steps.step(
            ReviewActivities.close_notice,
            CloseNoticeInput(
                notice_id=notice_id,
                project_code=code,
                status="interrupted" if upheld else "completed",
                at=workflow.now(),
            ),
        )
        if upheld:
            still_open = sorted(self.objection_tasks & set(board.tasks))
            if still_open:
                await board.steps.step(
                    ReviewActivities.cancel_tasks,
                    CancelTasksInput(
                        project_code=code,
                        task_ids=still_open,
                        reason="another objection was upheld; the project is reviewed again",
                        at=workflow.now(),
                    ),
                )
                board.drop(still_open)
        return upheld

    def state(self) -> NoticeState | None:
        """The running notice, for a continue-as-new or a hand-over."""
        if self.notice_id is None or self.ends is None:
            return None
        return NoticeState(
            notice_id=self.notice_id,
            kind=self.kind,
            stage=self.stage,
            upheld_to=self.upheld_to,
            ends_at=self.ends,
            objection_task_ids=sorted(self.objection_tasks),
        )

    # ------------------------------------------------------------ objections

    def refusal(self, inp: ObjectionInput) -> Refusal | None:
        """Why an objection is refused: no notice open, its period over, no text, or not of the region."""
        if self.notice_id is None or self.ends is None or self.upheld is not None:
            return Refusal(DecisionRefused.NOTICE_CLOSED, "the project is not under public notice")
        if workflow.now() >= self.ends:
            return Refusal(DecisionRefused.NOTICE_CLOSED, "the notice period is over")
        return objection_refusal(inp.text, inp.actor, self._board.project)

    async def file(self, inp: ObjectionInput, round_: int) -> ObjectionResult:
        """Store an objection and open the county's task that resolves it."""
        board = self._board
        async with board.lock:
            refuse(self.refusal(inp))
            objection_id = str(workflow.uuid4())
            task_input = board.task_input(
                TaskKind.OBJECTION,
                self.stage,
                Role.COUNTY_REVIEWER.value,
                board.project.county_code,
                OBJECTION_DECISIONS,
                round_,
                details={"objection_id": objection_id, "text": inp.text, "notice_id": self.notice_id},
            )
            board.pending[task_input.task_id] = provisional(task_input)
            try:
                task = await board.steps.store(
                    ReviewActivities.record_objection,
                    RecordObjectionInput(
                        objection_id=objection_id,
                        notice_id=self.notice_id or "",
                        project_code=board.project.code,
                        text=inp.text,
                        actor=inp.actor,
                        task=task_input,
                    ),
                    "the objection",
                )
            finally:
                board.pending.pop(task_input.task_id, None)
            self.objection_tasks.add(task.task_id)
            board.track(task)
            return ObjectionResult(objection_id=objection_id, task_id=task.task_id)

    def consequence(self, task: OpenedTask, inp: SubmitDecisionInput, details: dict[str, Any]) -> Stage:
        """Where resolving an objection sends the project: back (upheld) or on with the notice."""
        details["objection_id"] = task.details.get("objection_id")
        return self.upheld_to if inp.decision == Decision.UPHOLD else self.stage

    def resolved(self, task: OpenedTask, inp: SubmitDecisionInput) -> None:
        """An objection was resolved: the first upheld one interrupts the notice."""
        self.objection_tasks.discard(task.task_id)
        if inp.decision == Decision.UPHOLD and self.upheld is None:
            self.upheld = str(task.details.get("objection_id", task.task_id))
