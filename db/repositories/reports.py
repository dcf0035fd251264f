"""Reports (周调度, 月通报): the stored rows, and the figures they are made of — SQL aggregates over projects, tasks,
receivables and payments received, dividend rounds and payments, problems and assets, each one statement grouped by
county, by township and in total at once (GROUPING SETS), never a loop over rows in Python."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from db.models import Project, Region, Report
from domain.enums import Role, Stage

COLOURS = ("green", "blue", "yellow", "red")
REVIEWER_ROLES = [Role.TOWNSHIP_REVIEWER.value, Role.EXPERT.value, Role.COUNTY_REVIEWER.value, Role.CITY_REVIEWER.value]
IN_OPERATION = ("in_use", "leased", "idle", "damaged")
Key = tuple[str, str]  # ("total", ""), ("county", code) or ("township", code)


def colour_columns() -> list[str]:
    """Every archive colour the projects table keeps (`colour` is the one a list shows): whichever exist."""
    return [c.name for c in Project.__table__.columns if c.name == "colour" or c.name.endswith("_colour")]


@dataclass(frozen=True)
class Window:
    """What a report counts: the counties it covers, its period (local days, end exclusive, and the same as UTC
    instants), and the cut — the period's end, or the moment the report is made if that is earlier."""

    counties: list[str]
    start: date
    end: date
    start_at: datetime
    end_at: datetime
    cut_at: datetime
    cut_day: date
    year_start: date
    year_start_at: datetime

    def params(self) -> dict[str, Any]:
        """The bound parameters every statement takes."""
        return {
            "counties": self.counties,
            "start": self.start,
            "end": self.end,
            "start_at": self.start_at,
            "end_at": self.end_at,
            "cut_at": self.cut_at,
            "cut_day": self.cut_day,
            "year_start": self.year_start,
            "year_start_at": self.year_start_at,
            "reviewer_roles": REVIEWER_ROLES,
        }


def _grouped(base: str, metrics: dict[str, str]) -> str:
    """`base` (rows with `county` and `township` columns) summed by county, by township and in total at once."""
    cols = ",\n  ".join(f"{expr} AS {name}" for name, expr in metrics.items())
    return (
        f"SELECT county, township, GROUPING(county) AS gc, GROUPING(township) AS gt,\n  {cols}\n"
        f"FROM ({base}) AS b\nGROUP BY GROUPING SETS ((county), (township), ())"
    )


def _count(where: str) -> str:
    return f"count(*) FILTER (WHERE {where})"


def _sum(expr: str, where: str = "true") -> str:
    return f"coalesce(sum({expr}) FILTER (WHERE {where}), 0)"


def _queries() -> list[str]:
    colour_cols = colour_columns()
    project_metrics: dict[str, str] = {
        "projects": "count(*)",
        "new_projects": _count("created_at >= :start_at AND created_at < :end_at"),
        **{f"stage_{s.value}": _count(f"stage = '{s.value}'") for s in Stage},
        "under_construction": _count("stage = 'construction'"),
        "behind_yellow": _count("stage = 'construction' AND construction_colour = 'yellow'"),
        "behind_red": _count("stage = 'construction' AND construction_colour = 'red'"),
        **{f"colour__{col}__{c}": _count(f"{col} = '{c}'") for col in colour_cols for c in COLOURS},
    }
    projects = (
        f"SELECT p.county_code AS county, p.township_code AS township, p.stage, p.created_at, "  # noqa: S608 - column names come from the model
        f"{', '.join('p.' + c for c in dict.fromkeys(['construction_colour', *colour_cols]))} "
        "FROM projects p WHERE p.county_code = ANY(:counties)"
    )
    tasks = (
        "SELECT p.county_code AS county, p.township_code AS township FROM tasks t "
        "JOIN projects p ON p.code = t.project_code "
        "WHERE p.county_code = ANY(:counties) AND t.candidate_role = ANY(:reviewer_roles) "
        "AND t.opened_at < :cut_at AND t.due_at < :cut_at "
        "AND (t.status = 'open' OR (t.status = 'decided' AND t.decided_at >= :cut_at))"
    )
    receivables = (
        "SELECT p.county_code AS county, p.township_code AS township, r.amount_fen, r.due_date, "
        "coalesce(got.fen, 0) AS received FROM receivables r JOIN projects p ON p.code = r.project_code "
        "LEFT JOIN (SELECT rp.receivable_id, sum(rp.amount_fen) AS fen FROM received_payments rp "
        "  JOIN projects p2 ON p2.code = rp.project_code "
        "  WHERE p2.county_code = ANY(:counties) AND rp.received_on < :cut_day GROUP BY rp.receivable_id) AS got "
        "ON got.receivable_id = r.id WHERE p.county_code = ANY(:counties)"
    )
    arrears = "due_date < :cut_day AND amount_fen > received"
    received = (
        "SELECT p.county_code AS county, p.township_code AS township, rp.amount_fen, rp.received_on "
        "FROM received_payments rp JOIN projects p ON p.code = rp.project_code "
        "WHERE p.county_code = ANY(:counties) AND rp.received_on >= :year_start AND rp.received_on < :end"
    )
    payouts = (
        "SELECT r.county_code AS county, substr(h.village_code, 1, 9) AS township, dp.status, dp.amount_fen "
        "FROM dividend_payments dp JOIN dividend_rounds r ON r.id = dp.round_id "
        "LEFT JOIN households h ON h.code = dp.household_code "
        "WHERE r.county_code = ANY(:counties) AND dp.settled_at >= :start_at AND dp.settled_at < :cut_at"
    )
    rounds = (
        "SELECT r.county_code AS county, CAST(NULL AS varchar) AS township, r.households_fen, r.paid_fen "
        "FROM dividend_rounds r WHERE r.county_code = ANY(:counties) "
        "AND r.opened_at >= :year_start_at AND r.opened_at < :cut_at"
    )
    problems = (
        "SELECT pr.county_code AS county, pr.township_code AS township, pr.opened_at, pr.closed_at, pr.deadline "
        "FROM problems pr WHERE pr.county_code = ANY(:counties) AND pr.opened_at < :cut_at"
    )
    still_open = "(closed_at IS NULL OR closed_at >= :cut_at)"
    assets = (
        "SELECT a.county_code AS county, a.township_code AS township, a.asset_class, a.registration_status, a.status "
        "FROM assets a WHERE a.county_code = ANY(:counties)"
    )
    operating = ", ".join(f"'{s}'" for s in IN_OPERATION)
    return [
        _grouped(projects, project_metrics),
        _grouped(tasks, {"reviews_overdue": "count(*)"}),
        _grouped(
            receivables,
            {
                "due_fen": _sum("amount_fen", "due_date >= :start AND due_date < :end"),
                "due_ytd_fen": _sum("amount_fen", "due_date >= :year_start AND due_date < :end"),
                "arrears_count": _count(arrears),
                "arrears_fen": _sum("amount_fen - received", arrears),
            },
        ),
        _grouped(
            received,
            {"received_fen": _sum("amount_fen", "received_on >= :start"), "received_ytd_fen": _sum("amount_fen")},
        ),
        _grouped(
            payouts,
            {
                "paid_count": _count("status = 'paid'"),
                "paid_fen": _sum("amount_fen", "status = 'paid'"),
                "failed_count": _count("status = 'failed'"),
                "failed_fen": _sum("amount_fen", "status = 'failed'"),
            },
        ),
        _grouped(
            rounds,
            {
                "rounds": "count(*)",
                "dividends_planned_fen": _sum("households_fen"),
                "dividends_paid_fen": _sum("paid_fen"),
            },
        ),
        _grouped(
            problems,
            {
                "problems_opened": _count("opened_at >= :start_at"),
                "problems_closed": _count("closed_at >= :start_at AND closed_at < :cut_at"),
                "problems_open": _count(still_open),
                "problems_overdue": _count(f"deadline < :cut_day AND {still_open}"),
            },
        ),
        _grouped(
            assets,
            {
                "assets": "count(*)",
                "assets_to_register": _count("asset_class <> 'household'"),
                "assets_registered": _count("asset_class <> 'household' AND registration_status = 'registered'"),
                "assets_in_operation": _count(f"status IN ({operating})"),
                "assets_idle": _count("status = 'idle'"),
            },
        ),
    ]


async def aggregate_figures(session: AsyncSession, *, window: Window) -> dict[Key, dict[str, int]]:
    """Every figure of every county, township and the total of the window, one grouped statement per source."""
    out: dict[Key, dict[str, int]] = {}
    params = window.params()
    for sql in _queries():
        for row in (await session.execute(text(sql), params)).mappings():
            if row["gt"] == 0:
                if not row["township"]:
                    continue  # a county-level fact (a round, a region-only problem) has no township
                key: Key = ("township", row["township"])
            elif row["gc"] == 0:
                key = ("county", row["county"])
            else:
                key = ("total", "")
            figures = out.setdefault(key, {})
            for name, value in row.items():
                if name not in ("county", "township", "gc", "gt"):
                    figures[name] = int(value or 0)
    return out


async def list_counties(session: AsyncSession, *, city_code: str | None = None, scope: str = "") -> list[str]:
    """County codes of the region table: of one city, or under a code prefix (empty: all)."""
    stmt = select(Region.code).where(Region.level == "county")
    if city_code is not None:
        stmt = stmt.where(Region.parent_code == city_code)
    if scope:
        stmt = stmt.where(Region.code.startswith(scope))
    return list((await session.scalars(stmt.order_by(Region.code))).all())


async def list_report_regions(session: AsyncSession, *, level: str, scope: str) -> list[str]:
    """Counties or cities (level) under a code prefix (empty: all), in code order."""
    stmt = select(Region.code).where(Region.level == level)
    if scope:
        stmt = stmt.where(Region.code.startswith(scope[:4] if level == "city" else scope))
    return list((await session.scalars(stmt.order_by(Region.code))).all())


async def region_names(session: AsyncSession, *, codes: Sequence[str]) -> dict[str, str]:
    """Names of regions by code."""
    if not codes:
        return {}
    rows = await session.execute(select(Region.code, Region.name).where(Region.code.in_(list(codes))))
    return {code: name for code, name in rows}


async def township_names(session: AsyncSession, *, counties: Sequence[str]) -> dict[str, str]:
    """Names of the townships of these counties."""
    rows = await session.execute(
        select(Region.code, Region.name).where(Region.level == "township", Region.parent_code.in_(list(counties)))
    )
    return {code: name for code, name in rows}


_PROJECT_COLUMNS = "p.code, p.name, p.county_code, p.township_code, p.stage, p.project_type, p.progress_percent"


async def list_report_projects(
    session: AsyncSession, *, window: Window, where: str, order: str, limit: int
) -> list[dict[str, Any]]:
    """Projects of the window's counties matching a fixed condition (the report's own lists), with their colours."""
    colours = ", ".join(f"p.{c}" for c in colour_columns())
    sql = (
        f"SELECT {_PROJECT_COLUMNS}, p.created_at, {colours} FROM projects p "  # noqa: S608 - the conditions are the report's own
        f"WHERE p.county_code = ANY(:counties) AND ({where}) ORDER BY {order} LIMIT :limit"
    )
    rows = await session.execute(text(sql), {**window.params(), "limit": limit})
    return [dict(r) for r in rows.mappings()]


async def count_report_projects(session: AsyncSession, *, window: Window, where: str) -> int:
    """How many projects a list would hold without its limit."""
    sql = f"SELECT count(*) FROM projects p WHERE p.county_code = ANY(:counties) AND ({where})"  # noqa: S608
    return int((await session.execute(text(sql), window.params())).scalar_one())


async def list_arrears(session: AsyncSession, *, window: Window, limit: int) -> list[dict[str, Any]]:
    """Receivables in arrears at the cut, largest outstanding first: asset, project, due date, amount, outstanding."""
    sql = (
        "SELECT r.asset_id, a.name AS asset_name, r.project_code, p.name AS project_name, p.township_code, "
        "r.due_date, r.amount_fen, r.amount_fen - coalesce(got.fen, 0) AS outstanding_fen "
        "FROM receivables r JOIN projects p ON p.code = r.project_code JOIN assets a ON a.id = r.asset_id "
        "LEFT JOIN LATERAL (SELECT sum(rp.amount_fen) AS fen FROM received_payments rp "
        "  WHERE rp.receivable_id = r.id AND rp.received_on < :cut_day) AS got ON true "
        "WHERE p.county_code = ANY(:counties) AND r.due_date < :cut_day "
        "AND r.amount_fen > coalesce(got.fen, 0) ORDER BY outstanding_fen DESC, r.due_date, r.id LIMIT :limit"
    )
    rows = await session.execute(text(sql), {**window.params(), "limit": limit})
    return [dict(r) for r in rows.mappings()]


async def overdue_problems_by_unit(session: AsyncSession, *, window: Window, limit: int) -> list[dict[str, Any]]:
    """Problems overdue at the cut, counted by responsible unit (most first)."""
    sql = (
        "SELECT coalesce(nullif(pr.responsible_unit, ''), '（未指定）') AS unit, count(*) AS overdue, "
        "min(pr.deadline) AS oldest_deadline FROM problems pr "
        "WHERE pr.county_code = ANY(:counties) AND pr.opened_at < :cut_at AND pr.deadline < :cut_day "
        "AND (pr.closed_at IS NULL OR pr.closed_at >= :cut_at) "
        "GROUP BY 1 ORDER BY overdue DESC, unit LIMIT :limit"
    )
    rows = await session.execute(text(sql), {**window.params(), "limit": limit})
    return [dict(r) for r in rows.mappings()]


async def create_report(
    session: AsyncSession,
    *,
    id: str,
    kind: str,
    region_code: str,
    period: str,
    period_start: date,
    period_end: date,
    figures: dict[str, Any],
    requested_by: int | None,
    generated_at: datetime,
) -> bool:
    """Store a report once (a re-run writes nothing); True when this call wrote it."""
    stmt = (
        insert(Report)
        .values(
            id=id,
            kind=kind,
            region_code=region_code,
            period=period,
            period_start=period_start,
            period_end=period_end,
            figures=figures,
            requested_by=requested_by,
            generated_at=generated_at,
        )
        .on_conflict_do_nothing()
        .returning(Report.id)
    )
    return (await session.execute(stmt)).first() is not None


async def get_report(session: AsyncSession, *, report_id: str) -> Report | None:
    """One report by id."""
    return await session.get(Report, report_id)


async def list_existing_reports(session: AsyncSession, *, ids: Sequence[str]) -> set[str]:
    """Which of these report ids are stored."""
    if not ids:
        return set()
    return set((await session.scalars(select(Report.id).where(Report.id.in_(list(ids))))).all())


@dataclass(frozen=True)
class ReportFilter:
    """A report list's filters: the caller's prefix, their city (for the monthly bulletins), and kind/region/period."""

    prefix: str
    city: str | None
    kind: str | None = None
    region: str | None = None
    period: str | None = None


async def list_reports(
    session: AsyncSession, *, filters: ReportFilter, limit: int, offset: int
) -> tuple[Sequence[Report], int]:
    """Reports the caller may read, newest period first, and how many match."""
    readable = Report.region_code.startswith(filters.prefix)
    if filters.city is not None:
        readable = readable | ((Report.kind == "monthly") & (Report.region_code == filters.city))
    conditions = [readable]
    if filters.kind:
        conditions.append(Report.kind == filters.kind)
    if filters.region:
        conditions.append(Report.region_code == filters.region)
    if filters.period:
        conditions.append(Report.period == filters.period)
    total = int(await session.scalar(select(func.count()).select_from(Report).where(*conditions)) or 0)
    rows = await session.scalars(
        select(Report)
        .options(defer(Report.figures))
        .where(*conditions)
        .order_by(Report.period_start.desc(), Report.kind, Report.region_code)
        .limit(limit)
        .offset(offset)
    )
    return rows.all(), total
