"""Construction, completion and asset registration of a project (each sent to its workflow as an Update)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import structlog
from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.construction_schemas import (
    CompletionIn,
    ProgressIn,
    ProgressListPublic,
    ProgressPublic,
    RegistrationIn,
    StagePublic,
)
from api.deps import CurrentUser, Principal, SessionDep, SessionsDep, SettingsDep, TemporalDep
from api.edge import CodePath, EdgeRoute
from api.errors import conflict, forbidden, invalid, not_found
from api.updates import actor_for, body_digest, execute_update, phase_owner
from db.models import Household, Project, Region
from db.repositories.attachments import list_uploaded_by
from db.repositories.construction import (
    get_acceptance_decided_at,
    get_last_progress,
    get_progress_for_week,
    list_progress,
)
from db.repositories.projects import get_project
from db.repositories.tasks import list_project_tasks
from domain.assets import AssetClass, AssetFacts, IncomeShare, OwnerShare, registration_violations
from domain.construction import CompletionFacts, ProgressFacts, completion_violations, progress_violations
from domain.enums import RegionLevel, Role, Stage, TaskKind, TaskStatus, UpdateName
from domain.payloads import CompletionInput, DecisionResult, ProgressInput, RegisterAssetsInput

router = APIRouter(prefix="/projects", tags=["construction"], route_class=EdgeRoute)
log = structlog.get_logger("api.construction")


async def _managed(session: AsyncSession, user: Principal, code: str) -> Project:
    """The project, when the caller is its manager (the applicant)."""
    project = await get_project(session, code=code)
    if project is None:
        raise not_found(f"project {code}")
    if not user.covers(project.village_code):
        raise forbidden(f"project {code} lies outside your region", "region_forbidden")
    user.require_role(Role.PROJECT_MANAGER)
    if project.applicant_id != user.id:
        raise forbidden("only the project's manager (its applicant) may report on it", "not_applicant")
    return project


async def _upload_problems(session: AsyncSession, user: Principal, field: str, shas: list[str]) -> list[dict[str, str]]:
    mine = await list_uploaded_by(session, user_id=user.id, shas=shas)
    return [
        {"field": f"{field}[{i}]", "rule": "uploaded_by_you", "message": "attach only files you uploaded"}
        for i, sha in enumerate(shas)
        if sha not in mine
    ]


async def _read_back(sessions: SessionsDep, code: str) -> StagePublic:
    async with sessions() as fresh:
        stored = await fresh.get(Project, code)
    assert stored is not None
    return StagePublic(code=code, stage=stored.stage, colour=stored.construction_colour)


def _local_date(at: datetime, time_zone: str) -> date:
    """The calendar day of an instant where the projects are (dates are judged in the app's time zone)."""
    return at.astimezone(ZoneInfo(time_zone)).date()


def _over_budget_note(reason: str) -> str:
    return f"超预算原因 / over budget: {reason}" if reason.strip() else ""


@router.post("/{code}/progress-reports", response_model=StagePublic, status_code=201)
async def report_progress(
    code: CodePath,
    body: ProgressIn,
    user: CurrentUser,
    session: SessionDep,
    sessions: SessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> StagePublic:
    """Report a week's construction progress (施工进度周报); answers with the construction colour."""
    project = await _managed(session, user, code)
    if project.stage != Stage.CONSTRUCTION.value:
        raise conflict("wrong_stage", f"project {code} is at {project.stage}, not under construction")
    if await get_progress_for_week(session, project_code=code, week_start=body.week_start):
        raise conflict("week_reported", f"the week of {body.week_start.isoformat()} is reported already")
    last = await get_last_progress(session, project_code=code)
    violations = progress_violations(
        ProgressFacts(body.week_start, body.percent, body.funds_paid_fen, body.over_budget_reason),
        previous_percent=last.percent if last else 0,
        previous_funds_fen=last.funds_paid_fen if last else 0,
        previous_week=last.week_start if last else None,
        budget_fen=project.total_budget_fen,
        today=_local_date(datetime.now(UTC), settings.time_zone),
        filed_on=_local_date(project.created_at, settings.time_zone),
    )
    problems = [{"field": v.field, "rule": v.rule, "message": v.message} for v in violations]
    problems += await _upload_problems(session, user, "attachments", list(body.attachments))
    if problems:  # every rule and every attachment in one answer
        raise invalid(problems)
    actor = await actor_for(session, user)
    workflow_id = phase_owner(project)
    await execute_update(
        temporal,
        session,
        workflow_id,
        UpdateName.REPORT_PROGRESS,
        ProgressInput(
            actor=actor,
            week_start=body.week_start.isoformat(),
            percent=body.percent,
            funds_paid_fen=body.funds_paid_fen,
            over_budget_reason=body.over_budget_reason,
            note=body.note,
            attachments=list(body.attachments),
        ),
        update_id=f"progress-{code}-{body.week_start.isoformat()}-{body_digest(body.model_dump(mode='json'))}",
        result_type=DecisionResult,
    )
    log.info("progress reported", project_code=code, percent=body.percent)
    return await _read_back(sessions, code)


@router.get("/{code}/progress-reports", response_model=ProgressListPublic)
async def progress_reports(code: CodePath, user: CurrentUser, session: SessionDep) -> ProgressListPublic:
    """A project's weekly progress reports against its plan, and the construction colour (施工进度)."""
    project = await get_project(session, code=code)
    if project is None:
        raise not_found(f"project {code}")
    if user.role is Role.EXPERT:
        raise forbidden("experts read the projects drawn to them through their tasks", "role_forbidden")
    if not user.covers(project.village_code):
        raise forbidden(f"project {code} lies outside your region", "region_forbidden")
    rows = await list_progress(session, project_code=code)
    return ProgressListPublic(
        items=[
            ProgressPublic(
                week_start=r.week_start,
                percent=r.percent,
                expected_percent=r.expected_percent,
                funds_paid_fen=r.funds_paid_fen,
                colour=r.colour,
                over_budget_reason=r.over_budget_reason,
                note=r.note,
                reported_at=r.reported_at,
            )
            for r in rows
        ],
        colour=project.construction_colour,
        percent=project.progress_percent,
    )


@router.post("/{code}/completion", response_model=StagePublic, status_code=201)
async def report_completion(
    code: CodePath,
    body: CompletionIn,
    user: CurrentUser,
    session: SessionDep,
    sessions: SessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> StagePublic:
    """Report completion (竣工) with the final cost; the county's acceptance task opens."""
    project = await _managed(session, user, code)
    if project.stage != Stage.CONSTRUCTION.value:
        raise conflict("wrong_stage", f"project {code} is at {project.stage}, not under construction")
    last = await get_last_progress(session, project_code=code)
    violations = completion_violations(
        CompletionFacts(
            completion_date=body.completion_date,
            final_cost_fen=body.final_cost_fen,
            over_budget_reason=body.over_budget_reason,
            last_percent=last.percent if last else 0,
            funds_paid_fen=last.funds_paid_fen if last else 0,
        ),
        budget_fen=project.total_budget_fen,
        filed_on=_local_date(project.created_at, settings.time_zone),
        today=_local_date(datetime.now(UTC), settings.time_zone),
        min_paid_percent=settings.construction.completion_min_paid_percent,
    )
    problems = [{"field": v.field, "rule": v.rule, "message": v.message} for v in violations]
    problems += await _upload_problems(session, user, "documents", list(body.documents))
    if problems:  # every rule and every document in one answer
        raise invalid(problems)
    actor = await actor_for(session, user)
    workflow_id = phase_owner(project)
    await execute_update(
        temporal,
        session,
        workflow_id,
        UpdateName.REPORT_COMPLETION,
        CompletionInput(
            actor=actor,
            final_cost_fen=body.final_cost_fen,
            completion_date=body.completion_date.isoformat(),
            documents=list(body.documents),
            note="\n".join(x for x in (body.note, _over_budget_note(body.over_budget_reason)) if x),
        ),
        update_id=f"completion-{code}-{body_digest(body.model_dump(mode='json'))}-{project.updated_at.isoformat()}",
        result_type=DecisionResult,
    )
    return await _read_back(sessions, code)


async def _registration_problems(
    session: AsyncSession, project: Project, body: RegistrationIn, time_zone: str
) -> list[dict[str, str]]:
    accepted_at = await get_acceptance_decided_at(session, project_code=project.code)
    facts = [
        AssetFacts(
            name=a.name,
            asset_class=a.asset_class.value,
            value_fen=a.value_fen,
            owners=[OwnerShare(o.village_code, o.share_bp) for o in a.owners],
            household_code=a.household_code,
            has_operator=a.operator is not None,
            has_contract=a.contract is not None,
            contract_start=a.contract.start if a.contract is not None else None,
            income=[IncomeShare(h.household_code, h.shares) for h in a.income],
            has_supervision=a.supervision is not None,
        )
        for a in body.assets
    ]
    problems = [
        {"field": v.field, "rule": v.rule, "message": v.message}
        for v in registration_violations(
            facts,
            final_cost_fen=project.final_cost_fen or 0,
            accepted_on=_local_date(accepted_at, time_zone) if accepted_at else None,
        )
    ]
    villages = {o.village_code for a in body.assets for o in a.owners}
    found = {
        r.code: r
        for r in (await session.scalars(select(Region).where(Region.code.in_(villages)))).all()
        if r.level == RegionLevel.VILLAGE.value
    }
    households = {h.household_code for a in body.assets for h in a.income} | {
        a.household_code for a in body.assets if a.household_code
    }
    rows = await session.execute(select(Household.code, Household.village_code).where(Household.code.in_(households)))
    homes: dict[str, str] = {code: village for code, village in rows}
    known = set(homes)
    for i, a in enumerate(body.assets):
        for j, o in enumerate(a.owners):
            if o.village_code not in found:
                problems.append(
                    {"field": f"assets[{i}].owners[{j}].village_code", "rule": "exists", "message": "no such village"}
                )
            elif not o.village_code.startswith(project.county_code):
                problems.append(
                    {
                        "field": f"assets[{i}].owners[{j}].village_code",
                        "rule": "in_project_county",
                        "message": "owners are village collectives of the project's county",
                    }
                )
        villages_of_asset = {project.village_code, *(o.village_code for o in a.owners)}
        for j, h in enumerate(a.income):
            field = f"assets[{i}].income[{j}].household_code"
            if h.household_code not in homes:
                problems.append({"field": field, "rule": "exists", "message": "no such household"})
            elif homes[h.household_code] not in villages_of_asset:
                message = "a beneficiary lives in the project's village or an owning village"
                problems.append({"field": field, "rule": "in_owner_village", "message": message})
        if a.household_code and a.household_code not in known:
            problems.append({"field": f"assets[{i}].household_code", "rule": "exists", "message": "no such household"})
        if a.asset_class is AssetClass.HOUSEHOLD and (a.operator or a.contract):
            problems.append(
                {"field": f"assets[{i}].operator", "rule": "empty", "message": "a household asset has no operator"}
            )
    return problems


@router.post("/{code}/asset-registration", response_model=StagePublic, status_code=201)
async def register_assets(
    code: CodePath,
    body: RegistrationIn,
    user: CurrentUser,
    session: SessionDep,
    sessions: SessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> StagePublic:
    """Register the assets the project produced with their four rights (确权登记); the county confirms next."""
    project = await _managed(session, user, code)
    tasks = await list_project_tasks(session, project_code=code, status=TaskStatus.OPEN.value)
    task = next((t for t in tasks if t.kind == TaskKind.ASSET_REGISTRATION), None)
    if task is None:
        waiting = next((t for t in tasks if t.kind == TaskKind.CONFIRM_REGISTRATION), None)
        if waiting is not None:
            raise conflict("wrong_stage", "the registration is with the county for confirmation; wait for its answer")
        raise conflict("wrong_stage", f"project {code} is at {project.stage}, not awaiting its asset registration")
    problems = await _registration_problems(session, project, body, settings.time_zone)
    if problems:
        raise invalid(problems)
    actor = await actor_for(session, user)
    workflow_id = phase_owner(project)
    await execute_update(
        temporal,
        session,
        workflow_id,
        UpdateName.REGISTER_ASSETS,
        RegisterAssetsInput(task_id=task.id, actor=actor, assets=[a.model_dump(mode="json") for a in body.assets]),
        update_id=f"register-{task.id}-{body_digest(body.model_dump(mode='json'))}",
        result_type=DecisionResult,
    )
    return await _read_back(sessions, code)
