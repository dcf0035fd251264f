"""The operation rules (domain/operation.py): schedules and escalation in whole fen, warnings at their thresholds,
the next check, the archive's colour, low yield, credit codes and contract proposals."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from domain.operation import (
    AssetOperation,
    OpenReceivable,
    ProposalFacts,
    Rules,
    Terms,
    WarningKind,
    add_months,
    colour,
    credit_code_valid,
    escalated,
    low_yield,
    next_check,
    periods,
    proposal_problems,
    warnings,
)

RULES = Rules()
DAY = date(2027, 3, 10)


def _asset(**overrides: object) -> AssetOperation:
    base = AssetOperation(
        asset_id="A1",
        name="大棚",
        asset_class="operating",
        status="leased",
        operating_since=date(2026, 12, 1),
        contract_id="C1",
        contract_end=date(2030, 11, 30),
        last_income_on=date(2027, 3, 1),
        inspection_due=date(2027, 6, 1),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def _kinds(a: AssetOperation, today: date = DAY, rules: Rules = RULES) -> dict[str, str]:
    return {w.kind.value: w.level for w in warnings(a, today, rules)}


def test_months_clamp_to_the_month_end() -> None:
    assert add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)
    assert add_months(date(2027, 5, 15), -60) == date(2022, 5, 15)


def test_escalation_is_exact_and_rounds_half_up() -> None:
    assert escalated(100_000, 250, 0) == 100_000
    assert escalated(100_000, 250, 1) == 102_500
    assert escalated(3, 5_000, 1) == 5  # 4.5 → 5
    assert escalated(3_000_025, 250, 8) == (2 * 3_000_025 * 1025**8 + 1000**8) // (2 * 1000**8)


def test_periods_cover_the_contract_and_a_short_last_one_is_charged_by_its_days() -> None:
    terms = Terms(date(2027, 1, 1), date(2028, 2, 14), 1_200_000, "half_yearly", 1000)
    found = periods(terms)
    assert [(p.no, p.start, p.end) for p in found] == [
        (1, date(2027, 1, 1), date(2027, 6, 30)),
        (2, date(2027, 7, 1), date(2027, 12, 31)),
        (3, date(2028, 1, 1), date(2028, 2, 14)),
    ]
    assert [p.due for p in found] == [p.start for p in found]
    assert found[0].amount_fen == found[1].amount_fen == 1_200_000
    # the third period is in the second contract year (escalated 10 %) and runs 45 of 182 days
    assert found[2].amount_fen == (2 * 1_320_000 * 45 + 182) // (2 * 182)


def test_a_quiet_asset_has_no_warning_and_is_green() -> None:
    assert warnings(_asset(), DAY, RULES) == []
    assert colour([]) == "green"


def test_arrears_warn_at_the_reminder_limit_and_turn_red_at_the_problem_limit() -> None:
    due = DAY - timedelta(days=RULES.arrears_reminder_days - 1)
    owing = _asset(unpaid=[OpenReceivable(7, due, 100, 0)])
    assert _kinds(owing) == {}
    assert _kinds(owing, DAY + timedelta(days=1)) == {"arrears": "blue"}
    late = DAY + timedelta(days=RULES.arrears_problem_days - RULES.arrears_reminder_days + 1)
    assert _kinds(owing, late) == {"arrears": "blue", "arrears_problem": "red"}
    assert colour(warnings(owing, late, RULES)) == "red"


def test_a_contract_is_warned_at_90_30_and_7_days_then_expired() -> None:
    end = date(2027, 6, 30)
    a = _asset(contract_end=end, inspection_due=None)
    keys = [w.key.rsplit(":", 1)[1] for d in (91, 90, 31, 30, 8, 7, 0) for w in warnings(a, end - timedelta(d), RULES)]
    assert keys == ["90", "90", "30", "30", "7", "7"]
    assert {w.task_key for d in (90, 30, 7) for w in warnings(a, end - timedelta(d), RULES)} == {"contract:C1"}
    assert _kinds(a, end + timedelta(days=1)) == {"contract_expired": "red"}
    assert _kinds(replace(a, renewal_proposed=True), end - timedelta(days=10)) == {}


def test_idle_and_no_income_give_a_deadline_then_red() -> None:
    idle = _asset(status="idle", idle_since=date(2027, 1, 1))
    found = warnings(idle, DAY, RULES)
    assert [(w.kind, w.deadline) for w in found] == [(WarningKind.IDLE, date(2027, 4, 1))]
    assert _kinds(idle, date(2027, 4, 2)) == {"idle": "blue", "idle_overdue": "red"}
    silent = _asset(last_income_on=date(2026, 9, 1))
    assert _kinds(silent) == {"no_income": "blue"}


def test_inspections_are_due_then_red_after_the_grace() -> None:
    a = _asset(inspection_due=date(2027, 3, 1))
    assert _kinds(a) == {"inspection_due": "blue"}
    assert _kinds(a, date(2027, 3, 17)) == {"inspection_due": "blue", "inspection_overdue": "red"}


def test_levels_are_configuration() -> None:
    strict = replace(RULES, levels={**RULES.levels, "arrears": "red"})
    owing = _asset(unpaid=[OpenReceivable(7, DAY - timedelta(days=20), 100, 0)])
    assert _kinds(owing, DAY, strict) == {"arrears": "red"}


def test_the_next_check_is_the_next_day_that_matters_and_never_past_the_year() -> None:
    due = date(2027, 3, 1)
    owing = _asset(unpaid=[OpenReceivable(7, due, 100, 0)], inspection_due=date(2027, 12, 1))
    assert next_check([owing], DAY, RULES, year_end=date(2028, 1, 1)) == due + timedelta(days=15)
    assert next_check([_asset(inspection_due=None)], date(2027, 12, 20), RULES, year_end=date(2028, 1, 1)) == date(
        2028, 1, 1
    )
    # nothing pending: at most a month away
    assert next_check([], DAY, RULES, year_end=date(2028, 1, 1)) == DAY + timedelta(days=31)


def test_low_yield_is_prorated_to_the_days_in_operation() -> None:
    # 7 % expected on 1,000,000 fen is 70,000 a year; half of it (35,000) is the line, prorated
    assert low_yield(34_999, 1_000_000, 7.0, RULES, days=365, year_days=365)
    assert not low_yield(35_000, 1_000_000, 7.0, RULES, days=365, year_days=365)
    assert not low_yield(3_000, 1_000_000, 7.0, RULES, days=31, year_days=365)  # a month's income is enough
    assert not low_yield(0, 1_000_000, 7.0, replace(RULES, low_yield_percent=0), days=365, year_days=365)


@pytest.mark.parametrize(
    ("code", "valid"),
    [("91350100M000100Y43", True), ("91350100M000100Y44", False), ("9135010OM000100Y43", False), ("", False)],
)
def test_credit_codes_carry_their_check_character(code: str, valid: bool) -> None:
    assert credit_code_valid(code) is valid


def test_a_proposal_names_every_rule_it_breaks() -> None:
    current = {"current_operator": "甲合作社", "current_start": date(2020, 1, 1), "current_end": date(2027, 12, 31)}
    good = ProposalFacts("renewal", "lease", "甲合作社", "", date(2028, 1, 1), date(2037, 12, 31), **current)
    assert proposal_problems(good, DAY) == []
    long = replace(good, end=date(2048, 1, 1))
    assert [(p.field, p.rule) for p in proposal_problems(long, DAY)] == [("end", "lease_max_20_years")]
    other = replace(good, operator_name="乙公司")
    assert [(p.field, p.rule) for p in proposal_problems(other, DAY)] == [("operator.name", "same_operator")]
    same = replace(good, kind="new_operator")
    assert [(p.field, p.rule) for p in proposal_problems(same, DAY)] == [("operator.name", "another_operator")]
    early = replace(good, start=date(2019, 1, 1))
    assert ("start", "after_current") in [(p.field, p.rule) for p in proposal_problems(early, DAY)]
