"""Tasks (the inbox read model) and decisions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import CTE, Select, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from db.models import DecisionRecord, Notification, Task, table_of
from db.repositories.notifications import resolve_task_notifications
from domain.enums import TaskStatus

# The insert of a task for each set of columns given, built once with bound parameters (t_<column>)
_CREATE_TASK: dict[tuple[str, ...], ReturningInsert[Task]] = {}


async def create_task(session: AsyncSession, *, values: dict[str, Any]) -> Task:
    """Insert a task unless its id exists (activity retries), and return the stored row (one statement when new)."""
    columns = tuple(sorted(values))
    stmt = _CREATE_TASK.get(columns)
    if stmt is None:
        stmt = (
            insert(Task)
            .values({c: bindparam(f"t_{c}") for c in columns})
            .on_conflict_do_nothing(index_elements=[Task.id])
            .returning(Task)
        )
        _CREATE_TASK[columns] = stmt
    params = {f"t_{c}": v for c, v in values.items()}
    stored = await session.execute(stmt, params, execution_options={"populate_existing": True})
    task: Task | None = stored.scalar_one_or_none()
    if task is None:
        task = await session.get(Task, values["id"], populate_existing=True)
    assert task is not None
    return task


async def get_task(session: AsyncSession, *, task_id: str) -> Task | None:
    """One task by id."""
    return await session.get(Task, task_id)


# The inbox's statement for each combination of filters, built once: a poll binds its values and runs it (building
# the statement anew costs more Python time than running it). Keyed by which optional filters are present.
_INBOX: dict[tuple[bool, ...], Select[Task]] = {}


def _inbox_statement(kind: bool, project: bool, overdue: bool | None, due_before: bool, claimed: bool) -> Select[Task]:
    key = (kind, project, overdue is True, overdue is False, due_before, claimed)
    found = _INBOX.get(key)
    if found is not None:
        return found
    stmt = select(Task).where(
        Task.status == bindparam("status"),
        Task.candidate_role == bindparam("role"),
        or_(
            and_(Task.assignee_id.is_(None), Task.region_code.startswith(bindparam("region_prefix"))),
            Task.assignee_id == bindparam("user_id"),
        ),
    )
    if kind:
        stmt = stmt.where(Task.kind == bindparam("kind"))
    if project:
        stmt = stmt.where(Task.project_code == bindparam("project_code"))
    if overdue is not None:
        stmt = stmt.where(Task.due_at < bindparam("now") if overdue else Task.due_at >= bindparam("now"))
    if due_before:
        stmt = stmt.where(Task.due_at < bindparam("due_before"))
    if claimed:
        stmt = stmt.where(Task.claimed_by == bindparam("claimed_by"))
    stmt = stmt.order_by(Task.due_at, Task.id).limit(bindparam("limit")).offset(bindparam("offset"))
    _INBOX[key] = stmt
    return stmt


async def list_inbox(
    session: AsyncSession,
    *,
    user_id: int,
    role: str,
    region_prefix: str,
    status: str = TaskStatus.OPEN,
    kind: str | None = None,
    project_code: str | None = None,
    overdue: bool | None = None,
    now: datetime | None = None,
    due_before: datetime | None = None,
    claimed_by: int | None = None,
    limit: int,
    offset: int,
) -> tuple[Sequence[Task], int]:
    """Tasks this user may decide: their role inside their region, unassigned or assigned to them; soonest due first."""
    if now is None:
        overdue = None
    stmt = _inbox_statement(bool(kind), bool(project_code), overdue, due_before is not None, claimed_by is not None)
    params: dict[str, Any] = {
        "status": status,
        "role": role,
        "region_prefix": region_prefix,
        "user_id": user_id,
        "kind": kind,
        "project_code": project_code,
        "now": now,
        "due_before": due_before,
        "claimed_by": claimed_by,
        "limit": limit,
        "offset": offset,
    }
    rows = (await session.scalars(stmt, params)).all()
    if len(rows) < limit and (rows or offset == 0):
        return rows, offset + len(rows)  # the last page: the total is known without counting
    counted = select(func.count()).select_from(stmt.limit(None).offset(None).order_by(None).subquery())
    total = await session.scalar(counted, params)
    return rows, int(total or 0)


async def list_project_tasks(session: AsyncSession, *, project_code: str, status: str | None = None) -> Sequence[Task]:
    """A project's tasks, oldest first."""
    stmt = select(Task).where(Task.project_code == project_code)
    if status:
        stmt = stmt.where(Task.status == status)
    return (await session.scalars(stmt.order_by(Task.opened_at, Task.id))).all()


async def list_seat_rounds(session: AsyncSession, *, project_code: str) -> dict[str, int]:
    """The review round of each expert seat (expert_review task) of a project, by task id."""
    stmt = select(Task.id, Task.round).where(Task.project_code == project_code, Task.kind == "expert_review")
    return {task_id: round_ for task_id, round_ in await session.execute(stmt)}


def decision_params(
    *,
    task_id: str,
    project_code: str,
    decision: str,
    opinion: str,
    decided_by: int,
    from_stage: str,
    to_stage: str,
    decided_at: datetime,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The values DECIDED binds: a decision on a task."""
    return {
        "d_task_id": task_id,
        "d_project_code": project_code,
        "d_decision": decision,
        "d_opinion": opinion,
        "d_decided_by": decided_by,
        "d_from_stage": from_stage,
        "d_to_stage": to_stage,
        "d_decided_at": decided_at,
        "d_details": details or {},
    }


def _decided() -> CTE:
    # Core tables, not the ORM classes: the statements it joins run as plain Core (no ORM DML handling per call)
    decisions, tasks, notifications = table_of(DecisionRecord), table_of(Task), table_of(Notification)
    recorded = (
        insert(decisions)
        .values(
            task_id=bindparam("d_task_id"),
            project_code=bindparam("d_project_code"),
            decision=bindparam("d_decision"),
            opinion=bindparam("d_opinion"),
            decided_by=bindparam("d_decided_by"),
            from_stage=bindparam("d_from_stage"),
            to_stage=bindparam("d_to_stage"),
            decided_at=bindparam("d_decided_at"),
            details=bindparam("d_details"),
        )
        .on_conflict_do_nothing(index_elements=[decisions.c.task_id])
        .returning(decisions.c.task_id)
        .cte("recorded")
    )
    closed = (
        update(tasks)
        .where(tasks.c.id.in_(select(recorded.c.task_id)))
        .values(
            status=TaskStatus.DECIDED.value,
            decided_by=bindparam("d_decided_by"),
            decided_at=bindparam("d_decided_at"),
            decision=bindparam("d_decision"),
        )
        .returning(tasks.c.id)
        .cte("closed")
    )
    # the in-app items about the task are resolved with it (no longer unread), in the same statement
    resolved = (
        update(notifications)
        .where(notifications.c.task_id.in_(select(closed.c.id)), notifications.c.resolved_at.is_(None))
        .values(resolved_at=bindparam("d_decided_at"))
        .returning(notifications.c.task_id)
        .cte("resolved")
    )
    return select(closed.c.id).add_cte(resolved).cte("decided")


DECIDED = _decided()
"""A CTE that records a decision and closes its task, returning the task's id only when the decision is new (for a
statement that must change more only then: db.repositories.projects.decide_and_move); its values are bound
(`decision_params`). Built once: constructing it costs more Python time than running it."""
_CREATE_DECISION = select(DECIDED.c.id)


async def create_decision(
    session: AsyncSession,
    *,
    task_id: str,
    project_code: str,
    decision: str,
    opinion: str,
    decided_by: int,
    from_stage: str,
    to_stage: str,
    decided_at: datetime,
    details: dict[str, Any] | None = None,
) -> bool:
    """Record a decision, close its task and resolve its in-app items, in one statement; False when this task
    already has one (a retry)."""
    params = decision_params(
        task_id=task_id,
        project_code=project_code,
        decision=decision,
        opinion=opinion,
        decided_by=decided_by,
        from_stage=from_stage,
        to_stage=to_stage,
        decided_at=decided_at,
        details=details,
    )
    # a plain statement, not an ORM bulk update: no session objects to synchronise, the row is ours
    result = await session.execute(_CREATE_DECISION, params, execution_options={"synchronize_session": False})
    return result.first() is not None


async def update_task(session: AsyncSession, *, task_id: str, values: dict[str, Any]) -> None:
    """Change columns of one task (claims, reassignment, reminders)."""
    await session.execute(update(Task).where(Task.id == task_id).values(**values))


async def update_tasks_owner(
    session: AsyncSession, *, project_code: str, task_ids: Sequence[str], workflow_id: str
) -> list[str]:
    """Make `workflow_id` the owner of those of a project's tasks that are still open and owned elsewhere; returns
    the ids that changed hands (decided or cancelled tasks keep the owner that closed them)."""
    result = await session.execute(
        update(Task)
        .where(
            Task.id.in_(list(task_ids)),
            Task.project_code == project_code,
            Task.status == TaskStatus.OPEN.value,
            Task.workflow_id.is_distinct_from(workflow_id),
        )
        .values(workflow_id=workflow_id)
        .returning(Task.id)
    )
    return sorted(result.scalars())


async def cancel_tasks(session: AsyncSession, *, task_ids: Sequence[str], at: datetime) -> int:
    """Close open tasks whose step was abandoned; decided tasks stay as they are."""
    result = await session.execute(
        update(Task)
        .where(Task.id.in_(list(task_ids)), Task.status == TaskStatus.OPEN.value)
        .values(status=TaskStatus.CANCELLED.value, decided_at=at)
        .returning(Task.id)
    )
    closed = list(result.scalars())
    await resolve_task_notifications(session, task_ids=closed, at=at)
    return len(closed)


async def list_project_decisions(session: AsyncSession, *, project_code: str) -> Sequence[DecisionRecord]:
    """A project's decisions in order."""
    stmt = select(DecisionRecord).where(DecisionRecord.project_code == project_code).order_by(DecisionRecord.decided_at)
    return (await session.scalars(stmt)).all()
