"""The task inbox and decisions (sent to the workflow as an Update)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Query
from sqlalchemy import select
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import CurrentUser, Principal, SessionDep, SessionsDep, TemporalDep
from api.errors import ApiError, conflict, forbidden, invalid, not_found
from api.schemas import DecisionIn, DecisionPublic, TaskPublic, TasksPublic
from db.models import Project, Task
from db.repositories.projects import get_project
from db.repositories.tasks import get_task, list_inbox
from domain.audit import canonical_json
from domain.enums import Role, TaskStatus
from domain.payloads import Actor, SubmitDecisionInput
from workflows.project_lifecycle import DecisionRefused, ProjectLifecycleWorkflow

router = APIRouter(prefix="/tasks", tags=["tasks"])
log = structlog.get_logger("api.tasks")
OVERSEERS = (Role.SUPERVISOR, Role.ADMIN)
# How a refusal from the workflow's validator reaches the client: status, code and, for 422, the field.
REFUSAL_STATUS: dict[str, tuple[int, str, str]] = {
    DecisionRefused.TASK_NOT_OPEN: (409, "task_not_open", ""),
    DecisionRefused.NOT_ELIGIBLE: (403, "not_eligible", ""),
    DecisionRefused.SEPARATION_OF_DUTIES: (403, "separation_of_duties", ""),
    DecisionRefused.INVALID_DECISION: (422, "allowed_decision", "decision"),
    DecisionRefused.OPINION_REQUIRED: (422, "required", "opinion"),
}


def task_public(t: Task, now: datetime, project_name: str | None = None) -> TaskPublic:
    """The public view of a task."""
    return TaskPublic(
        id=t.id,
        project_code=t.project_code,
        project_name=project_name,
        kind=t.kind,
        stage=t.stage,
        round=t.round,
        candidate_role=t.candidate_role,
        region_code=t.region_code,
        allowed_decisions=list(t.allowed_decisions),
        status=t.status,
        opened_at=t.opened_at,
        due_at=t.due_at,
        overdue=t.status == TaskStatus.OPEN.value and t.due_at < now,
        decided_by=t.decided_by,
        decided_at=t.decided_at,
        decision=t.decision,
    )


def _may_decide(user: Principal, task: Task) -> bool:
    return user.role.value == task.candidate_role and user.covers(task.region_code)


@router.get("", response_model=TasksPublic)
async def inbox(
    user: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> TasksPublic:
    """My inbox: open tasks my role may decide in my region, soonest due first (我的待办)."""
    rows = await list_inbox(session, role=user.role.value, region_prefix=user.region_prefix, limit=limit, offset=offset)
    query = select(Project.code, Project.name).where(Project.code.in_({t.project_code for t in rows}))
    names = {code: name for code, name in await session.execute(query)}
    now = datetime.now(UTC)
    return TasksPublic(items=[task_public(t, now, names.get(t.project_code)) for t in rows], count=len(rows))


async def _visible_task(session: SessionDep, user: Principal, task_id: str) -> tuple[Task, Project]:
    task = await get_task(session, task_id=task_id)
    project = await get_project(session, code=task.project_code) if task else None
    if task is None or project is None:
        raise not_found(f"task {task_id}")
    if not user.covers(task.region_code):
        raise forbidden("this task belongs to a region outside yours", "region_forbidden")
    if not (_may_decide(user, task) or user.role in OVERSEERS or user.id == project.applicant_id):
        raise forbidden(f"only a {task.candidate_role} (or a supervisor) may see this task", "role_forbidden")
    return task, project


@router.get("/{task_id}", response_model=TaskPublic)
async def detail(task_id: str, user: CurrentUser, session: SessionDep) -> TaskPublic:
    """One task (任务详情)."""
    task, project = await _visible_task(session, user, task_id)
    return task_public(task, datetime.now(UTC), project.name)


@router.post("/{task_id}/decision", response_model=DecisionPublic)
async def decide(
    task_id: str,
    body: DecisionIn,
    user: CurrentUser,
    session: SessionDep,
    sessions: SessionsDep,
    temporal: TemporalDep,
) -> DecisionPublic:
    """Decide a task: approve, return for revision (退回修改) or reject (不予立项); answers with the new stage."""
    task, project = await _visible_task(session, user, task_id)
    if not _may_decide(user, task):
        raise forbidden(
            f"only a {task.candidate_role} of region {task.region_code} may decide this task", "not_eligible"
        )
    if user.id == project.applicant_id:
        raise forbidden("the applicant may not decide their own project", "separation_of_duties")
    if task.status == TaskStatus.DECIDED.value and task.decided_by == user.id and task.decision == body.decision.value:
        # A retry of a decision whose answer was lost: the decision stands, answer as the first time.
        return DecisionPublic(task_id=task_id, decision=task.decision, stage=project.stage)
    if task.status != TaskStatus.OPEN.value:
        raise conflict("task_not_open", f"this task is {task.status}", {"decided_by": task.decided_by})
    actor = Actor(
        user_id=user.id,
        username=user.username,
        role=user.role.value,
        region_code=user.region_code,
        region_level=user.region_level.value,
    )
    # A retried request (same user, same body) reuses the update id, so Temporal returns the first result.
    digest = hashlib.sha256(canonical_json(body.model_dump(mode="json")).encode()).hexdigest()[:16]
    handle = temporal.get_workflow_handle_for(ProjectLifecycleWorkflow.run, project.workflow_id)
    try:
        await handle.execute_update(
            ProjectLifecycleWorkflow.submit_decision,
            SubmitDecisionInput(task_id=task_id, decision=body.decision.value, opinion=body.opinion, actor=actor),
            id=f"decision-{task_id}-{user.id}-{digest}",
        )
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type in REFUSAL_STATUS:
            status, code, field = REFUSAL_STATUS[cause.type]
            if field:
                raise invalid([{"field": field, "rule": code, "message": cause.message}]) from err
            raise ApiError(status, code, cause.message) from err
        raise
    except WorkflowUpdateRPCTimeoutOrCancelledError as err:
        raise ApiError(504, "decision_timeout", "the decision was not confirmed in time; retry it") from err
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise conflict(
                "task_not_open", "the project's process has ended; this task can no longer be decided"
            ) from err
        raise
    async with sessions() as fresh:
        stored = await fresh.get(Project, project.code)
        decided = await fresh.get(Task, task_id)
    assert stored is not None
    assert decided is not None
    log.info("task decided", task_id=task_id, decision=decided.decision, stage=stored.stage)
    return DecisionPublic(task_id=task_id, decision=decided.decision or body.decision.value, stage=stored.stage)
