"""The project library: apply (starts the workflow), list, detail, history."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn

import structlog
from fastapi import APIRouter, Header, Query, Response, status
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import (
    CurrentUser,
    Principal,
    SessionDep,
    SessionsDep,
    SettingsDep,
    TemporalDep,
    WorkflowEngine,
    region_filter,
)
from api.edge import CodePath, EdgeRoute, Offset
from api.errors import ApiError, conflict, forbidden, invalid, not_found
from api.routes.tasks import task_public
from api.schemas import (
    DecisionPublic,
    HistoryPublic,
    ObjectionIn,
    ObjectionPublic,
    ProjectCreate,
    ProjectCreated,
    ProjectDetail,
    ProjectsPublic,
    ProjectSummary,
    RetryPublic,
)
from api.task_facts import complete_rounds, conceals_seat, expert_application, holds_seat, sees_panel_names
from api.timeline import project_timeline
from api.updates import actor_for, body_digest, execute_update, phase_owner, temporal_unavailable
from core.settings import Settings
from core.temporal import WORKFLOW_TASK_TIMEOUT, project_start, project_workflow_id
from db.engine import Sessions
from db.models import ExpertDraw, Project, Region, Task
from db.repositories.audit import (
    completed_panel_rounds,
    create_audit_entry,
    list_audit_entries,
    page_audit_entries,
    project_chain,
    verify_since_checkpoint,
)
from db.repositories.households import list_households_by_codes
from db.repositories.projects import (
    ProjectFilter,
    create_idempotency_key,
    create_project,
    get_idempotency_key,
    get_project,
    list_projects,
    next_project_code,
    own_archives,
    update_project_stage,
)
from db.repositories.reviews import list_draws, list_notices, list_objections, list_revisions
from db.repositories.tasks import list_project_tasks, list_seat_rounds
from domain.application import ApplicationFacts, FundLine, validate_application
from domain.archives import Archive, shown
from domain.audit import canonical_json
from domain.enums import RegionLevel, Role, Stage, TaskKind, TaskStatus, UpdateName
from domain.lifecycle import may_intervene
from domain.payloads import (
    DecisionResult,
    ObjectionInput,
    ObjectionResult,
    RetryInput,
    RevisionInput,
)
from domain.phases import ProjectState
from domain.regions import ancestors
from workflows.project import ProjectWorkflow

router = APIRouter(prefix="/projects", tags=["projects"], route_class=EdgeRoute)
# Stages during which a public notice may run (approval, acceptance, registration); the workflow decides.
NOTICE_STAGES = {Stage.APPROVAL_NOTICE.value, Stage.ACCEPTANCE.value, Stage.ASSET_REGISTRATION.value}
log = structlog.get_logger("api.projects")
READERS = tuple(r for r in Role if r is not Role.EXPERT)


class _ConcurrentDuplicate(Exception):
    """Another request with the same Idempotency-Key committed first."""


COLOURS = "^(red|yellow|blue|green)$"


def _summary(p: Project) -> ProjectSummary:
    return ProjectSummary(
        code=p.code,
        name=p.name,
        project_type=p.project_type,
        village_code=p.village_code,
        township_code=p.township_code,
        county_code=p.county_code,
        stage=p.stage,
        status=p.status,
        total_budget_fen=p.total_budget_fen,
        applicant_id=p.applicant_id,
        created_at=p.created_at,
        overdue=p.overdue,
        colour=p.colour,
    )


async def _validate(
    session: AsyncSession, user: Principal, body: ProjectCreate, errors: list[dict[str, str]] | None = None
) -> None:
    """All rules an application must meet, after `errors` the caller found; 422 naming every field that breaks one."""
    errors = [*(errors or [])] + [
        {"field": v.field, "rule": v.rule, "message": v.message}
        for v in validate_application(
            ApplicationFacts(
                total_budget_fen=body.budget.total_fen,
                fund_sources=[FundLine(s.source.value, s.amount_fen) for s in body.budget.sources],
                planned_start=body.planned_start,
                planned_end=body.planned_end,
                expected_annual_revenue_fen=body.revenue.expected_annual_revenue_fen,
                expected_yield_percent=body.revenue.expected_yield_percent,
                household_codes=body.benefit.household_codes,
                performance_targets=len(body.performance_targets),
            )
        )
    ]
    previous = 0
    last_day = body.planned_start
    for i, m in enumerate(body.milestones):
        if not body.planned_start < m.on < body.planned_end or (i and m.on <= last_day):
            errors.append(
                {
                    "field": f"milestones[{i}].on",
                    "rule": "within_plan_in_order",
                    "message": "milestones lie between the planned start and end, in date order",
                }
            )
        if m.percent <= previous:
            errors.append(
                {"field": f"milestones[{i}].percent", "rule": "increasing", "message": "planned percent rises"}
            )
        previous, last_day = m.percent, m.on
    village = await session.get(Region, body.village_code)
    if village is None or village.level != RegionLevel.VILLAGE.value:
        errors.append({"field": "village_code", "rule": "exists", "message": "no such village"})
    elif not user.covers(body.village_code):
        errors.append(
            {
                "field": "village_code",
                "rule": "in_your_region",
                "message": "the village lies outside your region",
            }
        )
    else:
        codes = body.benefit.household_codes
        found = {h.code: h for h in await list_households_by_codes(session, codes=codes)}
        for i, code in enumerate(codes):
            h = found.get(code)
            if h is None:
                errors.append(
                    {
                        "field": f"benefit.household_codes[{i}]",
                        "rule": "exists",
                        "message": f"no household {code}",
                    }
                )
            elif h.village_code != body.village_code:
                errors.append(
                    {
                        "field": f"benefit.household_codes[{i}]",
                        "rule": "in_project_village",
                        "message": f"household {code} does not live in village {body.village_code}",
                    }
                )
    if errors:
        raise invalid(errors)


async def _start_workflow(temporal: WorkflowEngine, settings: Settings, project: Project) -> None:
    start = project_start(
        settings,
        code=project.code,
        applicant_id=project.applicant_id,
        project_type=project.project_type,
        village_code=project.village_code,
        implementing_entity=project.implementing_entity,
    )
    # A retried create finds the workflow of this project running already: that is success.
    try:
        async with asyncio.timeout(temporal.wait_seconds):
            await temporal.client.start_workflow(
                ProjectWorkflow.run,
                ProjectState(start=start),
                id=project.workflow_id,
                task_queue=settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                task_timeout=WORKFLOW_TASK_TIMEOUT,
            )
    except WorkflowAlreadyStartedError:
        return
    except TimeoutError as err:
        raise RPCError("the workflow engine did not answer in time", RPCStatusCode.DEADLINE_EXCEEDED, b"") from err


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ProjectCreated)
async def create(
    body: ProjectCreate,
    user: CurrentUser,
    session: SessionDep,
    sessions: SessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", max_length=200, description="幂等键 / retry-safe key for this create"),
    ] = None,
) -> ProjectCreated:
    """File an application into the project library and start its lifecycle workflow (项目申报)."""
    user.require_role(Role.PROJECT_MANAGER)
    request_hash = hashlib.sha256(canonical_json(body.model_dump(mode="json")).encode()).hexdigest()
    if idempotency_key:
        replay = await _replay(session, temporal, settings, user, idempotency_key, request_hash)
        if replay is not None:
            response.headers["Idempotent-Replayed"] = "true"
            return replay
    await _validate(session, user, body)
    await session.close()  # the filing transaction below takes its own connection; never hold two
    regions = ancestors(body.village_code)
    now = datetime.now(UTC)
    try:
        async with sessions.begin() as tx:
            code = await next_project_code(tx, county_code=regions[RegionLevel.COUNTY], year=now.year)
            project = await create_project(
                tx,
                code=code,
                name=body.name,
                project_type=body.project_type.value,
                village_code=body.village_code,
                township_code=regions[RegionLevel.TOWNSHIP],
                county_code=regions[RegionLevel.COUNTY],
                city_code=regions[RegionLevel.CITY],
                stage=Stage.APPLICATION.value,
                total_budget_fen=body.budget.total_fen,
                planned_start=body.planned_start,
                planned_end=body.planned_end,
                applicant_id=user.id,
                application=body.model_dump(mode="json"),
                workflow_id=project_workflow_id(code),
                implementing_entity=body.implementing_entity.name,
            )
            if idempotency_key and not await create_idempotency_key(
                tx, user_id=user.id, key=idempotency_key, request_hash=request_hash, project_code=code
            ):
                raise _ConcurrentDuplicate
            await create_audit_entry(
                tx,
                chain=project_chain(code),
                action="application_filed",
                event_key=f"filed:{code}",
                payload={
                    "name": body.name,
                    "type": body.project_type.value,
                    "total_budget_fen": body.budget.total_fen,
                },
                actor_id=user.id,
                actor_name=user.username,
                at=now,
            )
    except _ConcurrentDuplicate:
        # The same key won a race in another request: its transaction stands, ours rolled back.
        assert idempotency_key is not None
        replay = await _replay(session, temporal, settings, user, idempotency_key, request_hash)
        assert replay is not None
        response.headers["Idempotent-Replayed"] = "true"
        return replay
    try:
        await _start_workflow(temporal, settings, project)
    except RPCError as err:
        await _filing_not_started(sessions, user, code, idempotency_key, now, err)
    log.info("project filed", project_code=code)
    return ProjectCreated(code=code, stage=project.stage, workflow_id=project.workflow_id)


async def _filing_not_started(
    sessions: Sessions, user: Principal, code: str, key: str | None, at: datetime, err: RPCError
) -> NoReturn:
    """The filing is stored but its workflow did not start. With an Idempotency-Key the filing stands and the
    same request again starts it (one application, one filing); without one it is withdrawn, in the audit log
    too, so a retry files anew and the log still tells only what happened."""
    log.error("workflow start failed", project_code=code, error=str(err), keyed=key is not None)
    if key is None:
        async with sessions.begin() as tx:
            await update_project_stage(tx, code=code, stage=Stage.APPLICATION.value, status="withdrawn")
            await create_audit_entry(
                tx,
                chain=project_chain(code),
                action="application_withdrawn",
                event_key=f"withdrawn:{code}",
                payload={"reason": "the workflow engine was unavailable; the application was not started"},
                actor_id=user.id,
                actor_name=user.username,
                at=datetime.now(UTC),
            )
    unavailable = temporal_unavailable(err)
    retry = "repeat the request with the same Idempotency-Key" if key else "file the application again"
    raise ApiError(
        unavailable.status,
        unavailable.code,
        f"{unavailable.message}; {retry}",
        {"project_code": code if key else None, "withdrawn": key is None},
    ) from err


async def _replay(
    session: AsyncSession,
    temporal: WorkflowEngine,
    settings: Settings,
    user: Principal,
    key: str,
    request_hash: str,
) -> ProjectCreated | None:
    stored = await get_idempotency_key(session, user_id=user.id, key=key)
    if stored is None:
        return None
    if stored.request_hash != request_hash:
        raise conflict(
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request body",
            {"project_code": stored.project_code},
        )
    project = await get_project(session, code=stored.project_code)
    assert project is not None
    await _start_workflow(temporal, settings, project)
    return ProjectCreated(code=project.code, stage=project.stage, workflow_id=project.workflow_id)


@router.get("", response_model=ProjectsPublic)
async def list_(
    user: CurrentUser,
    session: SessionDep,
    stage: Annotated[Stage | None, Query(description="阶段 / stage")] = None,
    county: Annotated[
        str | None, Query(pattern=r"^[0-9]{6}$", description="县代码（本辖区内）/ county code inside your region")
    ] = None,
    township: Annotated[
        str | None, Query(pattern=r"^[0-9]{9}$", description="乡镇代码（本辖区内）/ township code inside your region")
    ] = None,
    project_type: Annotated[
        str | None, Query(alias="type", max_length=32, description="项目类型 / project type")
    ] = None,
    text: Annotated[str | None, Query(max_length=100, description="名称或编号 / name or code contains")] = None,
    overdue: Annotated[bool | None, Query(description="审核超期 / a review past twice its limit")] = None,
    colour: Annotated[str | None, Query(pattern="^(red|yellow|blue|green)$", description="颜色 / colour")] = None,
    construction_colour: Annotated[
        str | None, Query(pattern=COLOURS, description="施工档案颜色 / construction archive colour")
    ] = None,
    registration_colour: Annotated[
        str | None, Query(pattern=COLOURS, description="确权登记档案颜色 / registration archive colour")
    ] = None,
    operation_colour: Annotated[
        str | None, Query(pattern=COLOURS, description="运营档案颜色 / operation archive colour")
    ] = None,
    distribution_colour: Annotated[
        str | None, Query(pattern=COLOURS, description="收益分配档案颜色 / income-distribution archive colour")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> ProjectsPublic:
    """Projects in your region, newest first, with filters and paging (项目库)."""
    user.require_role(*READERS)
    for name, code in (("county", county), ("township", township)):
        if code is not None:
            await region_filter(session, user, name, code)
    rows, total = await list_projects(
        session,
        filters=ProjectFilter(
            scope_prefix=user.region_prefix,
            stage=stage.value if stage else None,
            county=county,
            township=township,
            project_type=project_type,
            text=text,
            overdue=overdue,
            colour=colour,
            archive_colours=tuple(
                (archive, c)
                for archive, c in (
                    (Archive.CONSTRUCTION, construction_colour),
                    (Archive.REGISTRATION, registration_colour),
                    (Archive.OPERATION, operation_colour),
                    (Archive.DISTRIBUTION, distribution_colour),
                )
                if c is not None
            ),
        ),
        limit=limit,
        offset=offset,
    )
    return ProjectsPublic(items=[_summary(p) for p in rows], count=total, limit=limit, offset=offset)


async def _readable(session: AsyncSession, user: Principal, code: str) -> Project:
    user.require_role(*READERS)
    project = await get_project(session, code=code)
    if project is None:
        raise not_found(f"project {code}")
    if not user.covers(project.village_code):
        raise forbidden(f"project {code} lies outside your region", "region_forbidden")
    return project


def _draw_public(d: ExpertDraw, names: bool) -> dict[str, Any]:
    """A draw; without `names` (an open panel, a reader outside the reviewing chain) only that it was drawn."""
    if names:
        return {
            "draw_key": d.draw_key,
            "round": d.round,
            "pool": d.pool,
            "exclusions": d.exclusions,
            "chosen": [{"expert_id": c["expert_id"], "name": c["name"]} for c in d.chosen],
            "widened": d.widened,
            "drawn_at": d.drawn_at.isoformat(),
        }
    return {
        "draw_key": d.draw_key,
        "round": d.round,
        "pool_size": len(d.pool),
        "excluded": len(d.exclusions),
        "chosen": [],
        "chosen_count": len(d.chosen),
        "names_hidden": "until the panel is complete",
        "widened": d.widened,
        "drawn_at": d.drawn_at.isoformat(),
    }


async def _detail_readable(session: AsyncSession, user: Principal, code: str) -> tuple[Project, list[Task], bool]:
    """The project, its open tasks, and whether the caller reads it as a seated expert (only while seated)."""
    if user.role is not Role.EXPERT:
        project = await _readable(session, user, code)
        return project, list(await list_project_tasks(session, project_code=code, status=TaskStatus.OPEN.value)), False
    found = await get_project(session, code=code)
    tasks = list(await list_project_tasks(session, project_code=code, status=TaskStatus.OPEN.value)) if found else []
    if found is None or not holds_seat(user, tasks):
        # not found and not seated answer alike: an expert learns nothing of projects they do not review
        raise forbidden("an expert reads a project only while holding a seat on its panel", "role_forbidden")
    return found, tasks, True


@router.get("/{code}", response_model=ProjectDetail)
async def detail(code: CodePath, user: CurrentUser, session: SessionDep) -> ProjectDetail:
    """One project: stage, application, open tasks and timeline (项目详情); a seated expert reads the application
    without the beneficiaries' personal data, and only while the seat is theirs."""
    project, tasks, seated = await _detail_readable(session, user, code)
    timeline = await list_audit_entries(session, chain=project_chain(code))
    complete = (await complete_rounds(session, [code]))[code]
    names = sees_panel_names(user, project)
    now = datetime.now(UTC)
    if seated:
        tasks = [t for t in tasks if t.assignee_id == user.id]
        application = (await expert_application(session, [project]))[code]
    else:
        application = project.application
    draws = await list_draws(session, project_code=code)
    return ProjectDetail(
        **_summary(project).model_dump(),
        application=application,
        open_tasks=[
            task_public(t, now, project.name, conceal=conceals_seat(user, t, project, complete)) for t in tasks
        ],
        timeline=project_timeline(
            timeline,
            user.id,
            names=names,
            draw_rounds={d.draw_key: d.round for d in draws},
            seat_rounds=await list_seat_rounds(session, project_code=code),
            personal=not seated,
        ),
        revision_round=project.revision_round,
        waiting_for=project.waiting_for,
        **{f"{a.value}_colour": c for a, c in shown(own_archives(project), project.problem_archives or []).items()},
        overdue_problem_archives=list(project.problem_archives or []),
        progress_percent=project.progress_percent,
        funds_paid_fen=project.funds_paid_fen,
        final_cost_fen=project.final_cost_fen,
        draws=[_draw_public(d, names or d.round in complete) for d in draws],
        notices=[
            {
                "id": n.id,
                "kind": n.kind,
                "levels": n.levels,
                "starts_at": n.starts_at.isoformat(),
                "ends_at": n.ends_at.isoformat(),
                "status": n.status,
            }
            for n in await list_notices(session, project_code=code)
        ],
        objections=[
            {
                "id": o.id,
                "text": o.text,
                "filed_at": o.filed_at.isoformat(),
                "status": o.status,
                "resolution": o.resolution,
                "task_id": o.task_id,
            }
            for o in ([] if seated else await list_objections(session, project_code=code))
        ],
        revisions=[
            {
                "round": r.round,
                # a seated expert learns which fields changed, not their values (they may be household codes)
                "diff": [{"field": d.get("field")} for d in r.diff] if seated else r.diff,
                "revised_at": r.revised_at.isoformat(),
            }
            for r in await list_revisions(session, project_code=code)
        ],
    )


@router.get("/{code}/history", response_model=HistoryPublic)
async def history(
    code: CodePath,
    user: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="每页条数 / entries per page")] = 200,
    offset: Offset = 0,
) -> HistoryPublic:
    """The project's audit history, a page at a time in order, with the result of verifying its hash chain: what
    was appended since the last verification, and that the entry verified last is unchanged (审计记录;
    `assetflow audit verify` re-walks whole chains)."""
    project = await _readable(session, user, code)
    chain = project_chain(code)
    rows, total = await page_audit_entries(session, chain=chain, limit=limit, offset=offset)
    report = await verify_since_checkpoint(session, chain=chain)
    items = project_timeline(
        rows,
        user.id,
        names=sees_panel_names(user, project),
        draw_rounds={d.draw_key: d.round for d in await list_draws(session, project_code=code)},
        seat_rounds=await list_seat_rounds(session, project_code=code),
        complete_rounds=await completed_panel_rounds(session, chain=chain),
    )
    await session.commit()  # the checkpoint moved (only when the chain verified)
    return HistoryPublic(
        items=items,
        count=total,
        limit=limit,
        offset=offset,
        verified=not report.problems,
        problems=[f"seq {p.seq}: {p.problem}" for p in report.problems],
    )


@router.put("/{code}/application", response_model=DecisionPublic)
async def revise(
    code: CodePath,
    body: ProjectCreate,
    user: CurrentUser,
    session: SessionDep,
    sessions: SessionsDep,
    temporal: TemporalDep,
) -> DecisionPublic:
    """Resubmit a returned application (退回修改后重新提交); the review chain starts again at the township."""
    user.require_role(Role.PROJECT_MANAGER)
    project = await _readable(session, user, code)
    if project.applicant_id != user.id:
        raise forbidden("only the applicant may revise the application", "not_applicant")
    tasks = await list_project_tasks(session, project_code=code, status=TaskStatus.OPEN.value)
    revision = next((t for t in tasks if t.kind == TaskKind.REVISION), None)
    if revision is None:
        raise conflict("wrong_stage", f"project {code} is at {project.stage}, not awaiting a revision")
    moved = body.village_code != project.village_code
    unchanged = [{"field": "village_code", "rule": "unchanged", "message": "a revision keeps the village; file anew"}]
    await _validate(session, user, body, unchanged if moved else None)
    application = body.model_dump(mode="json")
    actor = await actor_for(session, user)
    workflow_id = phase_owner(project)
    await session.close()
    digest = body_digest(application)
    await execute_update(
        temporal,
        session,
        workflow_id,
        UpdateName.REVISE_APPLICATION,
        RevisionInput(task_id=revision.id, actor=actor, application=application),
        update_id=f"revise-{revision.id}-{digest}",
        result_type=DecisionResult,
    )
    async with sessions() as fresh:
        stored = await fresh.get(Project, code)
    assert stored is not None
    return DecisionPublic(task_id=revision.id, decision="resubmit", stage=stored.stage)


@router.post("/{code}/objections", status_code=status.HTTP_201_CREATED, response_model=ObjectionPublic)
async def object_(
    code: CodePath,
    body: ObjectionIn,
    user: CurrentUser,
    session: SessionDep,
    temporal: TemporalDep,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", max_length=200, description="幂等键 / retry-safe key for this objection"),
    ] = None,
) -> ObjectionPublic:
    """File an objection (异议) to a project under public notice; the county resolves it."""
    project = await get_project(session, code=code)
    if project is None:
        raise not_found(f"project {code}")
    if not (user.covers(project.village_code) or project.village_code.startswith(user.region_prefix)):
        raise forbidden(f"project {code} lies outside your region", "region_forbidden")
    if project.stage not in NOTICE_STAGES:
        raise conflict("notice_closed", f"project {code} is at {project.stage}, not under public notice")
    key = idempotency_key or uuid.uuid4().hex
    actor = await actor_for(session, user)
    workflow_id = phase_owner(project)
    result = await execute_update(
        temporal,
        session,
        workflow_id,
        UpdateName.FILE_OBJECTION,
        ObjectionInput(text=body.text, actor=actor),
        update_id=f"objection-{code}-{user.id}-{hashlib.sha256(key.encode()).hexdigest()[:16]}",
        result_type=ObjectionResult,
    )
    log.info("objection filed", project_code=code, objection_id=result.objection_id)
    return ObjectionPublic(objection_id=result.objection_id, task_id=result.task_id)


@router.post("/{code}/retry", response_model=RetryPublic)
async def retry_blocked(code: CodePath, user: CurrentUser, session: SessionDep, temporal: TemporalDep) -> RetryPublic:
    """Retry the step a blocked project waits on, once its cause is fixed (county supervisor or admin; 重试)."""
    if not may_intervene(user.role, user.region_level):
        raise forbidden("only a county supervisor or an admin may retry a blocked step", "role_forbidden")
    project = await get_project(session, code=code)
    if project is None:
        raise not_found(f"project {code}")
    user.require_region(project.village_code, f"project {code}")
    actor = await actor_for(session, user)
    step = await execute_update(
        temporal,
        session,
        phase_owner(project),
        UpdateName.RETRY_BLOCKED,
        RetryInput(actor=actor),
        update_id=f"retry-{code}-{uuid.uuid4().hex}",  # each retry is a new request of the operator
        result_type=str,
    )
    log.info("blocked step retried", project_code=code, step=step)
    return RetryPublic(project_code=code, step=step)
