"""Activities of the project lifecycle: tasks, decisions and stages in the read model, each one transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.archives import refresh_project
from core.calendar import is_china_workday
from db.engine import Sessions
from db.models import AuditHead, Project, Task
from db.repositories.attachments import create_attachment_links
from db.repositories.audit import (
    AUDIT_BATCH,
    NewEntry,
    Rider,
    append_audit_entries,
    append_or_batch,
    project_chain,
    remember_locked_head,
)
from db.repositories.construction import get_last_progress, update_completion, update_project_assets
from db.repositories.notifications import (
    EVENT_BATCH,
    EVENTS_RESULT,
    EVENTS_SQL,
    RECORD_EVENTS,
    events_param,
    list_users_covering,
    note_event,
)
from db.repositories.projects import (
    clear_project_waiting,
    decide_and_move,
    update_project_fields,
    update_project_stage,
)
from db.repositories.reviews import update_objection
from db.repositories.tasks import create_task, decision_params, update_tasks_owner
from domain.application import yield_is_unusual
from domain.archives import stage_recolours
from domain.enums import Stage, TaskKind, TaskStatus
from domain.notifications import EventKind
from domain.payloads import (
    Actor,
    AdoptTasksInput,
    BlockedStep,
    DecisionResult,
    OpenedTask,
    OpenTaskInput,
    PhaseEntry,
    RecordDecisionInput,
    StageChange,
)
from domain.workdays import due_at

log = structlog.get_logger(__name__)
BLOCKED_PREFIX = "operator: "
"""`waiting_for` of a project whose workflow waits for an operator to retry a step."""
TERMINAL_STATUS = {Stage.REJECTED.value: "rejected", Stage.CLOSED.value: "closed"}
# decisions the project's manager (its applicant) hears of
DECISION_EVENTS = {
    "approve": EventKind.DECISION_APPROVED,
    "return": EventKind.DECISION_RETURNED,
    "reject": EventKind.DECISION_REJECTED,
}


# built once (a statement's construction costs more Python time than its run): the project and its audit head
LOCK_PROJECT_AND_HEAD = (
    select(Project, AuditHead.seq, AuditHead.hash)
    .join(AuditHead, AuditHead.chain == bindparam("chain"))
    .where(Project.code == bindparam("code"))
    .with_for_update()
    .execution_options(populate_existing=True)
)


async def locked_project(session: AsyncSession, code: str) -> Project:
    """The project row, locked for this transaction (one writer per project at a time); unknown is permanent.

    In an activity's first attempt the project's audit head is locked in the same statement (the head's lock is
    what serialises the chain's writers, and every activity that locks a project appends to its chain), so the
    audit entries are appended at the end in one statement. A retry locks the head when it appends, after looking
    up which of its entries an earlier attempt stored."""
    chain = project_chain(code)
    if activity.in_activity() and activity.info().attempt == 1:
        row = (await session.execute(LOCK_PROJECT_AND_HEAD, {"chain": chain, "code": code})).first()
        if row is not None:
            remember_locked_head(session, chain, int(row.seq), str(row.hash))
            locked: Project = row[0]
            return locked
    project = await session.get(Project, code, with_for_update=True)
    if project is None:
        raise ApplicationError(f"project {code} not found", type="NotFound", non_retryable=True)
    return project


def calling_workflow_id() -> str:
    """The id of the workflow running this activity: it owns what the activity records (tasks, the phase)."""
    workflow_id = activity.info().workflow_id
    if workflow_id is None:
        raise ApplicationError(
            "this activity records a workflow's step: run it from a workflow", type="NoWorkflow", non_retryable=True
        )
    return workflow_id


@asynccontextmanager
async def transaction(sessions: Sessions) -> AsyncIterator[AsyncSession]:
    """One activity's transaction: the audit entries it makes are written together just before it commits."""
    async with sessions.begin() as session:
        batch: list[tuple[str, NewEntry]] = []
        events: list[dict[str, Any]] = []
        session.info[AUDIT_BATCH] = batch
        session.info[EVENT_BATCH] = events
        yield session
        session.info.pop(AUDIT_BATCH, None)
        session.info.pop(EVENT_BATCH, None)
        chains: dict[str, list[NewEntry]] = {}
        for chain, entry in batch:
            chains.setdefault(chain, []).append(entry)
        # the events ride on the last chain's append: one statement for both
        rider = Rider(EVENTS_SQL, EVENTS_RESULT, {"events": events_param(events)}) if events else None
        for i, (chain, entries) in enumerate(chains.items()):
            await append_audit_entries(
                session, chain=chain, entries=entries, rider=rider if i == len(chains) - 1 else None
            )
        if rider is not None:
            answer = rider.answer
            if answer is None:  # no entry was new (nothing to append): the events alone
                answer = (await session.execute(RECORD_EVENTS, rider.params)).one()
            if answer.events_new:
                log.info("notification events", new=answer.events_new, in_app=answer.in_app, outbox=answer.outbox)


async def audit(
    session: AsyncSession,
    code: str,
    *,
    action: str,
    event_key: str,
    payload: dict[str, Any],
    at: datetime,
    actor: Actor | None = None,
) -> None:
    """Append to the project's hash-chained audit log, once per event key; `actor` None is the system. Inside a
    `transaction` the entry is written with the transaction's others when it ends; otherwise at once."""
    entry = NewEntry(
        action=action,
        event_key=event_key,
        payload=payload,
        actor_id=actor.user_id if actor else None,
        actor_name=actor.username if actor else "system",
        at=at,
    )
    await append_or_batch(session, chain=project_chain(code), entry=entry)


class ProjectActivities:
    """Writes the project read model on behalf of the project's workflows (lifecycle, project and phases)."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    @activity.defn
    async def open_task(self, inp: OpenTaskInput) -> OpenedTask:
        """Record a human step (idempotent by task id), move the stage to it, and audit both."""
        async with transaction(self._sessions) as session:
            task = await open_task_in(session, inp, workflow_id=calling_workflow_id())
        log.info("task opened", task_id=inp.task_id, kind=inp.kind, due_at=task.due_at.isoformat())
        return opened_task(task)

    @activity.defn
    async def record_decision(self, inp: RecordDecisionInput) -> DecisionResult:
        """Store the decision, close the task, move the stage and audit it: one transaction, once per task."""
        async with transaction(self._sessions) as session:
            project = await locked_project(session, inp.project_code)
            # the decision, the task closed, the stage moved with the overdue flag and colour: one statement
            first = await decide_and_move(
                session,
                code=inp.project_code,
                decision=decision_params(
                    task_id=inp.task_id,
                    project_code=inp.project_code,
                    decision=inp.decision,
                    opinion=inp.opinion,
                    decided_by=inp.actor.user_id,
                    from_stage=inp.from_stage,
                    to_stage=inp.to_stage,
                    decided_at=inp.decided_at,
                    details=inp.details,
                ),
                stage=inp.to_stage,
                status=TERMINAL_STATUS.get(inp.to_stage),
            )
            if first:
                await create_attachment_links(session, task_id=inp.task_id, shas=inp.details.get("attachments", []))
                if inp.kind == TaskKind.OBJECTION and inp.details.get("objection_id"):
                    await update_objection(
                        session,
                        objection_id=str(inp.details["objection_id"]),
                        status="upheld" if inp.decision == "uphold" else "dismissed",
                        resolution=inp.opinion,
                        resolved_by=inp.actor.user_id,
                        at=inp.decided_at,
                    )
                if inp.kind == TaskKind.ACCEPTANCE and inp.details.get("completion_id"):
                    await update_completion(
                        session,
                        completion_id=str(inp.details["completion_id"]),
                        values={
                            "status": "accepted" if inp.decision == "accept" else "rectify",
                            "rectify_items": list(inp.details.get("rectify_items", [])),
                            "task_id": inp.task_id,
                        },
                    )
                    if inp.decision != "accept":
                        # construction reopens: the completion's figures no longer stand
                        last = await get_last_progress(session, project_code=inp.project_code)
                        await update_project_fields(
                            session,
                            code=inp.project_code,
                            values={
                                "final_cost_fen": None,
                                "completion_date": None,
                                "progress_percent": last.percent if last else 0,
                            },
                        )
                if inp.kind == TaskKind.CONFIRM_REGISTRATION:
                    status = "confirmed" if inp.decision == "confirm" else "draft"
                    await update_project_assets(
                        session, project_code=inp.project_code, values={"registration_status": status}
                    )
                await audit(
                    session,
                    inp.project_code,
                    action="decision",
                    event_key=f"decision:{inp.task_id}",
                    payload={
                        "task_id": inp.task_id,
                        "kind": inp.kind or "township_review",
                        "decision": inp.decision,
                        "opinion": inp.opinion,
                        "role": inp.actor.role,
                        "from": inp.from_stage,
                        "to": inp.to_stage,
                        **inp.details,
                    },
                    actor=inp.actor,
                    at=inp.decided_at,
                )
                if (event := DECISION_EVENTS.get(inp.decision)) is not None:
                    await note_event(
                        session,
                        kind=event,
                        key=f"decision:{inp.task_id}",
                        params=project_params(project)
                        | {"level": inp.kind or "township_review", "opinion": inp.opinion},
                        user_ids=[project.applicant_id],
                        region_code=project.village_code,
                        project_code=inp.project_code,
                        task_id=inp.task_id,
                        at=inp.decided_at,
                    )
        log.info("decision recorded", task_id=inp.task_id, decision=inp.decision, first=first)
        return DecisionResult(task_id=inp.task_id, decision=inp.decision, stage=inp.to_stage)

    @activity.defn
    async def change_stage(self, inp: StageChange) -> None:
        """Move a project's stage outside a decision (idempotent: audited once per transition key)."""
        async with transaction(self._sessions) as session:
            await locked_project(session, inp.project_code)
            await move_stage(session, inp)

    @activity.defn
    async def enter_phase(self, inp: PhaseEntry) -> None:
        """The calling phase workflow takes the project's Updates from now on; its start is audited once, and the
        stage moves to `inp.stage` (audited as `change_stage` does) unless it is there already or not given."""
        workflow_id = calling_workflow_id()
        async with transaction(self._sessions) as session:
            project = await locked_project(session, inp.project_code)
            await update_project_fields(session, code=inp.project_code, values={"phase_workflow_id": workflow_id})
            await audit(
                session,
                inp.project_code,
                action="phase_started",
                event_key=f"phase_started:{workflow_id}",
                payload={"phase": inp.phase, "workflow_id": workflow_id},
                at=inp.at,
            )
            if inp.stage and project.stage != inp.stage:
                reason = inp.reason or f"{inp.phase} phase started"
                change = StageChange(
                    project_code=inp.project_code,
                    from_stage=project.stage,
                    to_stage=inp.stage,
                    at=inp.at,
                    reason=reason,
                )
                await move_stage(session, change)
        log.info("phase entered", project_code=inp.project_code, phase=inp.phase, workflow_id=workflow_id)

    @activity.defn
    async def adopt_tasks(self, inp: AdoptTasksInput) -> None:
        """Hand the project's still open tasks among `inp.task_ids` to the calling workflow: their decisions go to it
        from now on. The hand-over is audited once; tasks decided or cancelled meanwhile stay with their owner."""
        workflow_id = calling_workflow_id()
        async with transaction(self._sessions) as session:
            await locked_project(session, inp.project_code)
            adopted = await update_tasks_owner(
                session, project_code=inp.project_code, task_ids=inp.task_ids, workflow_id=workflow_id
            )
            if adopted:
                await audit(
                    session,
                    inp.project_code,
                    action="tasks_handed_over",
                    event_key=f"tasks_handed_over:{workflow_id}@{inp.at.isoformat()}",
                    payload={"task_ids": adopted, "workflow_id": workflow_id},
                    at=inp.at,
                )
        log.info("tasks adopted", project_code=inp.project_code, task_ids=adopted, workflow_id=workflow_id)

    @activity.defn
    async def mark_blocked(self, inp: BlockedStep) -> None:
        """Show what a blocked project waits for (an operator's retry), or clear it; audited once per event."""
        cleared_at = datetime.now(UTC)
        async with transaction(self._sessions) as session:
            await locked_project(session, inp.project_code)
            if inp.cleared:
                await clear_project_waiting(session, code=inp.project_code, prefix=BLOCKED_PREFIX)
            else:
                text = f"{BLOCKED_PREFIX}{inp.step} failed since {inp.since:%Y-%m-%d %H:%M} UTC — {inp.error}"
                await update_project_fields(session, code=inp.project_code, values={"waiting_for": text[:200]})
            await audit(
                session,
                inp.project_code,
                action="step_unblocked" if inp.cleared else "step_blocked",
                event_key=f"blocked:{inp.step}:{inp.since.isoformat()}:{'cleared' if inp.cleared else 'set'}",
                payload={"step": inp.step, "error": inp.error, "permanent": inp.permanent},
                at=cleared_at if inp.cleared else inp.since,
            )
        log.warning("step blocked" if not inp.cleared else "step unblocked", step=inp.step, error=inp.error)


async def move_stage(session: AsyncSession, change: StageChange) -> None:
    """Audit a stage change (once per transition and moment: a retried activity audits it once) and make it; a
    terminal stage closes the project's status. The caller holds the project's lock."""
    await audit(
        session,
        change.project_code,
        action="stage_changed",
        event_key=f"stage:{change.project_code}:{change.from_stage}->{change.to_stage}@{change.at.isoformat()}",
        payload={"from": change.from_stage, "to": change.to_stage, "reason": change.reason},
        at=change.at,
    )
    await update_project_stage(
        session, code=change.project_code, stage=change.to_stage, status=TERMINAL_STATUS.get(change.to_stage)
    )
    if stage_recolours(change.from_stage, change.to_stage):
        await refresh_project(session, change.project_code, change.at)
    await notify_stage(session, change.project_code, change.from_stage, change.to_stage, change.at)


async def notify_stage(session: AsyncSession, code: str, from_stage: str, to_stage: str, at: datetime) -> None:
    """The project's manager hears of a stage change (a digest line by default); the caller holds the lock."""
    project = await session.get(Project, code)
    if project is None or from_stage == to_stage:
        return
    await note_event(
        session,
        kind=EventKind.STAGE_CHANGED,
        key=f"stage:{code}:{from_stage}->{to_stage}@{at.isoformat()}",
        params=project_params(project) | {"from_stage": from_stage, "to_stage": to_stage},
        user_ids=[project.applicant_id],
        region_code=project.village_code,
        project_code=code,
        at=at,
    )


def opened_task(task: Task) -> OpenedTask:
    """The workflow's view of a stored task."""
    return OpenedTask(
        task_id=task.id,
        kind=task.kind,
        stage=task.stage,
        candidate_role=task.candidate_role,
        region_code=task.region_code,
        allowed_decisions=list(task.allowed_decisions),
        due_at=task.due_at,
        assignee_id=task.assignee_id,
        escalate_at=task.escalate_at,
        details=dict(task.details),
        claimed_by=task.claimed_by,
    )


async def open_task_in(session: AsyncSession, inp: OpenTaskInput, *, workflow_id: str) -> Task:
    """Record a task (idempotent by id) inside the caller's transaction, move the stage to it, audit both;
    `workflow_id` (the calling workflow's) is the task's owner, where its decision is sent."""
    zone = ZoneInfo(inp.time_zone)
    due = due_at(inp.opened_at, inp.working_days, is_china_workday, zone)
    # "past twice the limit": twice the working days, counted on the same calendar
    escalate = due_at(inp.opened_at, 2 * inp.working_days, is_china_workday, zone)
    project = await locked_project(session, inp.project_code)
    details = dict(inp.details)
    if inp.kind == TaskKind.EXPERT_REVIEW:
        yield_percent = float(project.application.get("revenue", {}).get("expected_yield_percent", 0))
        if yield_is_unusual(yield_percent):
            details["flags"] = [f"expected yield {yield_percent:g} % a year lies outside the usual 5–10 %"]
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
            "escalate_at": escalate,
            "assignee_id": inp.assignee_id,
            "details": details,
            "workflow_id": workflow_id,
        },
    )
    if details.get("attachments"):
        # the files a task shows (a proposed contract's) become readable to those who may see the task
        await create_attachment_links(session, task_id=inp.task_id, shas=[str(s) for s in details["attachments"]])
    if project.stage != inp.stage:
        await audit(
            session,
            inp.project_code,
            action="stage_changed",
            event_key=f"stage:{inp.task_id}",
            payload={"from": project.stage, "to": inp.stage, "reason": f"task {inp.kind} opened"},
            at=inp.opened_at,
        )
        await notify_stage(session, inp.project_code, project.stage, inp.stage, inp.opened_at)
        await update_project_stage(session, code=inp.project_code, stage=inp.stage)
    moved = project.stage != inp.stage and stage_recolours(project.stage, inp.stage)
    if moved or inp.kind == TaskKind.PLATFORM_REJECTED:
        await refresh_project(session, inp.project_code, inp.opened_at)  # a stage, or a refused record, recolours
    await audit(
        session,
        inp.project_code,
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
    # the assignee, or everyone of the role in the task's region, hears of a new task in their inbox
    if inp.assignee_id is not None:
        recipients = [inp.assignee_id]
    else:
        recipients = [u.id for u in await list_users_covering(session, role=inp.candidate_role, code=inp.region_code)]
    await note_event(
        session,
        kind=EventKind.TASK_OPENED,
        key=f"task_opened:{inp.task_id}",
        params=project_params(project) | {"task_kind": inp.kind, "due": local_time(task.due_at, zone)},
        user_ids=recipients,
        region_code=project.village_code,
        project_code=inp.project_code,
        task_id=inp.task_id,
        at=inp.opened_at,
    )
    return task


def local_time(at: datetime, zone: ZoneInfo | None = None) -> str:
    """A moment as people read it where the projects are."""
    return f"{at.astimezone(zone or ZoneInfo('Asia/Shanghai')):%Y-%m-%d %H:%M}"


def project_params(project: Project) -> dict[str, str | int]:
    """A project's params for a notification: its code and name (never its households)."""
    return {"project_code": project.code, "project_name": project.name}
