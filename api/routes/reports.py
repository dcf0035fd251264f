"""The weekly scheduling reports (周调度) and monthly bulletins (月通报): list, read, download as .xlsx, and have a past
period's report made on demand. Supervisors and the leadership offices (county and city reviewers) of the region read
them; a county's readers also read their city's bulletin."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Response, status
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer
from temporalio.client import WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from api.deps import CurrentUser, Principal, SessionDep, SessionsDep, SettingsDep, TemporalDep
from api.edge import EdgeRoute, Offset
from api.errors import ApiError, forbidden, invalid, not_found
from api.report_schemas import ReportCreate, ReportDetail, ReportPublic, ReportsPublic
from api.schemas import _d
from api.updates import temporal_unavailable
from core.report_xlsx import render_report
from core.temporal import WORKFLOW_TASK_TIMEOUT
from db.models import Region, Report
from db.repositories.reports import ReportFilter, get_report, list_reports
from domain.attachments import content_disposition
from domain.reports import (
    LEVEL,
    READERS,
    REQUESTERS,
    WORKFLOW,
    PeriodError,
    ReportInput,
    ReportKind,
    ReportMade,
    has_ended,
    may_read,
    parse_period,
    parse_report_id,
    report_id,
    report_workflow_id,
)

router = APIRouter(prefix="/reports", tags=["reports"], route_class=EdgeRoute)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ReportIdPath = Annotated[
    str, Path(min_length=1, max_length=40, description=_d("报告编号，如 weekly-370115-2026-W48", "report id"))
]


def _city_of(user: Principal) -> str | None:
    """The city whose bulletins a user inside a county reads besides their own region's reports."""
    return user.region_code[:4] + "00" if len(user.region_prefix) > 4 else None


def _public(r: Report, *, title: str, region_name: str, as_of: str | None) -> ReportPublic:
    return ReportPublic(
        id=r.id,
        kind=ReportKind(r.kind),
        title=title,
        region_code=r.region_code,
        region_name=region_name,
        period=r.period,
        period_start=r.period_start,
        period_last_day=r.period_end - timedelta(days=1),
        as_of=datetime.fromisoformat(as_of) if as_of else r.generated_at,
        generated_at=r.generated_at,
        requested_by=r.requested_by,
        xlsx=f"/api/v1/reports/{r.id}.xlsx",
    )


async def _summaries(session: AsyncSession, rows: Sequence[Report]) -> list[ReportPublic]:
    """Listed reports with their titles and cut-offs, read from the JSON without loading the figures."""
    if not rows:
        return []
    titles = {
        rid: (title or "", as_of)
        for rid, title, as_of in await session.execute(
            select(Report.id, Report.figures["title"].astext, Report.figures["as_of"].astext).where(
                Report.id.in_([r.id for r in rows])
            )
        )
    }
    names = {
        code: name
        for code, name in await session.execute(
            select(Region.code, Region.name).where(Region.code.in_({r.region_code for r in rows}))
        )
    }
    return [
        _public(r, title=titles[r.id][0], region_name=names.get(r.region_code, ""), as_of=titles[r.id][1]) for r in rows
    ]


async def _readable(user: Principal, session: SessionDep, rid: str) -> Report:
    user.require_role(*READERS)
    parsed = parse_report_id(rid)
    if parsed is None:
        raise not_found(f"report {rid}")
    kind, region, _ = parsed
    if not may_read(user.role, user.region_code, user.region_prefix, kind, region):
        raise forbidden(f"report {rid} lies outside your region {user.region_code}", "region_forbidden")
    report = await get_report(session, report_id=rid)
    if report is None:
        raise not_found(f"report {rid}")
    return report


@router.get("", response_model=ReportsPublic)
async def list_(
    user: CurrentUser,
    session: SessionDep,
    kind: Annotated[ReportKind | None, Query(description=_d("类型", "kind: weekly or monthly"))] = None,
    region: Annotated[
        str | None, Query(pattern=r"^[0-9]{6}$", description=_d("区划代码（县或市）", "a county or a city code"))
    ] = None,
    period: Annotated[
        str | None,
        Query(pattern=r"^[0-9]{4}-(W[0-9]{2}|[0-9]{2})$", description=_d("期间 2026-W48 或 2026-11", "period")),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200, description=_d("每页条数", "page size"))] = 50,
    offset: Offset = 0,
) -> ReportsPublic:
    """Reports you may read, newest period first; filters by kind, region and period."""
    user.require_role(*READERS)
    city = _city_of(user)
    if region is not None:
        bulletin_of_my_city = region == city and kind is not ReportKind.WEEKLY
        if not user.covers(region) and not bulletin_of_my_city:
            message = f"region {region} lies outside your region {user.region_code}"
            raise ApiError(
                403, "region_forbidden", message, [{"field": "region", "rule": "in_your_region", "message": message}]
            )
        if await session.get(Region, region) is None:
            raise invalid([{"field": "region", "rule": "exists", "message": f"no region {region}"}])
    if period is not None:
        period_kind = ReportKind.WEEKLY if "W" in period else ReportKind.MONTHLY
        try:
            parse_period(period_kind, period)
        except PeriodError as err:
            raise invalid([{"field": "period", "rule": "a_period", "message": str(err)}]) from err
    filters = ReportFilter(
        prefix=user.region_prefix, city=city, kind=kind.value if kind else None, region=region, period=period
    )
    rows, total = await list_reports(session, filters=filters, limit=limit, offset=offset)
    return ReportsPublic(items=await _summaries(session, rows), count=total, limit=limit, offset=offset)


@router.get(
    "/{report_id}.xlsx",
    response_class=Response,
    responses={
        200: {"content": {XLSX: {}}, "description": _d("报告工作簿（含图表）", "the report as .xlsx, with charts")}
    },
)
async def download(report_id: ReportIdPath, user: CurrentUser, session: SessionDep) -> Response:
    """The report as an Excel workbook: Chinese headers, money in yuan, native charts (stages, colours, ranking)."""
    report = await _readable(user, session, report_id)
    figures = report.figures
    await session.close()  # the workbook is built without holding a pooled connection
    data = await asyncio.to_thread(render_report, figures)
    return Response(
        content=data,
        media_type=XLSX,
        headers={"Content-Disposition": content_disposition(f"{figures.get('title', report_id)}.xlsx")},
    )


@router.get("/{report_id}", response_model=ReportDetail)
async def read(report_id: ReportIdPath, user: CurrentUser, session: SessionDep) -> ReportDetail:
    """One report with all its figures (money in fen, rates in basis points)."""
    report = await _readable(user, session, report_id)
    f = report.figures
    base = _public(report, title=f.get("title", ""), region_name=f.get("region", {}).get("name", ""), as_of=f["as_of"])
    return ReportDetail(**base.model_dump(), figures=f)


@router.post(
    "",
    response_model=ReportPublic,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": ReportPublic, "description": _d("该期报告已存在", "the period's report exists already")}},
)
async def request(
    body: ReportCreate,
    user: CurrentUser,
    sessions: SessionsDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    response: Response,
) -> ReportPublic:
    """Have a past period's report made now (supervisors and admins, for a county or city inside their region): 201
    when made by this request, 200 when it exists already (a re-run makes nothing); the same request may be repeated."""
    user.require_role(*REQUESTERS)
    kind = body.kind
    problems: list[dict[str, str]] = []
    try:
        period = parse_period(kind, body.period)
    except PeriodError as err:
        raise invalid([{"field": "period", "rule": "a_period", "message": str(err)}]) from err
    today = datetime.now(ZoneInfo(settings.time_zone)).date()
    if not has_ended(period, today):
        problems.append(
            {"field": "period", "rule": "ended", "message": f"{period.label} ends on {period.last_day}: not over yet"}
        )
    if period.start.year < 2013:
        problems.append({"field": "period", "rule": "since_2013", "message": "reports start in 2013"})
    user.require_region(body.region_code, f"region {body.region_code}")
    async with sessions() as session:
        region = await session.get(Region, body.region_code)
        if region is None:
            problems.append({"field": "region_code", "rule": "exists", "message": f"no region {body.region_code}"})
        elif region.level != LEVEL[kind]:
            message = f"a {kind.value} report is made for a {LEVEL[kind]}; {body.region_code} is a {region.level}"
            problems.append({"field": "region_code", "rule": "level", "message": message})
        if problems:
            raise invalid(problems)
        rid = report_id(kind, body.region_code, period.label)
        existing = await session.get(Report, rid, options=[defer(Report.figures)])
        if existing is not None:
            response.status_code = status.HTTP_200_OK
            return (await _summaries(session, [existing]))[0]
    # no pooled connection is held while the workflow runs
    try:
        async with asyncio.timeout(temporal.wait_seconds):
            handle = await temporal.client.start_workflow(
                WORKFLOW[kind],
                ReportInput(kind=kind.value, region_code=body.region_code, period=period.label, requested_by=user.id),
                id=report_workflow_id(kind, body.region_code, period.label),
                task_queue=settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                task_timeout=WORKFLOW_TASK_TIMEOUT,
                result_type=ReportMade,
            )
            made = await handle.result()
    except RPCError as err:
        raise temporal_unavailable(err) from err
    except TimeoutError as err:
        raise ApiError(504, "update_timeout", "the report is still being made; send the same request again") from err
    except WorkflowAlreadyStartedError:
        made = ReportMade(rid, created=False)  # made by an earlier run (its row is read below)
    except WorkflowFailureError as err:
        raise ApiError(503, "report_failed", "the report could not be made; retry the request shortly") from err
    async with sessions() as session:
        report = await session.get(Report, made.report_id, options=[defer(Report.figures)])
        if report is None:
            raise ApiError(503, "report_failed", "the report could not be made; retry the request shortly")
        if not made.created:
            response.status_code = status.HTTP_200_OK
        return (await _summaries(session, [report]))[0]
