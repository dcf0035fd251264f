"""Construction (实施) rules of DOMAIN.md §4: progress validation, schedule and colour, as pure functions."""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise

from domain.colours import SEVERITY


@dataclass(frozen=True)
class ConstructionRules:
    """Colour thresholds (county practice, configurable): points behind schedule and months not started."""

    yellow_behind_points: int = 10
    red_behind_points: int = 30
    not_started_yellow_months: int = 1
    not_started_red_months: int = 3


@dataclass(frozen=True)
class Milestone:
    """A planned percent complete on a date (from the application); the schedule is linear between them."""

    on: date
    percent: int


@dataclass(frozen=True)
class ProgressFacts:
    """A progress report as the rules see it."""

    week_start: date
    percent: int
    funds_paid_fen: int
    over_budget_reason: str


@dataclass(frozen=True)
class Violation:
    """A broken rule: which field, which rule, and a message a person understands."""

    field: str
    rule: str
    message: str


def add_months(day: date, months: int) -> date:
    """The same day `months` later (clamped to the month's last day: 31 Jan + 1 month = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def week_start_of(day: date) -> date:
    """The Monday of the week `day` lies in (the reporting week)."""
    return day - timedelta(days=day.weekday())


def expected_percent(planned_start: date, planned_end: date, on: date, milestones: Sequence[Milestone] = ()) -> int:
    """Planned percent complete on a date: linear between start and end, or between the milestones."""
    points = [(planned_start, 0), *sorted((m.on, m.percent) for m in milestones), (planned_end, 100)]
    if on <= points[0][0]:
        return 0
    for (d0, p0), (d1, p1) in pairwise(points):
        if on <= d1:
            span = (d1 - d0).days
            if span <= 0:
                return p1
            # integer arithmetic, rounded down: the schedule never asks for more than the plan
            return p0 + (p1 - p0) * (on - d0).days // span
    return 100


def construction_colour(
    *,
    planned_start: date,
    planned_end: date,
    on: date,
    percent: int,
    started: bool,
    rules: ConstructionRules,
    milestones: Sequence[Milestone] = (),
) -> tuple[str, str]:
    """(colour, reason) of the construction archive on a date: green on track, yellow or red behind."""
    if percent >= 100:
        return "green", "complete"
    if on > planned_end:
        return "red", f"past the planned end {planned_end.isoformat()} without completion"
    behind = expected_percent(planned_start, planned_end, on, milestones) - percent
    if behind > rules.red_behind_points:
        schedule = ("red", f"{behind} points behind schedule")
    elif behind >= rules.yellow_behind_points:
        schedule = ("yellow", f"{behind} points behind schedule")
    else:
        schedule = ("green", "on schedule")
    if started:
        return schedule
    if on >= add_months(planned_start, rules.not_started_red_months):
        idle = ("red", f"not started {rules.not_started_red_months} month(s) after the planned start")
    elif on >= add_months(planned_start, rules.not_started_yellow_months):
        idle = ("yellow", f"not started {rules.not_started_yellow_months} month(s) after the planned start")
    else:
        idle = ("blue", "not yet started")
    # both warnings apply to a project that has not started: the worse one wins
    return max(idle, schedule, key=lambda c: SEVERITY[c[0]])


def progress_violations(
    report: ProgressFacts,
    *,
    previous_percent: int,
    previous_funds_fen: int,
    previous_week: date | None,
    budget_fen: int,
    today: date,
    filed_on: date,
) -> list[Violation]:
    """Every rule a progress report breaks (empty: it may be stored)."""
    out: list[Violation] = []
    if report.week_start.weekday() != 0:
        out.append(Violation("week_start", "monday", "the reporting week starts on a Monday"))
    if report.week_start > today:
        out.append(Violation("week_start", "not_future", "a week that has not begun cannot be reported"))
    # the week of the filing itself may be reported (work can begin that week); a week over before it cannot:
    # a project built before the system existed is imported, not reported here
    if report.week_start + timedelta(days=6) < filed_on:
        out.append(
            Violation(
                "week_start",
                "not_before_filing",
                f"the week ends before the project was filed ({filed_on.isoformat()})",
            )
        )
    if previous_week is not None and report.week_start < previous_week:
        out.append(
            Violation("week_start", "not_before_last", f"a later week ({previous_week.isoformat()}) is reported")
        )
    if not 0 <= report.percent <= 100:
        out.append(Violation("percent", "range", "percent complete is 0–100"))
    elif report.percent < previous_percent:
        out.append(
            Violation(
                "percent", "not_below_previous", f"percent may not fall below the last report ({previous_percent})"
            )
        )
    if report.funds_paid_fen < 0:
        out.append(Violation("funds_paid_fen", "range", "funds paid are never negative"))
    elif report.funds_paid_fen < previous_funds_fen:
        out.append(
            Violation(
                "funds_paid_fen",
                "not_below_previous",
                f"funds paid to date may not fall below the last report ({previous_funds_fen} fen)",
            )
        )
    elif report.funds_paid_fen > budget_fen and not report.over_budget_reason.strip():
        out.append(
            Violation(
                "over_budget_reason",
                "required_over_budget",
                f"funds paid exceed the approved budget ({budget_fen} fen): give the reason",
            )
        )
    return out


@dataclass(frozen=True)
class CompletionFacts:
    """A completion report, with the project's last progress report, as the rules see it."""

    completion_date: date
    final_cost_fen: int
    over_budget_reason: str
    last_percent: int
    funds_paid_fen: int


def completion_violations(
    report: CompletionFacts, *, budget_fen: int, filed_on: date, today: date, min_paid_percent: int
) -> list[Violation]:
    """Every rule a completion report (竣工) breaks (empty: the county's acceptance may open)."""
    out: list[Violation] = []
    if report.completion_date > today:
        out.append(Violation("completion_date", "not_future", "a completion date is not in the future"))
    if report.completion_date < filed_on:
        out.append(
            Violation(
                "completion_date",
                "after_filing",
                f"a project is completed after it was filed ({filed_on.isoformat()})",
            )
        )
    if report.final_cost_fen > budget_fen and not report.over_budget_reason.strip():
        out.append(
            Violation(
                "over_budget_reason",
                "required_over_budget",
                f"the final cost exceeds the approved budget ({budget_fen} fen): say why",
            )
        )
    if report.last_percent < 100:
        out.append(
            Violation(
                "progress_percent",
                "complete_progress",
                f"progress reported to date is {report.last_percent} %: report the week that reaches 100 % first",
            )
        )
    # integer arithmetic: paid / final cost >= min %, without rounding a fen either way
    if report.funds_paid_fen * 100 < min_paid_percent * report.final_cost_fen:
        out.append(
            Violation(
                "funds_paid_fen",
                "paid_near_final_cost",
                f"funds paid to date ({report.funds_paid_fen} fen) are below {min_paid_percent} % of the final cost "
                f"({report.final_cost_fen} fen): report the payments in a progress report first",
            )
        )
    return out
