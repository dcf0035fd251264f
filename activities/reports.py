"""Activities of the report workflows (周调度, 月通报): which reports are due and missing, making one report (its
figures by SQL aggregates, stored once as JSON by its period-derived id, audited), and telling its readers in-app.
Each is one transaction and idempotent: a retried or repeated run writes nothing twice."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.settings import ReportSettings, get_settings
from db.engine import Sessions
from db.models import Region, Report, User
from db.repositories.audit import create_audit_entry
from db.repositories.notifications import record_event
from db.repositories.reports import (
    Window,
    aggregate_figures,
    colour_columns,
    count_report_projects,
    create_report,
    list_arrears,
    list_counties,
    list_existing_reports,
    list_report_projects,
    list_report_regions,
    overdue_problems_by_unit,
    region_names,
    township_names,
)
from domain.enums import Stage
from domain.notifications import EventKind
from domain.reports import (
    LEVEL,
    NOTIFIED,
    TITLE,
    DueInput,
    DueReport,
    Period,
    ReportInput,
    ReportKind,
    ReportMade,
    ended_periods,
    parse_period,
    rank_counties,
    rate_bp,
    report_id,
)

log = structlog.get_logger(__name__)
# a report lists every project of its region (a county runs 100–300, a city 1,000–2,500; more are cut, and said so)
PROJECT_ROWS = 5000
COLOUR_LABELS = {
    "colour": "综合",
    "construction_colour": "建设档案",
    "registration_colour": "确权档案",
    "operation_colour": "运营档案",
    "distribution_colour": "分配档案",
}


def report_chain(region_code: str) -> str:
    """The audit chain of a region's reports."""
    return f"reports:{region_code}"


def _title(kind: ReportKind, name: str, period: Period) -> str:
    if kind is ReportKind.WEEKLY:
        year, week = period.label.split("-W")
        return f"{name}{year}年第{int(week)}周{TITLE[kind]}"
    year, month = period.label.split("-")
    return f"{name}{year}年{int(month)}月{TITLE[kind]}"


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """A listed row as JSON: dates as ISO text, sums of fen (numeric in SQL) as integers."""
    return {
        k: v.isoformat() if isinstance(v, date | datetime) else int(v) if isinstance(v, Decimal) else v
        for k, v in row.items()
    }


def section(f: dict[str, int]) -> dict[str, Any]:
    """One region's figures as the report shows them, with the rates the ranking uses (basis points)."""
    g = f.get
    under, yellow, red = g("under_construction", 0), g("behind_yellow", 0), g("behind_red", 0)
    to_register, registered = g("assets_to_register", 0), g("assets_registered", 0)
    in_operation, idle = g("assets_in_operation", 0), g("assets_idle", 0)
    due_ytd, received_ytd = g("due_ytd_fen", 0), g("received_ytd_fen", 0)
    planned, paid = g("dividends_planned_fen", 0), g("dividends_paid_fen", 0)
    still_open, overdue = g("problems_open", 0), g("problems_overdue", 0)
    overdue_share = rate_bp(overdue, still_open)
    return {
        "projects": {
            "total": g("projects", 0),
            "new": g("new_projects", 0),
            "by_stage": {s.value: g(f"stage_{s.value}", 0) for s in Stage},
        },
        "reviews_overdue": g("reviews_overdue", 0),
        "construction": {"under_construction": under, "yellow": yellow, "red": red},
        "revenue": {
            "due_fen": g("due_fen", 0),
            "received_fen": g("received_fen", 0),
            "due_ytd_fen": due_ytd,
            "received_ytd_fen": received_ytd,
            # self-operated and share-cooperation assets: profit reported for periods ending in it (no plan to meet)
            "profit_fen": g("profit_fen", 0),
            "profit_ytd_fen": g("profit_ytd_fen", 0),
        },
        "arrears": {"count": g("arrears_count", 0), "outstanding_fen": g("arrears_fen", 0)},
        "payouts": {
            "paid_count": g("paid_count", 0),
            "paid_fen": g("paid_fen", 0),
            "failed_count": g("failed_count", 0),
            "failed_fen": g("failed_fen", 0),
        },
        "dividends": {"rounds": g("rounds", 0), "planned_fen": planned, "paid_fen": paid},
        "problems": {
            "opened": g("problems_opened", 0),
            "closed": g("problems_closed", 0),
            "open": still_open,
            "overdue": overdue,
        },
        "assets": {
            "total": g("assets", 0),
            "to_register": to_register,
            "registered": registered,
            "in_operation": in_operation,
            "idle": idle,
        },
        "colours": {
            col: {c: g(f"colour__{col}__{c}", 0) for c in ("green", "blue", "yellow", "red")}
            for col in colour_columns()
        },
        "rates_bp": {
            "on_schedule": rate_bp(under - yellow - red, under),
            "registration": rate_bp(registered, to_register),
            "revenue": None if (r := rate_bp(received_ytd, due_ytd)) is None else min(r, 10000),
            "dividends": None if (d := rate_bp(paid, planned)) is None else min(d, 10000),
            "problems": None if overdue_share is None else 10000 - overdue_share,
            "idle": None if (i := rate_bp(idle, in_operation)) is None else 10000 - i,
            "idle_asset_rate": rate_bp(idle, in_operation),
        },
    }


def window_of(period: Period, counties: list[str], now: datetime, zone: ZoneInfo) -> Window:
    """The instants a period covers in the local zone; the cut is its end, or now when that is earlier."""
    start_at = datetime.combine(period.start, time(0), tzinfo=zone).astimezone(UTC)
    end_at = datetime.combine(period.end, time(0), tzinfo=zone).astimezone(UTC)
    cut_at = min(end_at, now.astimezone(UTC))
    year_start = date(period.fiscal_year, 1, 1)
    return Window(
        counties=counties,
        start=period.start,
        end=period.end,
        start_at=start_at,
        end_at=end_at,
        cut_at=cut_at,
        cut_day=cut_at.astimezone(zone).date() if cut_at < end_at else period.end,
        year_start=year_start,
        year_start_at=datetime.combine(year_start, time(0), tzinfo=zone).astimezone(UTC),
    )


class ReportActivities:
    """Makes the reports on behalf of the report workflows."""

    def __init__(
        self, sessions: Sessions, settings: ReportSettings | None = None, time_zone: str | None = None
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._zone = time_zone

    def _config(self) -> tuple[ReportSettings, ZoneInfo]:
        if self._settings is not None and self._zone is not None:
            return self._settings, ZoneInfo(self._zone)
        settings = get_settings()
        return self._settings or settings.reports, ZoneInfo(self._zone or settings.time_zone)

    @activity.defn
    async def list_due_reports(self, inp: DueInput) -> list[DueReport]:
        """The reports of the last ended weeks and months asked for, for every county (weekly) or city (monthly) under
        the scope, that are not stored yet."""
        _, zone = self._config()
        today = (inp.at or datetime.now(UTC)).astimezone(zone).date()
        wanted: list[DueReport] = []
        async with self._sessions() as session:
            for kind, lookback in ((ReportKind.WEEKLY, inp.weeks), (ReportKind.MONTHLY, inp.months)):
                if lookback <= 0:
                    continue
                regions = await list_report_regions(session, level=LEVEL[kind], scope=inp.scope)
                for period in ended_periods(kind, today, lookback):
                    wanted.extend(DueReport(kind.value, r, period.label) for r in regions)
            stored = await list_existing_reports(
                session, ids=[report_id(ReportKind(d.kind), d.region_code, d.period) for d in wanted]
            )
        return [d for d in wanted if report_id(ReportKind(d.kind), d.region_code, d.period) not in stored]

    @activity.defn
    async def make_report(self, inp: ReportInput) -> ReportMade:
        """Compute one report's figures and store them under the id its period gives (once), audited."""
        settings, zone = self._config()
        kind = ReportKind(inp.kind)
        period = parse_period(kind, inp.period)
        rid = report_id(kind, inp.region_code, inp.period)
        now = datetime.now(UTC)
        async with self._sessions.begin() as session:
            # one snapshot for every statement: the figures of a report agree with each other
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            if await session.get(Report, rid) is not None:
                return ReportMade(rid, created=False)
            region = await session.get(Region, inp.region_code)
            if region is None or region.level != LEVEL[kind]:
                raise ApplicationError(
                    f"no {LEVEL[kind]} {inp.region_code} to make a {kind.value} report for",
                    type="NotFound",
                    non_retryable=True,
                )
            counties = (
                [region.code] if kind is ReportKind.WEEKLY else await list_counties(session, city_code=region.code)
            )
            window = window_of(period, counties, now, zone)
            figures = await self._figures(session, kind, region, period, window, settings, now)
            created = await _store(session, rid, kind, inp, period, figures, now)
            if created:
                await create_audit_entry(
                    session,
                    chain=report_chain(region.code),
                    action="report_made",
                    event_key=f"report_made:{rid}",
                    payload={"report_id": rid, "kind": kind.value, "period": period.label, "as_of": figures["as_of"]},
                    actor_id=inp.requested_by,
                    actor_name="schedule" if inp.requested_by is None else "on_demand",
                    at=now,
                )
        log.info("report made", report_id=rid, created=created)
        return ReportMade(rid, created=created)

    async def _figures(
        self,
        session: Any,
        kind: ReportKind,
        region: Region,
        period: Period,
        window: Window,
        settings: ReportSettings,
        now: datetime,
    ) -> dict[str, Any]:
        agg = await aggregate_figures(session, window=window)
        counties = await region_names(session, codes=window.counties)
        townships = await township_names(session, counties=window.counties)
        limit = settings.list_rows
        reds = " OR ".join(f"p.{c} = 'red'" for c in colour_columns())
        yellows = f"({' OR '.join(f'p.{c} = {chr(39)}yellow{chr(39)}' for c in colour_columns())}) AND NOT ({reds})"
        behind = "p.stage = 'construction' AND p.construction_colour IN ('yellow', 'red')"
        new = "p.created_at >= :start_at AND p.created_at < :end_at"
        order = "p.county_code, p.township_code, p.code"
        lists: dict[str, str] = {"construction_behind": behind, "red_list": reds, "yellow_list": yellows, "new": new}
        out_lists: dict[str, list[dict[str, Any]]] = {}
        truncated: dict[str, int] = {}
        for name, where in lists.items():
            rows = await list_report_projects(session, window=window, where=where, order=order, limit=limit)
            if len(rows) == limit:
                truncated[name] = await count_report_projects(session, window=window, where=where)
            out_lists[name] = [_jsonable(r) for r in rows]
        figures: dict[str, Any] = {
            "id": report_id(kind, region.code, period.label),
            "kind": kind.value,
            "title": _title(kind, region.name, period),
            "region": {"code": region.code, "name": region.name, "level": region.level},
            "period": {
                "label": period.label,
                "start": period.start.isoformat(),
                "last_day": period.last_day.isoformat(),
            },
            "as_of": window.cut_at.isoformat(),
            "generated_at": now.isoformat(),
            "colour_archives": {c: COLOUR_LABELS.get(c, c) for c in colour_columns()},
            "totals": section(agg.get(("total", ""), {})),
            "townships": [
                {"code": code, "name": townships.get(code, code), "county_code": code[:6], **section(f)}
                for (level, code), f in sorted(agg.items())
                if level == "township"
            ],
            **out_lists,
            "arrears_list": [_jsonable(r) for r in await list_arrears(session, window=window, limit=limit)],
            "overdue_problems_by_unit": [
                _jsonable(r) for r in await overdue_problems_by_unit(session, window=window, limit=limit)
            ],
            "truncated": truncated,
        }
        rows = await list_report_projects(session, window=window, where="true", order=order, limit=PROJECT_ROWS)
        figures["projects"] = [_jsonable(r) for r in rows]
        if len(rows) == PROJECT_ROWS:
            truncated["projects"] = await count_report_projects(session, window=window, where="true")
        if kind is ReportKind.MONTHLY:
            by_county = {code: section(agg.get(("county", code), {})) for code in window.counties}
            ranking = rank_counties(
                {c: {k: v for k, v in s["rates_bp"].items() if k != "idle_asset_rate"} for c, s in by_county.items()},
                settings.weights,
            )
            figures["counties"] = [{"code": c, "name": counties.get(c, c), **s} for c, s in by_county.items()]
            figures["weights"] = dict(settings.weights)
            figures["ranking"] = [
                {
                    "rank": r.rank,
                    "code": r.code,
                    "name": counties.get(r.code, r.code),
                    "score_bp": r.score_bp,
                    "rates_bp": r.rates,
                }
                for r in ranking
            ]
        return figures

    @activity.defn
    async def notify_report(self, inp: ReportInput) -> int:
        """Tell the supervisors and the leadership offices of the report's region in-app that it is ready (a weekly
        report: the county's; a monthly bulletin: the city's and its counties'); once per report."""
        kind = ReportKind(inp.kind)
        rid = report_id(kind, inp.region_code, inp.period)
        async with self._sessions.begin() as session:
            report = await session.get(Report, rid)
            if report is None:
                raise ApplicationError(f"report {rid} is not stored", type="NotFound", non_retryable=True)
            region = inp.region_code
            regions = [region]
            if kind is ReportKind.MONTHLY:  # the bulletin goes to the city's and its counties' leadership groups
                regions += await list_counties(session, city_code=region)
            users = await session.scalars(
                select(User.id).where(
                    User.active, User.role.in_([r.value for r in NOTIFIED]), User.region_code.in_(regions)
                )
            )
            recorded = await record_event(
                session,
                kind=EventKind.REPORT_READY,
                key=f"report_ready:{rid}",
                params={"report_title": str(report.figures.get("title", rid)), "report_id": rid},
                user_ids=list(users.all()),
                region_code=inp.region_code,
                at=datetime.now(UTC),
            )
            return recorded.in_app


async def _store(
    session: Any,
    rid: str,
    kind: ReportKind,
    inp: ReportInput,
    period: Period,
    figures: dict[str, Any],
    now: datetime,
) -> bool:
    return await create_report(
        session,
        id=rid,
        kind=kind.value,
        region_code=inp.region_code,
        period=period.label,
        period_start=period.start,
        period_end=period.end,
        figures=figures,
        requested_by=inp.requested_by,
        generated_at=now,
    )
