"""Report periods, ids, who reads a report, rates and the county ranking (domain/reports.py)."""

from __future__ import annotations

from datetime import date

import pytest

from domain.enums import Role
from domain.reports import (
    DEFAULT_WEIGHTS,
    PeriodError,
    ReportKind,
    ended_periods,
    has_ended,
    may_read,
    parse_period,
    parse_report_id,
    period_of,
    previous_period,
    rank_counties,
    rate_bp,
    report_id,
    report_workflow_id,
    score_bp,
    weights_problem,
)

W, M = ReportKind.WEEKLY, ReportKind.MONTHLY


def test_iso_weeks_cross_the_year() -> None:
    p = period_of(W, date(2027, 1, 1))  # a Friday of ISO week 2026-W53
    assert (p.label, p.start, p.last_day) == ("2026-W53", date(2026, 12, 28), date(2027, 1, 3))
    assert parse_period(W, "2026-W53") == p
    assert parse_period(W, "2025-W01").start == date(2024, 12, 30)
    for bad in ("2025-W54", "2025-53", "2025W10", "2025-W00"):
        with pytest.raises(PeriodError):
            parse_period(W, bad)


def test_months_and_december() -> None:
    p = parse_period(M, "2026-12")
    assert (p.start, p.end, p.last_day) == (date(2026, 12, 1), date(2027, 1, 1), date(2026, 12, 31))
    for bad in ("2026-13", "2026-00", "2026-W10", "26-01"):
        with pytest.raises(PeriodError):
            parse_period(M, bad)


def test_the_scheduled_run_reports_the_period_just_ended() -> None:
    monday = date(2026, 11, 30)
    assert previous_period(W, monday).label == "2026-W48"
    assert previous_period(M, date(2026, 12, 1)).label == "2026-11"
    assert previous_period(M, date(2027, 1, 1)).label == "2026-12"
    assert [p.label for p in ended_periods(W, monday, 3)] == ["2026-W48", "2026-W47", "2026-W46"]
    assert has_ended(parse_period(W, "2026-W48"), monday)
    assert not has_ended(parse_period(W, "2026-W49"), monday)


def test_ids_are_derived_from_the_period() -> None:
    assert report_id(W, "370115", "2026-W48") == "weekly-370115-2026-W48"
    assert report_workflow_id(M, "370100", "2026-11") == "report-monthly-370100-2026-11"
    assert parse_report_id("weekly-370115-2026-W48") == (W, "370115", "2026-W48")
    assert parse_report_id("monthly-370100-2026-13") is None
    assert parse_report_id("weekly-370115-2026-11") is None
    assert parse_report_id("weekly-370115-2026-W48.xlsx") is None


def test_readers() -> None:
    assert may_read(Role.SUPERVISOR, "370115", "370115", W, "370115")
    assert not may_read(Role.SUPERVISOR, "370115", "370115", W, "370116")
    assert may_read(Role.CITY_REVIEWER, "370100", "3701", W, "370115")
    assert may_read(Role.COUNTY_REVIEWER, "370115", "370115", M, "370100")  # the county reads its city's bulletin
    assert not may_read(Role.COUNTY_REVIEWER, "370115", "370115", M, "370200")
    assert not may_read(Role.FINANCE, "370115", "370115", W, "370115")
    assert not may_read(Role.EXPERT, "370100", "3701", M, "370100")


def test_rates_round_half_up() -> None:
    assert rate_bp(1, 3) == 3333
    assert rate_bp(2, 3) == 6667
    assert rate_bp(1, 8) == 1250
    assert rate_bp(0, 0) is None


def test_ranking_leaves_out_what_cannot_be_measured_and_shares_ranks() -> None:
    rates = {
        "370101": {"on_schedule": 10000, "registration": None},
        "370102": {"on_schedule": 5000, "registration": 5000},
        "370103": {"on_schedule": 5000, "registration": 5000},
        "370104": {},
    }
    weights = {"on_schedule": 3, "registration": 1}
    assert score_bp(rates["370101"], weights) == 10000
    ranked = rank_counties(rates, weights)
    assert [(r.code, r.rank, r.score_bp) for r in ranked] == [
        ("370101", 1, 10000),
        ("370102", 2, 5000),
        ("370103", 2, 5000),
        ("370104", 0, None),
    ]


def test_weights_are_checked() -> None:
    assert weights_problem(DEFAULT_WEIGHTS) is None
    assert weights_problem({"speed": 1}) is not None
    assert weights_problem({"idle": 0}) is not None
    assert weights_problem({"idle": -1, "revenue": 2}) is not None
