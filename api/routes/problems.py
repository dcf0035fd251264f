"""The problem ledger (问题台账, 销号管理): register, list, read, change, rectify, submit, verify, reopen, export."""

from __future__ import annotations

import asyncio
import io
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, NoReturn
from zoneinfo import ZoneInfo

import structlog
from fastapi import APIRouter, Depends, Query, Response, status
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import CurrentUser, Principal, SessionDep, SettingsDep, region_filter
from api.edge import INT32_MAX, EdgeRoute, IdPath, Offset
from api.errors import conflict, forbidden, invalid, not_found
from api.problem_schemas import (
    ProblemAttachment,
    ProblemCreate,
    ProblemDetail,
    ProblemNote,
    ProblemPublic,
    ProblemReason,
    ProblemsPublic,
    ProblemSubmit,
    ProblemUpdate,
    ProblemVerdict,
)
from api.schemas import TimelineEntry, _d
from core.settings import Settings
from db.models import Asset, Problem, Region, User
from db.repositories.archives import refresh_archives
from db.repositories.attachments import list_uploaded_by
from db.repositories.audit import create_audit_entry
from db.repositories.notifications import list_users_covering, record_event
from db.repositories.problems import (
    ProblemFilter,
    create_problem,
    get_problem,
    get_project_manager,
    list_problem_history,
    list_problems,
    update_problem,
)
from db.repositories.projects import get_project
from domain.archives import ARCHIVE_OF_STAGE, Archive
from domain.attachments import content_disposition
from domain.enums import RegionLevel, Role
from domain.notifications import EventKind
from domain.problems import (
    Action,
    Actor,
    ProblemFacts,
    ProblemSource,
    ProblemStatus,
    Refusal,
    Refused,
    may_register,
    next_status,
    overdue,
    problem_chain,
    refusal,
    rule_of,
    submission_refusal,
)
from domain.regions import covers

router = APIRouter(prefix="/problems", tags=["problems"], route_class=EdgeRoute)
log = structlog.get_logger("api.problems")
READERS = tuple(r for r in Role if r is not Role.EXPERT)
EXPORT_ROWS = 10_000
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STATUS_ZH = {
    "registered": "已登记",
    "rectifying": "整改中",
    "submitted": "待销号",
    "closed": "已销号",
    "reopened": "已重开",
}
SOURCE_ZH = {"inspection": "检查", "audit": "审计", "supervision": "督查", "report": "举报", "rule": "规则预警"}
HEADERS = [
    "问题编号",
    "项目编号",
    "资产编号",
    "区划代码",
    "来源",
    "问题描述",
    "责任单位",
    "责任人",
    "整改时限",
    "是否超期",
    "整改措施",
    "状态",
    "登记时间",
    "提交时间",
    "销号时间",
    "重开次数",
    "超期催办时间",
    "超期上报时间",
]
PROBLEM_REGION_LEVELS = (RegionLevel.COUNTY.value, RegionLevel.TOWNSHIP.value, RegionLevel.VILLAGE.value)


def _today(settings: Settings) -> date:
    """Deadlines are local dates where the projects are."""
    return datetime.now(ZoneInfo(settings.time_zone)).date()


def _public(p: Problem, today: date) -> ProblemPublic:
    rule = rule_of(p.key) if p.source == ProblemSource.RULE else None
    return ProblemPublic(
        id=p.id,
        key=p.key,
        rule=rule.value if rule else None,
        project_code=p.project_code,
        asset_id=p.asset_id,
        region_code=p.region_code,
        county_code=p.county_code,
        township_code=p.township_code,
        source=p.source,
        description=p.description,
        responsible_unit=p.responsible_unit,
        responsible_person=p.responsible_person,
        responsible_user_id=p.responsible_user_id,
        deadline=p.deadline,
        overdue=overdue(p.deadline, p.status, today),
        measures=p.measures,
        status=p.status,
        opened_at=p.opened_at,
        raised_by=p.raised_by,
        submitted_by=p.submitted_by,
        submitted_at=p.submitted_at,
        evidence=[str(s) for s in p.evidence],
        attachments=[ProblemAttachment.model_validate(a) for a in p.attachments],
        verifier_id=p.verifier_id,
        closed_by=p.closed_by,
        closed_at=p.closed_at,
        reopened_count=p.reopened_count,
        archive=p.archive,
        reminded_at=p.reminded_at,
        escalated=p.escalated_at is not None,
        escalated_at=p.escalated_at,
        escalated_to=p.escalated_to,
    )


def _refuse(r: Refused) -> NoReturn:
    if r.kind is Refusal.FORBIDDEN:
        raise forbidden(r.message, r.code)
    if r.kind is Refusal.CONFLICT:
        raise conflict(r.code, r.message)
    raise invalid([{"field": r.field, "rule": r.code, "message": r.message}])


def _actor(user: Principal) -> Actor:
    return Actor(user.id, user.role, user.region_code, user.region_level)


async def _facts(session: AsyncSession, p: Problem) -> ProblemFacts:
    manager = await get_project_manager(session, project_code=p.project_code) if p.project_code else None
    return ProblemFacts(
        status=ProblemStatus(p.status),
        region_code=p.region_code,
        responsible_user_id=p.responsible_user_id,
        manager_id=manager,
        raised_level=RegionLevel(p.raised_level),
        submitted_by=p.submitted_by,
        evidence=len(p.evidence),
    )


async def _readable(session: AsyncSession, user: Principal, problem_id: int, *, for_update: bool = False) -> Problem:
    """The problem, when the caller may read it: a reader of its region, or the person responsible for it."""
    user.require_role(*READERS)
    p = await get_problem(session, problem_id=problem_id, for_update=for_update)
    if p is None:
        raise not_found(f"problem {problem_id}")
    if not user.covers(p.region_code) and p.responsible_user_id != user.id:
        raise forbidden(f"problem {problem_id} lies outside your region", "region_forbidden")
    return p


async def _detail(session: AsyncSession, p: Problem, settings: Settings) -> ProblemDetail:
    rows = await list_problem_history(session, chain=problem_chain(p.project_code, p.county_code), problem=p)
    history = [
        TimelineEntry(seq=r.seq, at=r.at, actor=r.actor_name, action=r.action, payload=r.payload, hash=r.hash)
        for r in rows
    ]
    return ProblemDetail(**_public(p, _today(settings)).model_dump(), history=history)


async def _audit(
    session: AsyncSession, user: Principal, p: Problem, action: str, payload: dict[str, Any], at: datetime
) -> None:
    """Each change on the project's chain (a region-only problem: its county's problem chain)."""
    await create_audit_entry(
        session,
        chain=problem_chain(p.project_code, p.county_code),
        action=action,
        event_key=f"problem:{p.id}:{action}:{uuid.uuid4().hex}",
        payload={"problem_id": p.id, **payload},
        actor_id=user.id,
        actor_name=user.username,
        at=at,
    )


async def _notify(
    session: AsyncSession, p: Problem, user_ids: set[int | None], *, kind: EventKind, at: datetime
) -> None:
    """Those the change concerns hear of it (the problem's number, source and deadline: never its description,
    which may name people)."""
    await record_event(
        session,
        kind=kind,
        key=f"problem:{p.id}:{kind.value}:{at.isoformat()}",
        params={
            "problem_id": p.id,
            "source": p.source,
            "deadline": p.deadline.isoformat() if p.deadline else "-",
            "project_code": p.project_code or "",
        },
        user_ids=user_ids,
        region_code=p.region_code or p.county_code,
        project_code=p.project_code,
        at=at,
    )


async def _responsible_problems(session: AsyncSession, user_id: int | None, region_code: str) -> list[dict[str, str]]:
    """The responsible user exists, is active, and works in the problem's region (or a region containing it)."""
    if user_id is None:
        return []
    u = await session.get(User, user_id)
    region = await session.get(Region, u.region_code) if u is not None else None
    if u is None or not u.active or region is None:
        return [{"field": "responsible_user_id", "rule": "exists", "message": f"no active user {user_id}"}]
    level = RegionLevel(region.level)
    if not (covers(u.region_code, level, region_code) or region_code.startswith(u.region_code)):
        message = f"user {user_id} works outside the problem's region {region_code}"
        return [{"field": "responsible_user_id", "rule": "in_region", "message": message}]
    return []


def _deadline_problems(deadline: date | None, today: date) -> list[dict[str, str]]:
    if deadline is not None and deadline < today:
        return [{"field": "deadline", "rule": "not_past", "message": f"the deadline is before today {today}"}]
    return []


async def _upload_problems(session: AsyncSession, user: Principal, shas: list[str]) -> list[dict[str, str]]:
    mine = await list_uploaded_by(session, user_id=user.id, shas=shas)
    return [
        {"field": f"attachments[{i}]", "rule": "uploaded_by_you", "message": "attach only files you uploaded"}
        for i, sha in enumerate(shas)
        if sha not in mine
    ]


def _added(shas: list[str], user: Principal, purpose: str, at: datetime) -> list[dict[str, Any]]:
    return [
        {"sha256": s, "uploaded_by": user.id, "purpose": purpose, "at": at.isoformat()} for s in dict.fromkeys(shas)
    ]


async def _filters(
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    region: Annotated[
        str | None,
        Query(pattern=r"^([0-9]{6}|[0-9]{9}|[0-9]{12})$", description="区划代码（本辖区内）/ region inside yours"),
    ] = None,
    status_: Annotated[ProblemStatus | None, Query(alias="status", description="状态 / status")] = None,
    overdue_: Annotated[
        bool | None, Query(alias="overdue", description="超期未销号 / past the deadline and not closed")
    ] = None,
    source: Annotated[ProblemSource | None, Query(description="来源 / source")] = None,
    responsible_user_id: Annotated[
        int | None, Query(ge=1, le=INT32_MAX, description="责任人用户编号 / responsible user id")
    ] = None,
    responsible: Annotated[
        str | None, Query(max_length=100, description="责任单位或责任人包含 / responsible unit or person contains")
    ] = None,
    project: Annotated[str | None, Query(max_length=32, description="项目编号 / project code")] = None,
    text: Annotated[str | None, Query(max_length=100, description="描述、措施或键包含 / text contains")] = None,
    escalated: Annotated[
        bool | None,
        Query(description="超期已上报上一级 / escalated to the next level past its current deadline"),
    ] = None,
    archive: Annotated[Archive | None, Query(description="所涉档案 / the archive it concerns")] = None,
) -> ProblemFilter:
    """The list's filters, inside the caller's region."""
    user.require_role(*READERS)
    if region is not None:
        await region_filter(session, user, "region", region)
    today = _today(settings)
    return ProblemFilter(
        scope_prefix=user.region_prefix,
        region=region,
        status=status_.value if status_ else None,
        overdue_on=today if overdue_ is True else None,
        not_overdue_on=today if overdue_ is False else None,
        source=source.value if source else None,
        responsible_user_id=responsible_user_id,
        responsible=responsible,
        project_code=project,
        text=text,
        escalated=escalated,
        archive=archive.value if archive else None,
    )


FiltersDep = Annotated[ProblemFilter, Depends(_filters)]


@router.get("", response_model=ProblemsPublic)
async def list_(
    filters: FiltersDep,
    session: SessionDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=200, description="每页条数 / page size")] = 50,
    offset: Offset = 0,
) -> ProblemsPublic:
    """Problems in your region, newest first, with filters and paging (问题台账)."""
    rows, total = await list_problems(session, filters=filters, limit=limit, offset=offset)
    today = _today(settings)
    return ProblemsPublic(items=[_public(p, today) for p in rows], count=total, limit=limit, offset=offset)


def _local(at: datetime | None, zone: ZoneInfo) -> datetime | None:
    return at.astimezone(zone).replace(tzinfo=None) if at else None


def _workbook(rows: list[Problem], today: date, zone: ZoneInfo) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "问题台账"
    sheet.append(HEADERS)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for p in rows:
        sheet.append(
            [
                p.id,
                p.project_code or "",
                p.asset_id or "",
                p.region_code,
                SOURCE_ZH.get(p.source, p.source),
                p.description,
                p.responsible_unit,
                p.responsible_person,
                p.deadline,
                "是" if overdue(p.deadline, p.status, today) else "否",
                p.measures,
                STATUS_ZH.get(p.status, p.status),
                _local(p.opened_at, zone),
                _local(p.submitted_at, zone),
                _local(p.closed_at, zone),
                p.reopened_count,
                _local(p.reminded_at, zone),
                _local(p.escalated_at, zone),
            ]
        )
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # a client's text starting with "=" stays text, never a formula
            elif isinstance(cell.value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
            elif isinstance(cell.value, date):
                cell.number_format = "yyyy-mm-dd"
    for i, header in enumerate(HEADERS, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = 40 if header in ("问题描述", "整改措施") else 16
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@router.get(
    ".xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}, "description": _d("问题台账工作簿", "the ledger as .xlsx")}},
)
async def export(filters: FiltersDep, session: SessionDep, settings: SettingsDep) -> Response:
    """The filtered ledger as an Excel workbook with Chinese headers (问题台账导出), at most 10,000 rows."""
    rows, total = await list_problems(session, filters=filters, limit=EXPORT_ROWS, offset=0)
    if total > EXPORT_ROWS:
        message = f"{total} problems match: narrow the filters to at most {EXPORT_ROWS}"
        raise invalid([{"field": "filters", "rule": "too_many_rows", "message": message}])
    data = await asyncio.to_thread(_workbook, list(rows), _today(settings), ZoneInfo(settings.time_zone))
    return Response(
        content=data,
        media_type=XLSX,
        headers={"Content-Disposition": content_disposition("问题台账.xlsx")},
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ProblemDetail)
async def create(body: ProblemCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> ProblemDetail:
    """Register a problem on a project, an asset or a region (登记问题): supervisors, county and township reviewers
    and admins, inside their region."""
    actor = _actor(user)
    if (refused := may_register(actor, user.region_code)) is not None:
        _refuse(refused)  # the role first: a wrong role learns nothing of the projects named
    problems: list[dict[str, str]] = []
    project_code = body.project_code
    region_code: str | None = None
    if body.asset_id is not None:
        asset = await session.get(Asset, body.asset_id)
        if asset is None:
            problems.append({"field": "asset_id", "rule": "exists", "message": f"no asset {body.asset_id}"})
        elif project_code is not None and asset.project_code != project_code:
            message = f"asset {body.asset_id} is not of project {project_code}"
            problems.append({"field": "asset_id", "rule": "of_project", "message": message})
        else:
            project_code, region_code = asset.project_code, asset.village_code
    if project_code is not None and region_code is None and body.asset_id is None:
        project = await get_project(session, code=project_code)
        if project is None:
            problems.append({"field": "project_code", "rule": "exists", "message": f"no project {project_code}"})
        else:
            region_code = project.village_code
    if body.region_code is not None:
        if body.project_code is not None or body.asset_id is not None:
            message = "a project's or asset's problem lies in its village: name the region only without them"
            problems.append({"field": "region_code", "rule": "one_of", "message": message})
        else:
            region = await session.get(Region, body.region_code)
            if region is None or region.level not in PROBLEM_REGION_LEVELS:
                message = f"no county, township or village {body.region_code}"
                problems.append({"field": "region_code", "rule": "exists", "message": message})
            else:
                region_code = region.code
    elif body.project_code is None and body.asset_id is None:
        message = "name a project, an asset or a region"
        problems.append({"field": "region_code", "rule": "required", "message": message})
    if not body.responsible_unit and body.responsible_user_id is None:
        message = "name the responsible unit or the responsible user"
        problems.append({"field": "responsible_unit", "rule": "responsible_required", "message": message})
    if body.archive is not None and project_code is None:
        message = "an archive is a project's: name the project or the asset"
        problems.append({"field": "archive", "rule": "project_required", "message": message})
    today = _today(settings)
    problems += _deadline_problems(body.deadline, today)
    problems += await _upload_problems(session, user, list(body.attachments))
    if region_code is not None:
        problems += await _responsible_problems(session, body.responsible_user_id, region_code)
    if problems:
        raise invalid(problems)
    assert region_code is not None
    if (refused := may_register(actor, region_code)) is not None:
        _refuse(refused)
    archive = body.archive.value if body.archive else None
    if archive is None and project_code is not None:
        owner = await get_project(session, code=project_code)
        stage_archive = ARCHIVE_OF_STAGE.get(owner.stage) if owner is not None else None
        archive = stage_archive.value if stage_archive else None
    now = datetime.now(UTC)
    p = await create_problem(
        session,
        values={
            "project_code": project_code,
            "asset_id": body.asset_id,
            "region_code": region_code,
            "county_code": region_code[:6],
            "township_code": region_code[:9] if len(region_code) >= 9 else "",
            "source": body.source.value,
            "description": body.description,
            "responsible_unit": body.responsible_unit,
            "responsible_person": body.responsible_person,
            "responsible_user_id": body.responsible_user_id,
            "deadline": body.deadline,
            "measures": body.measures,
            "status": ProblemStatus.REGISTERED.value,
            "opened_at": now,
            "raised_by": user.id,
            "raised_level": user.region_level.value,
            "attachments": _added(list(body.attachments), user, "registration", now),
            "archive": archive,
        },
    )
    await _audit(
        session,
        user,
        p,
        "problem_registered",
        {
            "source": p.source,
            "description": p.description,
            "region_code": p.region_code,
            "asset_id": p.asset_id,
            "responsible_unit": p.responsible_unit,
            "responsible_person": p.responsible_person,
            "responsible_user_id": p.responsible_user_id,
            "deadline": p.deadline.isoformat() if p.deadline else None,
            "attachments": list(body.attachments),
            "archive": archive,
        },
        now,
    )
    await _notify(session, p, {p.responsible_user_id}, kind=EventKind.PROBLEM_ASSIGNED, at=now)
    await _recolour(session, settings, user, p, now)
    await session.commit()
    log.info("problem registered", problem_id=p.id, project_code=p.project_code)
    return await _detail(session, p, settings)


@router.get("/{problem_id}", response_model=ProblemDetail)
async def detail(problem_id: IdPath, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> ProblemDetail:
    """One problem with its audit history (问题详情)."""
    return await _detail(session, await _readable(session, user, problem_id), settings)


async def _allowed(session: AsyncSession, user: Principal, problem_id: int, action: Action) -> Problem:
    """The problem, locked, when `action` is the caller's to do now (the rules: domain.problems.refusal)."""
    p = await _readable(session, user, problem_id, for_update=True)
    if (refused := refusal(action, _actor(user), await _facts(session, p))) is not None:
        _refuse(refused)
    return p


async def _move(
    session: AsyncSession,
    user: Principal,
    p: Problem,
    action: Action,
    values: dict[str, Any],
    payload: dict[str, Any],
    settings: Settings,
    *,
    at: datetime,
) -> ProblemDetail:
    """Make the transition, audit it, and answer the problem as it is now."""
    before = p.status
    after = next_status(action, ProblemStatus(p.status)).value
    await update_problem(session, problem_id=p.id, values={"status": after, "updated_at": at, **values})
    await _audit(session, user, p, f"problem_{action.value}", {"from": before, "to": after, **payload}, at)
    await _recolour(session, settings, user, p, at)
    await session.commit()
    fresh = await get_problem(session, problem_id=p.id)
    assert fresh is not None
    return await _detail(session, fresh, settings)


async def _recolour(session: AsyncSession, settings: Settings, user: Principal, p: Problem, at: datetime) -> None:
    """A problem's change may change whether its archive has an open overdue problem: recolour its project's
    archives in the same transaction (the change audited with the caller as its actor)."""
    if p.project_code:
        await refresh_archives(
            session,
            project_code=p.project_code,
            today=_today(settings),
            at=at,
            rules=settings.archives.rules(),
            time_zone=settings.time_zone,
            actor_id=user.id,
            actor_name=user.username,
        )


def _changed(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


@router.patch("/{problem_id}", response_model=ProblemDetail)
async def update(
    problem_id: IdPath, body: ProblemUpdate, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> ProblemDetail:
    """Change the measures, deadline or who is responsible (修改整改措施、时限、责任人): a registrar of the problem's
    region at the level that registered it or above; not once it is submitted or closed."""
    p = await _allowed(session, user, problem_id, Action.UPDATE)
    given = body.model_dump(exclude_unset=True)
    for name in ("measures", "responsible_unit", "responsible_person"):
        if name in given and given[name] is None:
            given.pop(name)  # null leaves a text field as it is; "" empties it
    if not given:
        raise invalid([{"field": "body", "rule": "empty_update", "message": "name at least one field to change"}])
    problems = _deadline_problems(given.get("deadline"), _today(settings))
    if "responsible_user_id" in given:
        problems += await _responsible_problems(session, given["responsible_user_id"], p.region_code)
    unit = given.get("responsible_unit", p.responsible_unit)
    responsible = given.get("responsible_user_id", p.responsible_user_id)
    if not unit and responsible is None:
        message = "name the responsible unit or the responsible user"
        problems.append({"field": "responsible_unit", "rule": "responsible_required", "message": message})
    if problems:
        raise invalid(problems)
    changes = {k: {"from": _changed(getattr(p, k)), "to": _changed(v)} for k, v in given.items() if getattr(p, k) != v}
    now = datetime.now(UTC)
    if changes:
        values = {**given, "updated_at": now}
        if "deadline" in changes:
            # a new deadline is a new limit: its reminder and escalation are still to come
            values.update(reminded_at=None, escalated_at=None, escalated_to=None)
        await update_problem(session, problem_id=p.id, values=values)
        await _audit(session, user, p, "problem_updated", {"changes": changes}, now)
        if "responsible_user_id" in changes:
            await _notify(session, p, {responsible}, kind=EventKind.PROBLEM_ASSIGNED, at=now)
        if "deadline" in changes:
            await _recolour(session, settings, user, p, now)
    await session.commit()
    fresh = await get_problem(session, problem_id=p.id)
    assert fresh is not None
    return await _detail(session, fresh, settings)


@router.post("/{problem_id}/rectifying", response_model=ProblemDetail)
async def start(
    problem_id: IdPath, body: ProblemNote, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> ProblemDetail:
    """Start rectifying (开始整改): the responsible person or the project's manager."""
    p = await _allowed(session, user, problem_id, Action.START)
    return await _move(session, user, p, Action.START, {}, {"note": body.note}, settings, at=datetime.now(UTC))


@router.post("/{problem_id}/submit", response_model=ProblemDetail)
async def submit(
    problem_id: IdPath, body: ProblemSubmit, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> ProblemDetail:
    """Submit the rectification for close-out with its evidence (提交销号): the responsible person or the project's
    manager; every attachment one they uploaded."""
    p = await _allowed(session, user, problem_id, Action.SUBMIT)
    shas = list(dict.fromkeys(body.attachments))
    mine = await list_uploaded_by(session, user_id=user.id, shas=shas)
    if (refused := submission_refusal(len(shas), [s in mine for s in shas])) is not None:
        _refuse(refused)
    now = datetime.now(UTC)
    values = {
        "evidence": shas,
        "attachments": [*p.attachments, *_added(shas, user, "evidence", now)],
        "submitted_by": user.id,
        "submitted_at": now,
    }
    await _notify(session, p, await _verifiers(session, p, user.id), kind=EventKind.PROBLEM_SUBMITTED, at=now)
    payload = {"note": body.note, "evidence": shas}
    return await _move(session, user, p, Action.SUBMIT, values, payload, settings, at=now)


async def _verifiers(session: AsyncSession, p: Problem, submitter: int) -> set[int | None]:
    """Who may verify the submission: the county reviewers and supervisors covering it, bar those it concerns."""
    ids: set[int | None] = set()
    for role in (Role.COUNTY_REVIEWER, Role.SUPERVISOR):
        ids |= {u.id for u in await list_users_covering(session, role=role.value, code=p.region_code)}
    return ids - {p.responsible_user_id, submitter}


@router.post("/{problem_id}/close", response_model=ProblemDetail)
async def close(
    problem_id: IdPath, body: ProblemVerdict, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> ProblemDetail:
    """Verify the evidence and close the problem (核查销号): a supervisor, county reviewer or admin covering it, who
    is neither the responsible person nor the submitter."""
    p = await _allowed(session, user, problem_id, Action.CLOSE)
    now = datetime.now(UTC)
    values = {"closed_at": now, "closed_by": user.id, "verifier_id": user.id}
    await _notify(session, p, {p.responsible_user_id, p.submitted_by}, kind=EventKind.PROBLEM_CLOSED, at=now)
    payload = {"opinion": body.opinion, "evidence": list(p.evidence)}
    return await _move(session, user, p, Action.CLOSE, values, payload, settings, at=now)


@router.post("/{problem_id}/send-back", response_model=ProblemDetail)
async def send_back(
    problem_id: IdPath, body: ProblemReason, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> ProblemDetail:
    """Send a submission back for more rectification (退回整改): a verifier, as for close-out."""
    p = await _allowed(session, user, problem_id, Action.SEND_BACK)
    now = datetime.now(UTC)
    await _notify(session, p, {p.responsible_user_id, p.submitted_by}, kind=EventKind.PROBLEM_SENT_BACK, at=now)
    payload = {"reason": body.reason, "evidence": list(p.evidence)}
    return await _move(
        session, user, p, Action.SEND_BACK, {"evidence": [], "verifier_id": user.id}, payload, settings, at=now
    )


@router.post("/{problem_id}/reopen", response_model=ProblemDetail)
async def reopen(
    problem_id: IdPath, body: ProblemReason, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> ProblemDetail:
    """Reopen a closed problem (重新打开): a supervisor, county reviewer or admin covering it."""
    p = await _allowed(session, user, problem_id, Action.REOPEN)
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "closed_at": None,
        "closed_by": None,
        "evidence": [],
        "submitted_by": None,
        "submitted_at": None,
        "reopened_count": p.reopened_count + 1,
    }
    await _notify(session, p, {p.responsible_user_id}, kind=EventKind.PROBLEM_REOPENED, at=now)
    return await _move(session, user, p, Action.REOPEN, values, {"reason": body.reason}, settings, at=now)
