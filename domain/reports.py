"""The weekly scheduling report (周调度) and the monthly bulletin (月通报), DOMAIN.md §8: periods and their ids, the
payloads of the report workflows, the county ranking and who reads a report. Pure: no clock, no I/O."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from domain.enums import Role


class ReportKind(StrEnum):
    """A weekly report per county and ISO week, a monthly bulletin per city and month."""

    WEEKLY = "weekly"
    MONTHLY = "monthly"


# the region level each kind is made for
LEVEL: dict[ReportKind, str] = {ReportKind.WEEKLY: "county", ReportKind.MONTHLY: "city"}
TITLE: dict[ReportKind, str] = {ReportKind.WEEKLY: "周调度报告", ReportKind.MONTHLY: "月度通报"}
WORKFLOW: dict[ReportKind, str] = {
    ReportKind.WEEKLY: "WeeklyReportWorkflow",
    ReportKind.MONTHLY: "MonthlyBulletinWorkflow",
}

# who reads reports: the supervisors (纪检/审计/领导小组) and the leadership offices of the county and the city (the
# rural revitalisation bureaus, where county and city reviewers sit), and admins; supervisors and admins may also
# have a past period's report made on demand
READERS: frozenset[Role] = frozenset({Role.SUPERVISOR, Role.COUNTY_REVIEWER, Role.CITY_REVIEWER, Role.ADMIN})
REQUESTERS: frozenset[Role] = frozenset({Role.SUPERVISOR, Role.ADMIN})
# who is told in-app that a report is ready (admins read them but are not told)
NOTIFIED: tuple[Role, ...] = (Role.SUPERVISOR, Role.COUNTY_REVIEWER, Role.CITY_REVIEWER)

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_ID = re.compile(r"^(weekly|monthly)-(\d{6})-(\d{4}-W\d{2}|\d{4}-\d{2})$")

# the ranking's components: each a rate in basis points (10000 = 100 %), higher is better
COMPONENTS: tuple[str, ...] = ("on_schedule", "registration", "revenue", "dividends", "problems", "idle")
DEFAULT_WEIGHTS: dict[str, int] = {
    "on_schedule": 25,
    "registration": 20,
    "revenue": 20,
    "dividends": 15,
    "problems": 10,
    "idle": 10,
}


class PeriodError(ValueError):
    """A period that is not one of its kind (`2026-W48`, `2026-11`)."""


@dataclass(frozen=True)
class Period:
    """A report's period: its label and its local days, `start` inclusive, `end` exclusive."""

    kind: ReportKind
    label: str
    start: date
    end: date

    @property
    def last_day(self) -> date:
        """The period's last day (inclusive)."""
        return self.end - timedelta(days=1)

    @property
    def fiscal_year(self) -> int:
        """The fiscal (calendar) year the period's figures for the year are counted in: its last day's."""
        return self.last_day.year


def period_of(kind: ReportKind, day: date) -> Period:
    """The period that contains `day`."""
    if kind is ReportKind.WEEKLY:
        year, week, _ = day.isocalendar()
        start = day - timedelta(days=day.weekday())
        return Period(kind, f"{year}-W{week:02d}", start, start + timedelta(days=7))
    start = day.replace(day=1)
    end = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return Period(kind, f"{start.year}-{start.month:02d}", start, end)


def parse_period(kind: ReportKind, label: str) -> Period:
    """The period a label names: ISO week `2026-W48` for weekly, `2026-11` for monthly."""
    if kind is ReportKind.WEEKLY:
        if not (m := _WEEK.match(label)):
            raise PeriodError("a week is written YYYY-Www, e.g. 2026-W48")
        try:
            start = date.fromisocalendar(int(m[1]), int(m[2]), 1)
        except ValueError as err:
            raise PeriodError(f"{label} is not an ISO week") from err
        return period_of(kind, start)
    if not (m := _MONTH.match(label)) or not 1 <= int(m[2]) <= 12 or int(m[1]) < 1:
        raise PeriodError("a month is written YYYY-MM, e.g. 2026-11")
    return period_of(kind, date(int(m[1]), int(m[2]), 1))


def previous_period(kind: ReportKind, today: date) -> Period:
    """The last period that has ended by `today`: the Monday run reports the week before, the 1st the month before."""
    return period_of(kind, period_of(kind, today).start - timedelta(days=1))


def ended_periods(kind: ReportKind, today: date, count: int) -> list[Period]:
    """The `count` periods that ended last by `today`, newest first."""
    out: list[Period] = []
    day = today
    for _ in range(count):
        p = previous_period(kind, day)
        out.append(p)
        day = p.start
    return out


def has_ended(period: Period, today: date) -> bool:
    """A period can be reported once its last day is over."""
    return period.end <= today


def report_id(kind: ReportKind, region_code: str, period: str) -> str:
    """The report's id, derived from its period: a re-run finds it and does nothing."""
    return f"{kind.value}-{region_code}-{period}"


def report_workflow_id(kind: ReportKind, region_code: str, period: str) -> str:
    """The report workflow's id: one per county and week, one per city and month."""
    return f"report-{report_id(kind, region_code, period)}"


def parse_report_id(value: str) -> tuple[ReportKind, str, str] | None:
    """(kind, region, period) of a report id, or None when it is not one."""
    m = _ID.match(value)
    if not m:
        return None
    kind = ReportKind(m[1])
    try:
        parse_period(kind, m[3])
    except PeriodError:
        return None
    return kind, m[2], m[3]


def may_read(role: Role, user_region: str, user_prefix: str, kind: ReportKind, report_region: str) -> bool:
    """A reader's role, and the report's region inside theirs — or, for a monthly bulletin, their city's (the
    bulletin goes to the city's and its counties' leadership groups)."""
    if role not in READERS:
        return False
    if report_region.startswith(user_prefix):
        return True
    return kind is ReportKind.MONTHLY and len(user_prefix) >= 4 and report_region == user_region[:4] + "00"


def rate_bp(part: int, whole: int) -> int | None:
    """part / whole in basis points (rounded half up), None when there is nothing to measure."""
    if whole <= 0:
        return None
    return (part * 10000 * 2 + whole) // (whole * 2)


def score_bp(rates: Mapping[str, int | None], weights: Mapping[str, int]) -> int | None:
    """A county's score: the weighted mean of its rates in basis points; a component with nothing to measure is
    left out and the others' weights count in full. None when no component could be measured."""
    total = sum(w for name, w in weights.items() if rates.get(name) is not None and w > 0)
    if total == 0:
        return None
    weighted = sum(w * int(rates[name] or 0) for name, w in weights.items() if rates.get(name) is not None and w > 0)
    return (weighted * 2 + total) // (total * 2)


@dataclass(frozen=True)
class Ranked:
    """One county's place in the monthly ranking."""

    code: str
    score_bp: int | None
    rank: int
    rates: dict[str, int | None]


def rank_counties(rates: Mapping[str, Mapping[str, int | None]], weights: Mapping[str, int]) -> list[Ranked]:
    """Counties by score, best first; equal scores share a rank (1, 2, 2, 4), ties listed by code; counties with no
    score come last, unranked (rank 0)."""
    scored = sorted(
        ((code, score_bp(r, weights), dict(r)) for code, r in rates.items()),
        key=lambda t: (t[1] is None, -(t[1] or 0), t[0]),
    )
    out: list[Ranked] = []
    previous: int | None = None
    rank = 0
    for i, (code, score, r) in enumerate(scored, start=1):
        if score is None:
            out.append(Ranked(code, None, 0, r))
            continue
        if score != previous:
            rank, previous = i, score
        out.append(Ranked(code, score, rank, r))
    return out


def weights_problem(weights: Mapping[str, int]) -> str | None:
    """Why a ranking's weights cannot be used, or None."""
    unknown = sorted(set(weights) - set(COMPONENTS))
    if unknown:
        return f"unknown components {', '.join(unknown)}; known: {', '.join(COMPONENTS)}"
    if any(w < 0 for w in weights.values()):
        return "weights are whole numbers of zero or more"
    if sum(weights.values()) <= 0:
        return "at least one weight must be above zero"
    return None


# ---------------------------------------------------------------- workflow payloads (frozen, defaults for new fields)


@dataclass(frozen=True)
class ReportInput:
    """Make one report: kind, its region (a county or a city) and period; who asked (None: the schedule)."""

    kind: str
    region_code: str
    period: str
    requested_by: int | None = None


@dataclass(frozen=True)
class ReportMade:
    """What a report workflow made: the id, and whether this run wrote it (False: it was there already)."""

    report_id: str
    created: bool


@dataclass(frozen=True)
class DueInput:
    """Which reports are due: how many ended weeks and months back to look (0: that kind not at all), the region
    scope (a code prefix; empty: every county and city), as of when (the schedule's time)."""

    weeks: int
    months: int
    scope: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class DueReport:
    """One report that should exist and does not."""

    kind: str
    region_code: str
    period: str


@dataclass(frozen=True)
class ReportsDue:
    """A run of a report schedule (ReportsDueWorkflow's input): the weekly run looks one week back, the monthly one
    month back, the daily check several of each."""

    weeks: int = 0
    months: int = 0
    scope: str = ""


@dataclass(frozen=True)
class DueResult:
    """What a run of the schedule started: the report workflow ids, and those found made or running already."""

    started: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
