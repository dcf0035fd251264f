"""Activities of the project lifecycle: tasks, decisions and stages in the read model, each one transaction."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.calendar import is_china_workday
from db.engine import Sessions
from db.models import Project
from db.repositories.audit import create_audit_entry, project_chain
from db.repositories.projects import update_project_stage
from db.repositories.tasks import create_decision, create_task
from domain.enums import Stage, TaskStatus
from domain.payloads import DecisionResult, OpenedTask, OpenTaskInput, RecordDecisionInput, StageChange
from domain.workdays import due_at

log = structlog.get_logger(__name__)
TERMINAL_STATUS = {Stage.REJECTED.value: "rejected", Stage.CLOSED.value: "closed"}


class ProjectActivities:
    """Writes the project read model on behalf of ProjectLifecycleWorkflow."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    @activity.defn
    async def open_task(self, inp: OpenTaskInput) -> OpenedTask:
        """Record a human step (idempotent by task id), move the stage to it, and audit both."""
        due = due_at(inp.opened_at, inp.working_days, is_china_workday, ZoneInfo(inp.time_zone))
        async with self._sessions.begin() as session:
            project = await session.get(Project, inp.project_code, with_for_update=True)
            if project is None:
                raise ApplicationError(f"project {inp.project_code} not found", type="NotFound", non_retryable=True)
            task = await create_task(
                session,
                values={
                    "id": inp.task_id,
                    "project_code": inp.project_code,
                    "kind": inp.kind,
                    "stage": inp.stage,
                    "round": inp.round,
                    "candidate_role": inp.candidate_role,
                    "region_code": inp.region_code,
                    "allowed_decisions": list(inp.allowed_decisions),
                    "status": TaskStatus.OPEN.value,
                    "opened_at": inp.opened_at,
                    "due_at": due,
                },
            )
            if project.stage != inp.stage:
                await create_audit_entry(
                    session,
                    chain=project_chain(inp.project_code),
                    action="stage_changed",
                    event_key=f"stage:{inp.task_id}",
                    payload={"from": project.stage, "to": inp.stage, "reason": f"task {inp.kind} opened"},
                    at=inp.opened_at,
                )
                await update_project_stage(session, code=inp.project_code, stage=inp.stage)
            await create_audit_entry(
                session,
                chain=project_chain(inp.project_code),
                action="task_opened",
                event_key=f"task_opened:{inp.task_id}",
                payload={
                    "task_id": inp.task_id,
                    "kind": inp.kind,
                    "candidate_role": inp.candidate_role,
                    "region_code": inp.region_code,
                    "due_at": task.due_at.isoformat(),
                    "round": inp.round,
                },
                at=inp.opened_at,
            )
        log.info("task opened", task_id=inp.task_id, kind=inp.kind, due_at=task.due_at.isoformat())
        return OpenedTask(
            task_id=task.id,
            kind=task.kind,
            stage=task.stage,
            candidate_role=task.candidate_role,
            region_code=task.region_code,
            allowed_decisions=list(task.allowed_decisions),
            due_at=task.due_at,
        )

    @activity.defn
    async def record_decision(self, inp: RecordDecisionInput) -> DecisionResult:
        """Store the decision, close the task, move the stage and audit it: one transaction, once per task."""
        async with self._sessions.begin() as session:
            project = await session.get(Project, inp.project_code, with_for_update=True)
            if project is None:
                raise ApplicationError(f"project {inp.project_code} not found", type="NotFound", non_retryable=True)
            first = await create_decision(
                session,
                task_id=inp.task_id,
                project_code=inp.project_code,
                decision=inp.decision,
                opinion=inp.opinion,
                decided_by=inp.actor.user_id,
                from_stage=inp.from_stage,
                to_stage=inp.to_stage,
                decided_at=inp.decided_at,
            )
            if first:
                await update_project_stage(
                    session,
                    code=inp.project_code,
                    stage=inp.to_stage,
                    status=TERMINAL_STATUS.get(inp.to_stage),
                )
                await create_audit_entry(
                    session,
                    chain=project_chain(inp.project_code),
                    action="decision",
                    event_key=f"decision:{inp.task_id}",
                    payload={
                        "task_id": inp.task_id,
                        "decision": inp.decision,
                        "opinion": inp.opinion,
                        "role": inp.actor.role,
                        "from": inp.from_stage,
                        "to": inp.to_stage,
                    },
                    actor_id=inp.actor.user_id,
                    actor_name=inp.actor.username,
                    at=inp.decided_at,
                )
        log.info("decision recorded", task_id=inp.task_id, decision=inp.decision, first=first)
        return DecisionResult(task_id=inp.task_id, decision=inp.decision, stage=inp.to_stage)

    @activity.defn
    async def change_stage(self, inp: StageChange) -> None:
        """Move a project's stage outside a decision (idempotent: audited once per transition key)."""
        async with self._sessions.begin() as session:
            project = await session.get(Project, inp.project_code, with_for_update=True)
            if project is None:
                raise ApplicationError(f"project {inp.project_code} not found", type="NotFound", non_retryable=True)
            await create_audit_entry(
                session,
                chain=project_chain(inp.project_code),
                action="stage_changed",
                event_key=f"stage:{inp.project_code}:{inp.from_stage}->{inp.to_stage}@{inp.at.isoformat()}",
                payload={"from": inp.from_stage, "to": inp.to_stage, "reason": inp.reason},
                at=inp.at,
            )
            await update_project_stage(
                session, code=inp.project_code, stage=inp.to_stage, status=TERMINAL_STATUS.get(inp.to_stage)
            )
