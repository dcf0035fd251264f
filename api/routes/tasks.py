"""The task inbox: list, detail, decisions, claims and reassignment (each sent to the workflow as an Update)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Query
from pydantic import AwareDatetime
from sqlalchemy import bindparam, select

from api.access import may_see
from api.deps import CurrentUser, Principal, SessionDep, SessionsDep, TemporalDep
from api.edge import CodePath, EdgeRoute, Offset
from api.errors import ApiError, conflict, forbidden, invalid, not_found
from api.schemas import DecisionIn, DecisionPublic, ReassignIn, TaskChangePublic, TaskPublic, TasksPublic
from api.task_facts import PANEL_SEAT_FIELDS, complete_rounds, conceals_seat, task_facts
from api.updates import actor_for, body_digest, execute_update, task_owner
from db.models import DecisionRecord, Project, Region, Task, User
from db.repositories.attachments import attachments_exist, list_uploaded_by
from db.repositories.experts import get_expert_by_user
from db.repositories.projects import get_project
from db.repositories.tasks import get_task, list_inbox
from domain.enums import RegionLevel, Role, TaskKind, TaskStatus, UpdateName
from domain.lifecycle import decision_payload_help, may_intervene
from domain.payloads import Actor, ClaimInput, DecisionResult, ReassignInput, SubmitDecisionInput, TaskChange

router = APIRouter(prefix="/tasks", tags=["tasks"], route_class=EdgeRoute)
log = structlog.get_logger("api.tasks")


def task_public(
    t: Task,
    now: datetime,
    project_name: str | None = None,
    *,
    facts: dict[str, Any] | None = None,
    conceal: bool = False,
) -> TaskPublic:
    """The public view of a task; `conceal` hides who holds an expert seat (see api/task_facts.py)."""
    details = dict(t.details or {})
    if conceal:
        details = {k: v for k, v in details.items() if k not in PANEL_SEAT_FIELDS}
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
        decided_by=None if conceal else t.decided_by,
        decided_at=t.decided_at,
        decision=t.decision,
        escalate_at=t.escalate_at,
        escalated=t.escalated_at is not None,
        assignee_id=None if conceal else t.assignee_id,
        claimed_by=None if conceal else t.claimed_by,
        claimed_at=t.claimed_at,
        details=details,
        decision_help=decision_payload_help(t.kind) if t.status == TaskStatus.OPEN.value else {},
        facts=facts or {},
    )


@router.get("", response_model=TasksPublic)
async def inbox(
    user: CurrentUser,
    session: SessionDep,
    kind: Annotated[TaskKind | None, Query(description="任务类型 / task kind")] = None,
    project: Annotated[str | None, Query(max_length=32, description="项目编号 / project code")] = None,
    overdue: Annotated[bool | None, Query(description="仅超期 / only tasks past due")] = None,
    due_before: Annotated[
        AwareDatetime | None, Query(description="期限早于（含时区）/ due before (ISO 8601 with a time zone)")
    ] = None,
    mine: Annotated[bool, Query(description="仅我认领的 / only tasks I claimed")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> TasksPublic:
    """My inbox: open tasks my role may decide in my region or assigned to me, soonest due first (我的待办)."""
    now = datetime.now(UTC)
    rows, total = await list_inbox(
        session,
        user_id=user.id,
        role=user.role.value,
        region_prefix=user.region_prefix,
        kind=kind.value if kind else None,
        project_code=project,
        overdue=overdue,
        now=now,
        due_before=due_before,
        claimed_by=user.id if mine else None,
        limit=limit,
        offset=offset,
    )
    if not rows:  # an empty inbox (the common answer to a poll) needs no further reads
        return TasksPublic(items=[], count=total)
    query = select(Project.code, Project.name).where(Project.code.in_({t.project_code for t in rows}))
    names = {code: name for code, name in await session.execute(query)}
    facts = await task_facts(session, rows)
    # the inbox holds only tasks the caller decides: an expert's own seat is never concealed from them
    return TasksPublic(
        items=[task_public(t, now, names.get(t.project_code), facts=facts.get(t.id)) for t in rows], count=total
    )


# a task and its project, built once (the decision's one read)
TASK_AND_PROJECT = select(Task, Project).join(Project).where(Task.id == bindparam("task_id"))


async def _visible_task(session: SessionDep, user: Principal, task_id: str) -> tuple[Task, Project]:
    found = (await session.execute(TASK_AND_PROJECT, {"task_id": task_id})).first()
    if found is None:
        raise not_found(f"task {task_id}")
    task, project = found
    if not (user.covers(task.region_code) or task.assignee_id == user.id or user.covers(project.village_code)):
        raise forbidden("this task belongs to a region outside yours", "region_forbidden")
    if not may_see(user, task, project):
        if user.role.value == task.candidate_role and task.assignee_id not in (None, user.id):
            raise forbidden("this task is assigned to another user", "not_eligible")
        raise forbidden(f"only a {task.candidate_role} (or a supervisor) may see this task", "role_forbidden")
    return task, project


@router.get("/{task_id}", response_model=TaskPublic)
async def detail(task_id: CodePath, user: CurrentUser, session: SessionDep) -> TaskPublic:
    """One task with the earlier opinions, its deadline and what a decision needs (任务详情)."""
    task, project = await _visible_task(session, user, task_id)
    complete = (await complete_rounds(session, [project.code]))[project.code]
    facts = await task_facts(session, [task])
    return task_public(
        task,
        datetime.now(UTC),
        project.name,
        facts=facts.get(task.id),
        conceal=conceals_seat(user, task, project, complete),
    )


FORM_TASKS = {
    TaskKind.REVISION.value: "a revision is submitted with PUT /api/v1/projects/{code}/application",
    TaskKind.ASSET_REGISTRATION.value: "assets are registered with POST /api/v1/projects/{code}/asset-registration",
    TaskKind.PROGRESS_REPORT.value: "progress is reported with POST /api/v1/projects/{code}/progress-reports",
}


async def _same_decision(session: SessionDep, task: Task, body: DecisionIn) -> bool:
    """True when `body` is exactly the stored decision (a retry), not a changed one."""
    stored = await session.scalar(select(DecisionRecord).where(DecisionRecord.task_id == task.id))
    if stored is None or stored.decision != body.decision.value or stored.opinion != body.opinion:
        return False
    details = stored.details or {}
    return (
        dict(details.get("scores", {})) == dict(body.scores)
        and list(details.get("veto", [])) == list(body.veto)
        and list(details.get("attachments", [])) == list(body.attachments)
        and list(details.get("rectify_items", [])) == [i.strip() for i in body.items if i.strip()]
    )


def decision_update_id(task_id: str, user_id: int, body: object) -> str:
    """The Update id of a decision: a retried request (same user, same body) reuses it, so Temporal returns the
    first result (the fault run's probe computes it too, to ask how far a slow decision got)."""
    return f"decision-{task_id}-{user_id}-{body_digest(body)}"


@router.post("/{task_id}/decision", response_model=DecisionPublic)
async def decide(
    task_id: CodePath,
    body: DecisionIn,
    user: CurrentUser,
    session: SessionDep,
    sessions: SessionsDep,
    temporal: TemporalDep,
) -> DecisionPublic:
    """Decide a task (approve/return/reject, score/decline, uphold/dismiss, done); answers with the new stage."""
    task, project = await _visible_task(session, user, task_id)
    # who may decide (role, region or assignee, separation of duties) is the workflow validator's rule
    # (domain/task_rules.py), answered 403 not_eligible / separation_of_duties from there
    if task.kind in FORM_TASKS:
        raise conflict("use_form", FORM_TASKS[task.kind])
    # separation of duties is the workflow validator's rule (domain/task_rules.py): answered 403 from there
    if (
        task.status == TaskStatus.DECIDED.value
        and task.decided_by == user.id
        and await _same_decision(session, task, body)
    ):
        # A retry of a decision whose answer was lost: the decision stands, answer as the first time.
        return DecisionPublic(task_id=task_id, decision=task.decision or body.decision.value, stage=project.stage)
    if task.status != TaskStatus.OPEN.value:
        decider = await session.get(User, task.decided_by) if task.decided_by else None
        raise conflict(
            "task_not_open",
            f"this task is {task.status}; a decision is final and cannot be changed",
            {"decided_by": decider.username if decider else None, "decision": task.decision},
        )
    shas = list(body.attachments)
    missing = set(await attachments_exist(session, shas))
    mine = await list_uploaded_by(session, user_id=user.id, shas=shas)
    problems = [
        {"field": f"attachments[{i}]", "rule": "exists", "message": f"no attachment {sha}"}
        if sha in missing
        else {"field": f"attachments[{i}]", "rule": "uploaded_by_you", "message": "attach only files you uploaded"}
        for i, sha in enumerate(shas)
        if sha in missing or sha not in mine
    ]
    if problems:
        raise invalid(problems)
    actor = await actor_for(session, user)
    try:
        result = await execute_update(
            temporal,
            session,
            task_owner(task, project),
            UpdateName.SUBMIT_DECISION,
            SubmitDecisionInput(
                task_id=task_id,
                decision=body.decision.value,
                opinion=body.opinion,
                actor=actor,
                scores=dict(body.scores),
                veto=list(body.veto),
                veto_other=body.veto_other,
                attachments=list(body.attachments),
                items=[i.strip() for i in body.items if i.strip()],
            ),
            update_id=decision_update_id(task_id, user.id, body.model_dump(mode="json")),
            result_type=DecisionResult,
        )
    except ApiError as err:
        if err.code not in ("task_not_open", "wrong_stage"):
            raise
        # the same decision, sent twice at once, was stored by the other request (and may have ended the
        # workflow it went to): answer as it was answered
        async with sessions() as fresh:
            stored_task = await get_task(fresh, task_id=task_id)
            stored_project = await get_project(fresh, code=project.code)
            if not (
                stored_task is not None
                and stored_project is not None
                and stored_task.decided_by == user.id
                and await _same_decision(fresh, stored_task, body)
            ):
                raise
            return DecisionPublic(task_id=task_id, decision=body.decision.value, stage=stored_project.stage)
    log.info("task decided", task_id=task_id, decision=result.decision, stage=result.stage)
    return DecisionPublic(task_id=task_id, decision=result.decision, stage=result.stage)


async def _claim(
    task_id: str, claim: bool, user: Principal, session: SessionDep, temporal: TemporalDep
) -> TaskChangePublic:
    task, project = await _visible_task(session, user, task_id)
    if task.status != TaskStatus.OPEN.value:
        raise conflict("task_not_open", f"this task is {task.status}")
    # who may claim is the workflow validator's rule (403 not_eligible naming the reason); not repeated here
    change = await execute_update(
        temporal,
        session,
        task_owner(task, project),
        UpdateName.CLAIM_TASK,
        ClaimInput(task_id=task_id, actor=await actor_for(session, user), claim=claim),
        update_id=f"claim-{task_id}-{uuid.uuid4().hex}",  # claiming is idempotent in effect; ids must not repeat
        result_type=TaskChange,
    )
    return TaskChangePublic(task_id=task_id, assignee_id=change.assignee_id, claimed_by=change.claimed_by)


@router.post("/{task_id}/claim", response_model=TaskChangePublic)
async def claim(task_id: CodePath, user: CurrentUser, session: SessionDep, temporal: TemporalDep) -> TaskChangePublic:
    """Claim a group task: others see it is taken and cannot decide it while you hold it (认领)."""
    return await _claim(task_id, True, user, session, temporal)


@router.delete("/{task_id}/claim", response_model=TaskChangePublic)
async def unclaim(task_id: CodePath, user: CurrentUser, session: SessionDep, temporal: TemporalDep) -> TaskChangePublic:
    """Release a task you claimed (取消认领)."""
    return await _claim(task_id, False, user, session, temporal)


@router.post("/{task_id}/reassign", response_model=TaskChangePublic)
async def reassign(
    task_id: CodePath, body: ReassignIn, user: CurrentUser, session: SessionDep, temporal: TemporalDep
) -> TaskChangePublic:
    """Give a task to another eligible user, with a reason (county supervisor or admin; 转办)."""
    if not may_intervene(user.role, user.region_level):
        raise forbidden("only a county supervisor or an admin may reassign a task", "role_forbidden")
    task, project = await _visible_task(session, user, task_id)
    if task.status != TaskStatus.OPEN.value:
        raise conflict("task_not_open", f"this task is {task.status}")
    target = await session.get(User, body.user_id)
    region = await session.get(Region, target.region_code) if target else None
    if target is None or region is None or not target.active:
        raise invalid([{"field": "user_id", "rule": "exists", "message": f"no active user {body.user_id}"}])
    organisation = target.organisation
    expert_id: int | None = None
    conflicts: dict[str, list[str]] = {"townships": [], "organisations": []}
    if target.role == Role.EXPERT.value:
        expert = await get_expert_by_user(session, user_id=target.id)
        if expert is None or not expert.active:
            raise invalid(
                [{"field": "user_id", "rule": "in_library", "message": "not an active expert of the library"}]
            )
        organisation, expert_id = expert.affiliation, expert.id
        conflicts = {
            "townships": list(expert.conflicts.get("townships", [])),
            "organisations": list(expert.conflicts.get("organisations", [])),
        }
    to = Actor(
        user_id=target.id,
        username=target.username,
        role=target.role,
        region_code=target.region_code,
        region_level=RegionLevel(region.level).value,
        organisation=organisation,
    )
    change = await execute_update(
        temporal,
        session,
        task_owner(task, project),
        UpdateName.REASSIGN_TASK,
        ReassignInput(
            task_id=task_id,
            to=to,
            reason=body.reason,
            actor=await actor_for(session, user),
            expert_id=expert_id,
            conflict_townships=conflicts["townships"],
            conflict_organisations=conflicts["organisations"],
        ),
        update_id=f"reassign-{task_id}-{uuid.uuid4().hex}",  # A→B→A→B must not replay the first A→B
        result_type=TaskChange,
    )
    log.info("task reassigned", task_id=task_id, to=target.id)
    return TaskChangePublic(task_id=task_id, assignee_id=change.assignee_id, claimed_by=change.claimed_by)
