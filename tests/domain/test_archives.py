"""The three-colour archives (DOMAIN.md §9) at each boundary, the list colour over the four archives, and the
overdue steps of a problem (remind, then escalate to the next level) on China's working-day calendar."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from core.calendar import is_china_workday
from domain.archives import (
    Archive,
    ArchiveRules,
    DistributionFacts,
    RegistrationFacts,
    distribution_colour,
    registration_colour,
    shown,
)
from domain.colours import project_colour
from domain.enums import RegionLevel, Role
from domain.problems import (
    ARCHIVE_OF_RULE,
    OverdueFacts,
    OverdueStep,
    RuleKind,
    escalation_of,
    overdue_step,
    rule_key,
    rule_of,
)
from domain.workdays import add_working_days

RULES = ArchiveRules(registration_days=30, distribution_failure_days=30, distribution_due_days=180)
TODAY = date(2026, 6, 10)  # a Wednesday, a working day


def _reg(**kw: object) -> RegistrationFacts:
    base: dict[str, object] = {"stage": "asset_registration", "stage_since": TODAY, "assets": 1}
    base.update(kw)
    return RegistrationFacts(**base)  # type: ignore[arg-type]


# ------------------------------------------------------------ registration


def test_registration_is_empty_before_it_begins() -> None:
    assert registration_colour(RegistrationFacts(stage="construction"), TODAY, RULES).colour == ""


def test_registering_is_blue_up_to_its_days_and_red_the_day_after() -> None:
    on_limit = _reg(stage_since=TODAY - timedelta(days=30))
    past = _reg(stage_since=TODAY - timedelta(days=31))
    assert registration_colour(on_limit, TODAY, RULES).colour == "blue"
    assert registration_colour(past, TODAY, RULES).colour == "red"


def test_a_refused_record_is_red_at_once() -> None:
    assert registration_colour(_reg(platform_rejected=True), TODAY, RULES).colour == "red"


def test_in_operation_an_asset_waiting_for_its_card_is_blue_then_red_past_the_days() -> None:
    waiting = _reg(stage="operation", stage_since=None, uncarded_since=(TODAY - timedelta(days=30),))
    missing = _reg(stage="operation", stage_since=None, uncarded_since=(TODAY - timedelta(days=31),))
    assert registration_colour(waiting, TODAY, RULES).colour == "blue"
    assert registration_colour(missing, TODAY, RULES).colour == "red"


def test_every_card_issued_past_registration_is_green() -> None:
    assert registration_colour(_reg(stage="operation", stage_since=None), TODAY, RULES).colour == "green"


# ------------------------------------------------------------ distribution


def test_distribution_is_empty_before_any_rule_or_round() -> None:
    assert distribution_colour(DistributionFacts(), TODAY, RULES).colour == ""


def test_a_failure_awaiting_its_correction_is_blue_up_to_its_days_then_red() -> None:
    blue = DistributionFacts(rules=1, rounds=1, failed_since=(TODAY - timedelta(days=30),))
    red = DistributionFacts(rules=1, rounds=1, failed_since=(TODAY - timedelta(days=31),))
    assert distribution_colour(blue, TODAY, RULES).colour == "blue"
    assert distribution_colour(red, TODAY, RULES).colour == "red"


def test_a_round_under_way_is_blue_and_every_round_closed_is_green() -> None:
    assert distribution_colour(DistributionFacts(rules=1, rounds=1, open_rounds=1), TODAY, RULES).colour == "blue"
    assert distribution_colour(DistributionFacts(rules=1, rounds=2), TODAY, RULES).colour == "green"


def test_a_years_approved_rule_without_a_round_is_blue_until_its_due_days_then_red() -> None:
    year = 2025  # ends 2025-12-31; due 180 days after 2026-01-01
    facts = DistributionFacts(rules=1, unpaid_years=(year,))
    due = date(2026, 1, 1) + timedelta(days=180)
    assert distribution_colour(facts, due, RULES).colour == "blue"
    assert distribution_colour(facts, due + timedelta(days=1), RULES).colour == "red"


# ------------------------------------------------------------ shown colours and the list colour


def test_an_overdue_problem_turns_its_archive_red_and_only_its_archive() -> None:
    own = {Archive.CONSTRUCTION: "green", Archive.REGISTRATION: "green", Archive.OPERATION: "blue"}
    archives = shown(own, ["operation"])
    assert archives == {
        Archive.CONSTRUCTION: "green",
        Archive.REGISTRATION: "green",
        Archive.OPERATION: "red",
        Archive.DISTRIBUTION: "",
    }
    assert project_colour(overdue=False, archives=archives.values()) == "red"
    assert project_colour(overdue=False, archives=shown(own, []).values()) == "blue"


@pytest.mark.parametrize("archive", list(Archive))
def test_the_list_colour_is_the_worst_of_the_four(archive: Archive) -> None:
    own = dict.fromkeys(Archive, "green")
    assert project_colour(overdue=False, archives=shown(own, []).values()) == "green"
    own[archive] = "red"
    assert project_colour(overdue=False, archives=shown(own, []).values()) == "red"


def test_each_rule_names_its_archive_and_its_key_its_rule() -> None:
    assert ARCHIVE_OF_RULE[RuleKind.CONSTRUCTION_RED] is Archive.CONSTRUCTION
    assert ARCHIVE_OF_RULE[RuleKind.DIVIDEND_FAILURE] is Archive.DISTRIBUTION
    assert rule_of(rule_key(RuleKind.DIVIDEND_FAILURE, "dividend-370101-2026-1", "7")) is RuleKind.DIVIDEND_FAILURE
    assert rule_of(rule_key(RuleKind.CONSTRUCTION_RED, "XM1", "2026-05-01")) is RuleKind.CONSTRUCTION_RED


# ------------------------------------------------------------ overdue steps


def _step(day: date, deadline: date, *, reminded: bool = False, escalated: bool = False) -> OverdueStep | None:
    return overdue_step(OverdueFacts(deadline, "rectifying", reminded, escalated), day, is_china_workday, 5)


def test_not_overdue_on_its_deadline_reminded_the_first_working_day_after() -> None:
    deadline = date(2026, 6, 9)  # a Tuesday
    assert _step(deadline, deadline) is None
    assert _step(deadline + timedelta(days=1), deadline) is OverdueStep.REMIND


def test_nothing_happens_on_a_day_off() -> None:
    deadline = date(2026, 6, 12)  # a Friday; Saturday 13th and Sunday 14th are days off
    assert _step(date(2026, 6, 13), deadline) is None
    assert _step(date(2026, 6, 15), deadline) is OverdueStep.REMIND


def test_escalated_at_the_working_day_limit_once_reminded_and_never_twice() -> None:
    deadline = date(2026, 6, 9)
    limit = add_working_days(deadline, 5, is_china_workday)
    before = limit - timedelta(days=1)
    while not is_china_workday(before):
        before -= timedelta(days=1)
    assert _step(before, deadline, reminded=True) is None
    assert _step(limit, deadline, reminded=True) is OverdueStep.ESCALATE
    assert _step(limit, deadline, reminded=False) is OverdueStep.REMIND  # reminded first, never both at once
    assert _step(limit + timedelta(days=7), deadline, reminded=True, escalated=True) is None


def test_a_closed_problem_has_no_step() -> None:
    facts = OverdueFacts(date(2026, 6, 1), "closed", False, False)
    assert overdue_step(facts, TODAY, is_china_workday, 5) is None


def test_escalation_goes_one_level_above_the_registering_level() -> None:
    village = "370126100201"
    county = escalation_of(village, RegionLevel.TOWNSHIP)
    assert (county.level, county.region_code) == (RegionLevel.COUNTY, "370126")
    assert Role.SUPERVISOR in county.roles
    city = escalation_of(village, RegionLevel.COUNTY)  # a rule's problem: registered for the county
    assert (city.level, city.region_code, city.roles) == (
        RegionLevel.CITY,
        "370100",
        (Role.SUPERVISOR, Role.CITY_REVIEWER),
    )
    assert escalation_of(village, RegionLevel.VILLAGE).region_code == "370126100"
