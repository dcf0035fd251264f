"""Pure rules: application, regions, working days, audit chain, household identity."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from core.calendar import is_china_workday
from domain.application import ApplicationFacts, FundLine, validate_application, yield_is_unusual
from domain.audit import GENESIS, ChainEntry, entry_hash, verify_chain
from domain.enums import RegionLevel
from domain.experts import ExpertCandidate, screen
from domain.households import id_number_problem, mask, with_check_digit
from domain.regions import code_problem, covers, parent_problem
from domain.workdays import add_working_days, due_at


def _facts(**kw: object) -> ApplicationFacts:
    base: dict[str, object] = {
        "total_budget_fen": 100_00,
        "fund_sources": [FundLine("linkage_central", 60_00), FundLine("county_match", 40_00)],
        "planned_start": date(2026, 3, 1),
        "planned_end": date(2026, 10, 1),
        "expected_annual_revenue_fen": 7_00,
        "expected_yield_percent": 7.0,
        "household_codes": ["H1", "H2"],
        "performance_targets": 1,
    }
    base.update(kw)
    return ApplicationFacts(**base)  # type: ignore[arg-type]


def test_valid_application_has_no_violations() -> None:
    assert validate_application(_facts()) == []


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"total_budget_fen": 100_01}, "budget.sources", "sum_equals_total"),
        (
            {"fund_sources": [FundLine("county_match", 50_00), FundLine("county_match", 50_00)]},
            "budget.sources[1].source",
            "unique",
        ),
        ({"planned_end": date(2026, 3, 1)}, "planned_end", "after_start"),
        ({"expected_yield_percent": 9.0}, "revenue.expected_yield_percent", "matches_revenue"),
        ({"household_codes": []}, "benefit.household_codes", "not_empty"),
        ({"household_codes": ["H1", "H1"]}, "benefit.household_codes", "unique"),
        ({"performance_targets": 0}, "performance_targets", "not_empty"),
    ],
)
def test_each_broken_rule_names_its_field(change: dict[str, object], field: str, rule: str) -> None:
    violations = validate_application(_facts(**change))
    assert [(v.field, v.rule) for v in violations] == [(field, rule)]


def test_unusual_yield_is_flagged_outside_5_to_10_percent() -> None:
    assert [yield_is_unusual(y) for y in (4.99, 5.0, 7.5, 10.0, 10.01)] == [True, False, False, False, True]


def test_region_prefixes_nest() -> None:
    assert covers("370115", RegionLevel.COUNTY, "370115100201")
    assert not covers("370115", RegionLevel.COUNTY, "370116100201")
    assert covers("370100", RegionLevel.CITY, "370115100")
    assert not covers("370115100", RegionLevel.TOWNSHIP, "370115101201")
    assert code_problem("370100", RegionLevel.CITY) is None
    assert code_problem("370101", RegionLevel.CITY) == "a city code ends in 2 zeros"
    assert code_problem("37011510", RegionLevel.TOWNSHIP) == "a township code has 9 digits"
    assert parent_problem("370115100", RegionLevel.TOWNSHIP, "370115", RegionLevel.COUNTY) is None
    assert parent_problem("370116100", RegionLevel.TOWNSHIP, "370115", RegionLevel.COUNTY) is not None
    assert parent_problem("370115100201", RegionLevel.VILLAGE, "370115", RegionLevel.COUNTY) is not None


def test_working_days_skip_weekends_and_holidays() -> None:
    # Friday 2026-09-25 is the Mid-Autumn Festival; 1–7 October is the National Day holiday;
    # Saturday 2026-10-10 is an adjusted working day (调休).
    assert not is_china_workday(date(2026, 10, 1))
    assert not is_china_workday(date(2026, 9, 25))
    assert is_china_workday(date(2026, 10, 10))
    assert is_china_workday(date(2026, 9, 28))
    # opened Tuesday 29 September: 30 Sep (1), then 8 Oct (2), 9 Oct (3), Sat 10 Oct (4), 12 Oct (5)
    assert add_working_days(date(2026, 9, 29), 5, is_china_workday) == date(2026, 10, 12)
    weekdays_only = add_working_days(date(2026, 9, 29), 5, lambda d: d.weekday() < 5)
    assert weekdays_only == date(2026, 10, 6)


def test_due_at_is_end_of_last_working_day_in_local_time() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    opened = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)  # Saturday 01:00 in Shanghai
    due = due_at(opened, 5, is_china_workday, tz)
    assert due == datetime(2026, 11, 27, 23, 59, 59, tzinfo=tz)


def test_due_dates_work_in_years_beyond_the_current_one() -> None:
    assert add_working_days(date(2027, 12, 30), 3, is_china_workday).year == 2028


def _chain(n: int) -> list[ChainEntry]:
    out, prev = [], GENESIS
    for i in range(1, n + 1):
        content = {"seq": i, "action": "x", "payload": {"n": i}}
        h = entry_hash(prev, content)
        out.append(ChainEntry(id=i, seq=i, prev_hash=prev, hash=h, content=content))
        prev = h
    return out


def test_chain_verifies_and_detects_alteration_deletion_and_truncation() -> None:
    chain = _chain(4)
    assert verify_chain(chain, 4, chain[-1].hash) == []
    altered = [*chain[:2], ChainEntry(3, 3, chain[2].prev_hash, chain[2].hash, {"seq": 3, "action": "y"}), chain[3]]
    assert [p.seq for p in verify_chain(altered, 4, chain[-1].hash)] == [3]
    without_second = [chain[0], *chain[2:]]
    problems = verify_chain(without_second, 4, chain[-1].hash)
    assert any("missing" in p.problem for p in problems)
    truncated = chain[:3]
    assert [p.problem for p in verify_chain(truncated, 4, chain[-1].hash)] == [
        "chain head says seq 4, stored entries end at seq 3"
    ]


def test_id_number_checksum_and_masking() -> None:
    valid = with_check_digit("11010519491231002")
    assert valid == "11010519491231002X"
    assert id_number_problem(valid) is None
    assert id_number_problem("110105194912310021") == "the ID number's check digit is wrong"
    assert id_number_problem("1101051949") is not None
    assert mask(valid) == "110***********002X"
    assert mask("6228480012345678") == "622*********5678"


def test_a_declined_expert_is_excluded_as_declined_not_as_already_drawn() -> None:
    def candidate(i: int) -> ExpertCandidate:
        return ExpertCandidate(i, 100 + i, f"专家{i}", ["greenhouse"], "370100", f"单位{i}")

    pool = screen(
        [candidate(1), candidate(2), candidate(3)],
        project_type="greenhouse",
        township_code="370126100",
        implementing_entity="东关村股份经济合作社",
        already_drawn=[1, 2],
        declined=[1],
    )
    assert {(x.expert_id, x.reason) for x in pool.exclusions} == {(1, "declined"), (2, "already drawn for this panel")}
    assert [c.expert_id for c in pool.matching] == [3]
