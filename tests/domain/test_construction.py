"""Pure construction rules (DOMAIN.md §4): schedule, colours, calendar helpers and progress validation."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from domain.construction import (
    CompletionFacts,
    ConstructionRules,
    Milestone,
    ProgressFacts,
    add_months,
    completion_violations,
    construction_colour,
    expected_percent,
    progress_violations,
    week_start_of,
)

DEFAULT = ConstructionRules()

# A 100-day schedule: expected percent on day n is exactly n, which keeps "points behind" easy to read.
START = date(2027, 1, 1)
END = START + timedelta(days=100)


def _day(n: int) -> date:
    return START + timedelta(days=n)


# --- add_months ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2027, 1, 15), 0, date(2027, 1, 15)),
        (date(2027, 1, 15), 1, date(2027, 2, 15)),
        (date(2027, 1, 31), 1, date(2027, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),  # leap year
        (date(2027, 1, 31), 3, date(2027, 4, 30)),
        (date(2027, 3, 31), 1, date(2027, 4, 30)),
        (date(2027, 1, 30), 1, date(2027, 2, 28)),
        (date(2027, 1, 28), 1, date(2027, 2, 28)),
        (date(2027, 8, 31), 1, date(2027, 9, 30)),
        (date(2027, 12, 15), 1, date(2028, 1, 15)),  # year rollover
        (date(2027, 11, 30), 3, date(2028, 2, 29)),  # rollover into a leap February
        (date(2027, 12, 31), 2, date(2028, 2, 29)),
        (date(2027, 6, 30), 12, date(2028, 6, 30)),
        (date(2027, 6, 30), 25, date(2029, 7, 30)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2027, 3, 31), -1, date(2027, 2, 28)),
        (date(2027, 1, 31), -2, date(2026, 11, 30)),
        (date(2027, 1, 15), -13, date(2025, 12, 15)),
    ],
)
def test_add_months_clamps_to_month_end_and_rolls_years(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


# --- week_start_of ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "monday"),
    [
        (date(2027, 3, 1), date(2027, 3, 1)),  # a Monday is its own week start
        (date(2027, 3, 2), date(2027, 3, 1)),
        (date(2027, 3, 7), date(2027, 3, 1)),  # Sunday belongs to the week that began on Monday
        (date(2027, 3, 8), date(2027, 3, 8)),
        (date(2027, 1, 1), date(2026, 12, 28)),  # across the year boundary (Friday)
        (date(2028, 3, 1), date(2028, 2, 28)),  # across a leap February (Wednesday)
    ],
)
def test_week_start_of_is_the_monday_of_the_week(day: date, monday: date) -> None:
    assert week_start_of(day) == monday


def test_week_start_of_every_day_of_a_week() -> None:
    monday = date(2027, 5, 3)
    assert monday.weekday() == 0
    assert [week_start_of(monday + timedelta(days=i)) for i in range(7)] == [monday] * 7
    assert week_start_of(monday + timedelta(days=7)) == monday + timedelta(days=7)


# --- expected_percent ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (START - timedelta(days=365), 0),
        (START - timedelta(days=1), 0),
        (START, 0),
        (_day(1), 1),
        (_day(50), 50),
        (_day(99), 99),
        (END, 100),
        (END + timedelta(days=1), 100),
        (END + timedelta(days=3650), 100),
    ],
)
def test_expected_percent_is_linear_from_0_to_100(on: date, expected: int) -> None:
    assert expected_percent(START, END, on) == expected


def test_expected_percent_rounds_down() -> None:
    start, end = date(2027, 1, 1), date(2027, 1, 4)  # a 3-day span
    assert [expected_percent(start, end, start + timedelta(days=i)) for i in range(5)] == [0, 33, 66, 100, 100]


def test_expected_percent_never_rounds_up_near_the_end() -> None:
    start, end = date(2027, 1, 1), date(2027, 12, 31)  # 364 days
    assert expected_percent(start, end, end - timedelta(days=1)) == 99  # 363/364 = 99.7 → 99
    assert expected_percent(start, end, start + timedelta(days=1)) == 0  # 1/364 = 0.27 → 0
    assert expected_percent(start, end, start + timedelta(days=182)) == 50


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (date(2026, 12, 31), 0),
        (date(2027, 1, 1), 0),
        (date(2027, 1, 6), 35),  # 70 · 5/10
        (date(2027, 1, 11), 70),  # the milestone itself
        (date(2027, 1, 12), 71),  # 70 + 30 · 1/20 = 71.5 → 71
        (date(2027, 1, 21), 85),  # 70 + 30 · 10/20
        (date(2027, 1, 30), 98),  # 70 + 30 · 19/20 = 98.5 → 98
        (date(2027, 1, 31), 100),
        (date(2027, 2, 1), 100),
    ],
)
def test_expected_percent_is_piecewise_linear_through_a_milestone(on: date, expected: int) -> None:
    milestones = [Milestone(date(2027, 1, 11), 70)]
    assert expected_percent(date(2027, 1, 1), date(2027, 1, 31), on, milestones) == expected


def test_expected_percent_sorts_milestones_by_date() -> None:
    start, end = date(2027, 1, 1), date(2027, 1, 31)
    unsorted = [Milestone(date(2027, 1, 21), 90), Milestone(date(2027, 1, 11), 20)]
    days = [date(2027, 1, 6), date(2027, 1, 11), date(2027, 1, 16), date(2027, 1, 21), date(2027, 1, 26)]
    assert [expected_percent(start, end, d, unsorted) for d in days] == [10, 20, 55, 90, 95]
    assert [expected_percent(start, end, d, list(reversed(unsorted))) for d in days] == [10, 20, 55, 90, 95]


def test_expected_percent_with_milestones_is_0_before_start_and_100_after_end() -> None:
    milestones = [Milestone(_day(10), 50)]
    assert expected_percent(START, END, START - timedelta(days=1), milestones) == 0
    assert expected_percent(START, END, START, milestones) == 0
    assert expected_percent(START, END, END, milestones) == 100
    assert expected_percent(START, END, END + timedelta(days=30), milestones) == 100


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (date(2027, 1, 1) - timedelta(days=1), 0),
        (date(2027, 1, 1), 0),
        (date(2027, 1, 2), 100),
        (date(2028, 1, 1), 100),
    ],
)
def test_expected_percent_zero_length_schedule(on: date, expected: int) -> None:
    assert expected_percent(date(2027, 1, 1), date(2027, 1, 1), on) == expected


def test_expected_percent_two_milestones_on_the_same_day_step_without_dividing_by_zero() -> None:
    start, end = date(2027, 1, 1), date(2027, 1, 31)
    milestones = [Milestone(date(2027, 1, 11), 60), Milestone(date(2027, 1, 11), 40)]
    assert expected_percent(start, end, date(2027, 1, 6), milestones) == 20  # towards the lower one: 40 · 5/10
    assert expected_percent(start, end, date(2027, 1, 11), milestones) == 40  # never more than the plan asks
    assert expected_percent(start, end, date(2027, 1, 21), milestones) == 80  # from 60 on: 60 + 40 · 10/20
    assert expected_percent(start, end, date(2027, 1, 31), milestones) == 100


def test_expected_percent_milestone_on_the_start_day() -> None:
    start, end = date(2027, 1, 1), date(2027, 1, 11)
    milestones = [Milestone(start, 50)]
    assert expected_percent(start, end, start, milestones) == 0
    assert expected_percent(start, end, date(2027, 1, 2), milestones) == 55  # 50 + 50 · 1/10
    assert expected_percent(start, end, end, milestones) == 100


# --- construction_colour ------------------------------------------------------------------------------------------


def _colour(
    *,
    on: date,
    percent: int,
    started: bool = True,
    start: date = START,
    end: date = END,
    rules: ConstructionRules = DEFAULT,
    milestones: tuple[Milestone, ...] = (),
) -> tuple[str, str]:
    return construction_colour(
        planned_start=start,
        planned_end=end,
        on=on,
        percent=percent,
        started=started,
        rules=rules,
        milestones=milestones,
    )


def test_default_rules_are_the_domain_defaults() -> None:
    assert (DEFAULT.yellow_behind_points, DEFAULT.red_behind_points) == (10, 30)
    assert (DEFAULT.not_started_yellow_months, DEFAULT.not_started_red_months) == (1, 3)


@pytest.mark.parametrize(
    ("behind", "colour"),
    [
        (-20, "green"),  # ahead of schedule
        (0, "green"),
        (9, "green"),
        (10, "yellow"),  # 10–30 behind is yellow, inclusive of 10
        (20, "yellow"),
        (30, "yellow"),  # … and of 30
        (31, "red"),  # above 30 is red
        (60, "red"),
    ],
)
def test_colour_by_points_behind_schedule(behind: int, colour: str) -> None:
    on = _day(60)  # expected 60
    assert expected_percent(START, END, on) == 60
    got = _colour(on=on, percent=60 - behind)
    assert got[0] == colour
    if colour == "green":
        assert got == ("green", "on schedule")
    else:
        assert got == (colour, f"{behind} points behind schedule")


def test_colour_points_behind_follows_milestones() -> None:
    milestones = (Milestone(_day(10), 80),)  # 80 % planned after 10 of 100 days
    on = _day(10)
    assert _colour(on=on, percent=70, milestones=milestones) == ("yellow", "10 points behind schedule")
    assert _colour(on=on, percent=49, milestones=milestones) == ("red", "31 points behind schedule")
    assert _colour(on=on, percent=71) == ("green", "on schedule")  # linear plan asks only 10 %


def test_colour_started_before_planned_start_is_green() -> None:
    assert _colour(on=START - timedelta(days=5), percent=0) == ("green", "on schedule")
    assert _colour(on=START, percent=0) == ("green", "on schedule")


def test_colour_on_the_planned_end_day_is_still_measured_by_points_behind() -> None:
    assert _colour(on=END, percent=90) == ("yellow", "10 points behind schedule")
    assert _colour(on=END, percent=91) == ("green", "on schedule")
    assert _colour(on=END, percent=69) == ("red", "31 points behind schedule")


@pytest.mark.parametrize("percent", [0, 50, 99])
def test_colour_past_planned_end_without_completion_is_red(percent: int) -> None:
    reason = f"past the planned end {END.isoformat()} without completion"
    assert _colour(on=END + timedelta(days=1), percent=percent) == ("red", reason)
    assert _colour(on=END + timedelta(days=400), percent=percent) == ("red", reason)


def test_colour_past_planned_end_not_started_is_red() -> None:
    reason = f"past the planned end {END.isoformat()} without completion"
    assert _colour(on=END + timedelta(days=1), percent=0, started=False) == ("red", reason)


@pytest.mark.parametrize(
    "on", [START - timedelta(days=10), START, _day(50), END, END + timedelta(days=1), END + timedelta(days=1000)]
)
def test_colour_complete_is_green_at_any_date(on: date) -> None:
    assert _colour(on=on, percent=100) == ("green", "complete")


# Not started: a long schedule so that only the months-after-start rule speaks.
NS_START = date(2027, 1, 31)
NS_END = date(2028, 12, 31)


@pytest.mark.parametrize(
    ("on", "colour", "reason"),
    [
        (date(2027, 1, 1), "blue", "not yet started"),
        (date(2027, 1, 31), "blue", "not yet started"),
        (date(2027, 2, 27), "blue", "not yet started"),
        (date(2027, 2, 28), "yellow", "not started 1 month(s) after the planned start"),  # add_months clamps
        (date(2027, 3, 1), "yellow", "not started 1 month(s) after the planned start"),
        (date(2027, 4, 29), "yellow", "not started 1 month(s) after the planned start"),
        (date(2027, 4, 30), "red", "not started 3 month(s) after the planned start"),
        (date(2027, 12, 31), "red", "not started 3 month(s) after the planned start"),
    ],
)
def test_colour_not_started_by_calendar_months(on: date, colour: str, reason: str) -> None:
    assert add_months(NS_START, 1) == date(2027, 2, 28)
    assert add_months(NS_START, 3) == date(2027, 4, 30)
    assert _colour(on=on, percent=0, started=False, start=NS_START, end=NS_END) == (colour, reason)


def test_colour_not_started_mid_month_start() -> None:
    start, end = date(2027, 3, 15), date(2029, 3, 15)
    assert _colour(on=date(2027, 4, 14), percent=0, started=False, start=start, end=end)[0] == "blue"
    assert _colour(on=date(2027, 4, 15), percent=0, started=False, start=start, end=end)[0] == "yellow"
    assert _colour(on=date(2027, 6, 14), percent=0, started=False, start=start, end=end)[0] == "yellow"
    assert _colour(on=date(2027, 6, 15), percent=0, started=False, start=start, end=end)[0] == "red"


def test_colour_not_started_across_the_year() -> None:
    start, end = date(2027, 11, 30), date(2029, 11, 30)
    assert _colour(on=date(2027, 12, 29), percent=0, started=False, start=start, end=end)[0] == "blue"
    assert _colour(on=date(2027, 12, 30), percent=0, started=False, start=start, end=end)[0] == "yellow"
    assert _colour(on=date(2028, 2, 28), percent=0, started=False, start=start, end=end)[0] == "yellow"
    assert _colour(on=date(2028, 2, 29), percent=0, started=False, start=start, end=end)[0] == "red"


@pytest.mark.parametrize(
    ("start", "end", "on"),
    [
        # 6-month plan, 73 of 181 days gone: plan asks 40 %, nothing done → > 30 behind → red (got yellow)
        (date(2027, 1, 1), date(2027, 7, 1), date(2027, 3, 15)),
        # 20-day plan, 15 days gone: plan asks 75 %, nothing done → red (got blue: under a month since start)
        (date(2027, 1, 1), date(2027, 1, 21), date(2027, 1, 16)),
    ],
)
def test_colour_not_started_but_far_behind_schedule_is_red(start: date, end: date, on: date) -> None:
    assert expected_percent(start, end, on) > DEFAULT.red_behind_points
    assert _colour(on=on, percent=0, started=False, start=start, end=end)[0] == "red"


def test_colour_custom_rules_points_behind() -> None:
    rules = ConstructionRules(yellow_behind_points=5, red_behind_points=15)
    on = _day(60)
    assert _colour(on=on, percent=56, rules=rules) == ("green", "on schedule")
    assert _colour(on=on, percent=55, rules=rules) == ("yellow", "5 points behind schedule")
    assert _colour(on=on, percent=45, rules=rules) == ("yellow", "15 points behind schedule")
    assert _colour(on=on, percent=44, rules=rules) == ("red", "16 points behind schedule")
    # with the defaults the same 9 and 16 points are green and yellow
    assert _colour(on=on, percent=51) == ("green", "on schedule")
    assert _colour(on=on, percent=44) == ("yellow", "16 points behind schedule")


def test_colour_custom_rules_months_not_started() -> None:
    rules = ConstructionRules(not_started_yellow_months=2, not_started_red_months=4)

    def colour(on: date) -> tuple[str, str]:
        return _colour(on=on, percent=0, started=False, start=NS_START, end=NS_END, rules=rules)

    assert colour(date(2027, 3, 30)) == ("blue", "not yet started")
    assert colour(date(2027, 3, 31)) == ("yellow", "not started 2 month(s) after the planned start")
    assert colour(date(2027, 5, 30)) == ("yellow", "not started 2 month(s) after the planned start")
    assert colour(date(2027, 5, 31)) == ("red", "not started 4 month(s) after the planned start")


# --- progress_violations ------------------------------------------------------------------------------------------

MONDAY = date(2027, 3, 1)
assert MONDAY.weekday() == 0
FILED = date(2026, 11, 18)  # a Wednesday, months before MONDAY


def _report(
    week_start: date = MONDAY, percent: int = 40, funds_paid_fen: int = 400_00, over_budget_reason: str = ""
) -> ProgressFacts:
    return ProgressFacts(
        week_start=week_start, percent=percent, funds_paid_fen=funds_paid_fen, over_budget_reason=over_budget_reason
    )


def _violations(
    report: ProgressFacts,
    *,
    previous_percent: int = 30,
    previous_funds_fen: int = 300_00,
    previous_week: date | None = MONDAY - timedelta(days=7),
    budget_fen: int = 1000_00,
    today: date = MONDAY + timedelta(days=2),
    filed_on: date = FILED,
) -> list[tuple[str, str]]:
    return [
        (v.field, v.rule)
        for v in progress_violations(
            report,
            previous_percent=previous_percent,
            previous_funds_fen=previous_funds_fen,
            previous_week=previous_week,
            budget_fen=budget_fen,
            today=today,
            filed_on=filed_on,
        )
    ]


def test_a_good_report_has_no_violations() -> None:
    assert _violations(_report()) == []


def test_first_report_without_previous_week() -> None:
    report = _report(percent=0, funds_paid_fen=0)
    assert _violations(report, previous_percent=0, previous_funds_fen=0, previous_week=None) == []


@pytest.mark.parametrize("offset", [1, 2, 3, 4, 5, 6])
def test_week_must_start_on_a_monday(offset: int) -> None:
    day = MONDAY - timedelta(days=7) + timedelta(days=offset)
    assert _violations(_report(week_start=day), previous_week=MONDAY - timedelta(days=14)) == [("week_start", "monday")]


def test_monday_rule_message() -> None:
    (v,) = progress_violations(
        _report(week_start=MONDAY - timedelta(days=1)),
        previous_percent=0,
        previous_funds_fen=0,
        previous_week=None,
        budget_fen=1000_00,
        today=MONDAY,
        filed_on=FILED,
    )
    assert v.field == "week_start"
    assert v.rule == "monday"
    assert "Monday" in v.message


def test_the_current_week_may_be_reported_on_its_monday() -> None:
    assert _violations(_report(week_start=MONDAY), today=MONDAY) == []


def test_the_current_week_may_be_reported_on_its_sunday() -> None:
    assert _violations(_report(week_start=MONDAY), today=MONDAY + timedelta(days=6)) == []


def test_a_future_week_is_refused() -> None:
    assert _violations(_report(week_start=MONDAY), today=MONDAY - timedelta(days=1)) == [("week_start", "not_future")]
    assert _violations(_report(week_start=MONDAY + timedelta(days=7)), today=MONDAY + timedelta(days=6)) == [
        ("week_start", "not_future")
    ]


def test_a_future_non_monday_breaks_both_rules() -> None:
    assert _violations(_report(week_start=MONDAY + timedelta(days=3)), today=MONDAY) == [
        ("week_start", "monday"),
        ("week_start", "not_future"),
    ]


def test_a_week_earlier_than_the_last_reported_is_refused() -> None:
    last = MONDAY
    (v,) = progress_violations(
        _report(week_start=MONDAY - timedelta(days=7)),
        previous_percent=30,
        previous_funds_fen=300_00,
        previous_week=last,
        budget_fen=1000_00,
        today=MONDAY + timedelta(days=2),
        filed_on=FILED,
    )
    assert (v.field, v.rule) == ("week_start", "not_before_last")
    assert last.isoformat() in v.message


def test_the_same_week_as_the_last_report_may_be_reported_again() -> None:
    assert _violations(_report(week_start=MONDAY), previous_week=MONDAY) == []


def test_a_later_week_than_the_last_report_is_fine() -> None:
    assert _violations(_report(week_start=MONDAY), previous_week=MONDAY - timedelta(days=28)) == []


@pytest.mark.parametrize(
    ("percent", "previous", "expected"),
    [
        (-1, 0, [("percent", "range")]),
        (0, 0, []),
        (100, 0, []),
        (100, 100, []),
        (101, 0, [("percent", "range")]),
        (101, 100, [("percent", "range")]),
        (-5, 30, [("percent", "range")]),  # out of range wins: one violation per field
        (29, 30, [("percent", "not_below_previous")]),
        (30, 30, []),
        (31, 30, []),
        (99, 100, [("percent", "not_below_previous")]),
    ],
)
def test_percent_range_and_not_below_previous(percent: int, previous: int, expected: list[tuple[str, str]]) -> None:
    assert _violations(_report(percent=percent), previous_percent=previous) == expected


def test_percent_below_previous_message_names_the_previous_value() -> None:
    (v,) = progress_violations(
        _report(percent=20),
        previous_percent=35,
        previous_funds_fen=0,
        previous_week=None,
        budget_fen=1000_00,
        today=MONDAY,
        filed_on=FILED,
    )
    assert (v.field, v.rule) == ("percent", "not_below_previous")
    assert "35" in v.message


@pytest.mark.parametrize(
    ("funds", "previous", "reason", "expected"),
    [
        (-1, 0, "", [("funds_paid_fen", "range")]),
        (-1, 300_00, "", [("funds_paid_fen", "range")]),
        (0, 0, "", []),
        (299_99, 300_00, "", [("funds_paid_fen", "not_below_previous")]),
        (300_00, 300_00, "", []),
        (1000_00, 300_00, "", []),  # exactly the budget needs no reason
        (1000_01, 300_00, "", [("over_budget_reason", "required_over_budget")]),
        (1000_01, 300_00, "   \t\n", [("over_budget_reason", "required_over_budget")]),  # blank is no reason
        (1000_01, 300_00, "extra foundation work approved by the county", []),
        (5000_00, 300_00, "price rise", []),
        # below the previous report wins over the budget check: one violation per field
        (1100_00, 1200_00, "", [("funds_paid_fen", "not_below_previous")]),
    ],
)
def test_funds_paid_rules(funds: int, previous: int, reason: str, expected: list[tuple[str, str]]) -> None:
    report = _report(funds_paid_fen=funds, over_budget_reason=reason)
    assert _violations(report, previous_funds_fen=previous, budget_fen=1000_00) == expected


def test_over_budget_message_names_the_budget() -> None:
    (v,) = progress_violations(
        _report(funds_paid_fen=1000_01),
        previous_percent=0,
        previous_funds_fen=0,
        previous_week=None,
        budget_fen=1000_00,
        today=MONDAY,
        filed_on=FILED,
    )
    assert (v.field, v.rule) == ("over_budget_reason", "required_over_budget")
    assert "100000" in v.message


def test_several_violations_are_reported_together() -> None:
    report = _report(week_start=MONDAY - timedelta(days=13), percent=20, funds_paid_fen=-1)  # a Tuesday, 2 weeks back
    assert _violations(report, previous_week=MONDAY - timedelta(days=7), previous_percent=30, today=MONDAY) == [
        ("week_start", "monday"),
        ("week_start", "not_before_last"),
        ("percent", "not_below_previous"),
        ("funds_paid_fen", "range"),
    ]


def test_every_field_broken_at_once() -> None:
    report = _report(week_start=MONDAY + timedelta(days=9), percent=101, funds_paid_fen=2000_00)
    assert _violations(report, previous_week=MONDAY + timedelta(days=14), today=MONDAY, budget_fen=1000_00) == [
        ("week_start", "monday"),
        ("week_start", "not_future"),
        ("week_start", "not_before_last"),
        ("percent", "range"),
        ("over_budget_reason", "required_over_budget"),
    ]
    for v in progress_violations(
        report,
        previous_percent=0,
        previous_funds_fen=0,
        previous_week=MONDAY + timedelta(days=14),
        budget_fen=1000_00,
        today=MONDAY,
        filed_on=FILED,
    ):
        assert v.message


# --- progress weeks before the filing -------------------------------------------------------------------------------


def test_the_week_of_the_filing_may_be_reported() -> None:
    filing_week = week_start_of(FILED)  # Monday 2026-11-16; the week ends Sunday 11-22, after the filing
    assert _violations(_report(week_start=filing_week), previous_week=None, today=FILED) == []


def test_a_week_over_before_the_filing_is_refused() -> None:
    week = week_start_of(FILED) - timedelta(days=7)  # 11-09 … 11-15, over before the filing on 11-18
    (v,) = progress_violations(
        _report(week_start=week),
        previous_percent=0,
        previous_funds_fen=0,
        previous_week=None,
        budget_fen=1000_00,
        today=FILED,
        filed_on=FILED,
    )
    assert (v.field, v.rule) == ("week_start", "not_before_filing")
    assert FILED.isoformat() in v.message


@pytest.mark.parametrize(
    ("filed_on", "week", "refused"),
    [
        (date(2026, 11, 16), date(2026, 11, 16), False),  # filed on a Monday: that week
        (date(2026, 11, 16), date(2026, 11, 9), True),  # … the week before ended the day before (Sunday 11-15)
        (date(2026, 11, 22), date(2026, 11, 16), False),  # filed on a Sunday: its week ends that very day
        (date(2026, 11, 23), date(2026, 11, 16), True),  # filed the Monday after: that week is over
    ],
)
def test_the_filing_boundary_is_the_last_day_of_the_week(filed_on: date, week: date, refused: bool) -> None:
    rules = _violations(
        _report(week_start=week), previous_week=None, today=filed_on + timedelta(days=30), filed_on=filed_on
    )
    assert rules == ([("week_start", "not_before_filing")] if refused else [])


# --- completion_violations ------------------------------------------------------------------------------------------

FINAL = 950_000_00
DONE_ON = date(2027, 6, 30)


def _completion(**kw: object) -> CompletionFacts:
    base = CompletionFacts(
        completion_date=DONE_ON,
        final_cost_fen=FINAL,
        over_budget_reason="",
        last_percent=100,
        funds_paid_fen=FINAL * 60 // 100,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def _completion_rules(
    report: CompletionFacts,
    *,
    budget_fen: int = 1_000_000_00,
    filed_on: date = FILED,
    today: date = DONE_ON,
    min_paid_percent: int = 60,
) -> list[tuple[str, str]]:
    return [
        (v.field, v.rule)
        for v in completion_violations(
            report, budget_fen=budget_fen, filed_on=filed_on, today=today, min_paid_percent=min_paid_percent
        )
    ]


def test_a_complete_and_paid_project_may_report_completion() -> None:
    assert _completion_rules(_completion()) == []
    assert _completion_rules(_completion(funds_paid_fen=FINAL)) == []


def test_completion_is_refused_below_100_percent() -> None:
    assert _completion_rules(_completion(last_percent=99)) == [("progress_percent", "complete_progress")]
    assert _completion_rules(_completion(last_percent=0)) == [("progress_percent", "complete_progress")]
    (v,) = completion_violations(
        _completion(last_percent=99), budget_fen=FINAL, filed_on=FILED, today=DONE_ON, min_paid_percent=60
    )
    assert "99" in v.message


def test_funds_paid_at_exactly_the_threshold_pass_and_one_fen_less_is_refused() -> None:
    assert _completion_rules(_completion(final_cost_fen=1000_00, funds_paid_fen=600_00)) == []
    assert _completion_rules(_completion(final_cost_fen=1000_00, funds_paid_fen=599_99)) == [
        ("funds_paid_fen", "paid_near_final_cost")
    ]
    # a threshold that is not a whole fen: 60 % of 1001 fen is 600.6 fen, so 600 fen is short and 601 is enough
    assert _completion_rules(_completion(final_cost_fen=1001, funds_paid_fen=600)) == [
        ("funds_paid_fen", "paid_near_final_cost")
    ]
    assert _completion_rules(_completion(final_cost_fen=1001, funds_paid_fen=601)) == []


def test_the_paid_threshold_is_a_setting() -> None:
    half = _completion(funds_paid_fen=FINAL // 2)
    assert _completion_rules(half, min_paid_percent=50) == []
    assert _completion_rules(half, min_paid_percent=51) == [("funds_paid_fen", "paid_near_final_cost")]
    assert _completion_rules(_completion(funds_paid_fen=0), min_paid_percent=0) == []
    assert _completion_rules(_completion(funds_paid_fen=FINAL - 1), min_paid_percent=100) == [
        ("funds_paid_fen", "paid_near_final_cost")
    ]


def test_the_walk_30_percent_and_300000_of_950000_yuan_breaks_both_rules_in_one_answer() -> None:
    walk = _completion(last_percent=30, funds_paid_fen=300_000_00, final_cost_fen=950_000_00)
    violations = completion_violations(
        walk, budget_fen=1_000_000_00, filed_on=FILED, today=DONE_ON, min_paid_percent=60
    )
    assert [(v.field, v.rule) for v in violations] == [
        ("progress_percent", "complete_progress"),
        ("funds_paid_fen", "paid_near_final_cost"),
    ]
    assert "30000000" in violations[1].message
    assert "95000000" in violations[1].message
    assert "60 %" in violations[1].message


def test_completion_date_and_budget_rules_are_reported_with_the_others() -> None:
    future = _completion(completion_date=DONE_ON + timedelta(days=1), last_percent=50)
    assert _completion_rules(future) == [("completion_date", "not_future"), ("progress_percent", "complete_progress")]
    early = _completion(completion_date=FILED - timedelta(days=1))
    assert _completion_rules(early) == [("completion_date", "after_filing")]
    assert _completion_rules(_completion(completion_date=FILED)) == []
    over = _completion(final_cost_fen=1_000_000_01, funds_paid_fen=1_000_000_01)
    assert _completion_rules(over) == [("over_budget_reason", "required_over_budget")]
    assert _completion_rules(replace(over, over_budget_reason="钢材涨价")) == []
