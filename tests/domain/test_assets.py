"""Pure asset-registration rules (DOMAIN.md §5): values, ownership shares, household assets and the four rights."""

from __future__ import annotations

import calendar
from dataclasses import replace
from datetime import date, timedelta

import pytest

from domain.assets import (
    FULL_SHARE_BP,
    AssetClass,
    AssetFacts,
    IncomeShare,
    OwnerShare,
    contract_end,
    registration_violations,
)

V1, V2, V3 = "370125001001", "370125001002", "370125002001"


def _operating(**kw: object) -> AssetFacts:
    base = AssetFacts(
        name="photovoltaic station",
        asset_class=AssetClass.OPERATING,
        value_fen=600_000_00,
        owners=[OwnerShare(V1, FULL_SHARE_BP)],
        has_operator=True,
        has_contract=True,
        income=[IncomeShare("H1", 2), IncomeShare("H2", 1)],
        has_supervision=True,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def _public(**kw: object) -> AssetFacts:
    base = AssetFacts(
        name="irrigation channel",
        asset_class=AssetClass.PUBLIC_WELFARE,
        value_fen=300_000_00,
        owners=[OwnerShare(V1, FULL_SHARE_BP)],
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def _household(**kw: object) -> AssetFacts:
    base = AssetFacts(
        name="breeding cattle",
        asset_class=AssetClass.HOUSEHOLD,
        value_fen=100_000_00,
        household_code="H9",
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def _rules(assets: list[AssetFacts], final_cost_fen: int | None = None) -> list[tuple[str, str]]:
    cost = sum(a.value_fen for a in assets) if final_cost_fen is None else final_cost_fen
    return [(v.field, v.rule) for v in registration_violations(assets, final_cost_fen=cost)]


def test_full_share_is_ten_thousand_basis_points() -> None:
    assert FULL_SHARE_BP == 10_000


def test_a_complete_registration_has_no_violations() -> None:
    assets = [_operating(), _public(), _household()]
    assert registration_violations(assets, final_cost_fen=1_000_000_00) == []


def test_each_class_alone_is_valid() -> None:
    assert _rules([_operating()]) == []
    assert _rules([_public()]) == []
    assert _rules([_household()]) == []


def test_asset_class_accepts_plain_strings() -> None:
    assert _rules([_operating(asset_class="operating"), _household(asset_class="household")]) == []


# --- the whole registration ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("final_cost", [0, 1, 1_000_000_00])
def test_no_assets_is_one_violation(final_cost: int) -> None:
    violations = registration_violations([], final_cost_fen=final_cost)
    assert [(v.field, v.rule) for v in violations] == [("assets", "not_empty")]
    assert violations[0].message


@pytest.mark.parametrize("delta", [-1, 1, -100_00, 100_00])
def test_values_must_sum_to_the_final_cost_to_the_fen(delta: int) -> None:
    assets = [_operating(), _public(), _household()]  # 1 000 000.00 yuan
    total = 1_000_000_00
    violations = registration_violations(assets, final_cost_fen=total + delta)
    assert [(v.field, v.rule) for v in violations] == [("assets", "values_sum_to_final_cost")]
    assert str(total) in violations[0].message
    assert str(total + delta) in violations[0].message


def test_values_summing_exactly_pass() -> None:
    assets = [_operating(value_fen=333_33), _public(value_fen=333_33), _household(value_fen=333_34)]
    assert registration_violations(assets, final_cost_fen=1000_00) == []


@pytest.mark.parametrize("value", [0, -1])
def test_asset_value_must_be_above_zero(value: int) -> None:
    assets = [_operating(), _public(value_fen=value)]
    assert _rules(assets) == [("assets[1].value_fen", "positive")]


def test_value_of_a_household_asset_must_be_above_zero() -> None:
    assert _rules([_household(value_fen=0)]) == [("assets[0].value_fen", "positive")]


# --- ownership shares ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shares", "expected"),
    [
        ((3333, 3333, 3334), []),
        ((5000, 2500, 2500), []),
        ((3333, 3333, 3333), [("assets[0].owners", "sum_100")]),  # 9999
        ((3333, 3333, 3335), [("assets[0].owners", "sum_100")]),  # 10001
        ((5000, 5000, 1), [("assets[0].owners", "sum_100")]),
    ],
)
def test_shares_across_three_villages_sum_to_exactly_100_percent(
    shares: tuple[int, int, int], expected: list[tuple[str, str]]
) -> None:
    owners = [OwnerShare(v, s) for v, s in zip((V1, V2, V3), shares, strict=True)]
    assert _rules([_operating(owners=owners)]) == expected


@pytest.mark.parametrize("share", [9999, 10001, 5000])
def test_a_single_owner_holds_exactly_100_percent(share: int) -> None:
    assert _rules([_public(owners=[OwnerShare(V1, share)])]) == [("assets[0].owners", "sum_100")]


def test_a_village_owns_one_share_only() -> None:
    owners = [OwnerShare(V1, 5000), OwnerShare(V2, 2500), OwnerShare(V1, 2500)]
    assert _rules([_operating(owners=owners)]) == [("assets[0].owners", "unique")]


def test_duplicate_village_and_wrong_sum_are_both_reported() -> None:
    owners = [OwnerShare(V1, 5000), OwnerShare(V1, 5000), OwnerShare(V2, 1)]
    assert _rules([_operating(owners=owners)]) == [("assets[0].owners", "unique"), ("assets[0].owners", "sum_100")]


@pytest.mark.parametrize("bad", [0, -1])
def test_every_share_is_above_zero(bad: int) -> None:
    owners = [OwnerShare(V1, FULL_SHARE_BP - bad), OwnerShare(V2, bad)]  # still sums to 10000
    assert _rules([_public(owners=owners)]) == [("assets[0].owners", "positive")]


def test_zero_share_and_wrong_sum_are_both_reported() -> None:
    owners = [OwnerShare(V1, 9999), OwnerShare(V2, 0)]
    assert _rules([_public(owners=owners)]) == [("assets[0].owners", "positive"), ("assets[0].owners", "sum_100")]


@pytest.mark.parametrize("make", [_operating, _public])
def test_a_village_asset_names_its_owners(make: object) -> None:
    asset = make(owners=[])  # type: ignore[operator]
    assert ("assets[0].owners", "not_empty") in _rules([asset])
    assert [r for r in _rules([asset]) if r[0] == "assets[0].owners"] == [("assets[0].owners", "not_empty")]


# --- household assets (到户类) ------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [None, ""])
def test_a_household_asset_names_its_household(code: str | None) -> None:
    assert _rules([_household(household_code=code)]) == [("assets[0].household_code", "required")]


def test_a_household_asset_has_no_village_owners() -> None:
    assert _rules([_household(owners=[OwnerShare(V1, FULL_SHARE_BP)])]) == [("assets[0].owners", "empty")]


def test_a_household_asset_with_no_household_and_village_owners_breaks_both() -> None:
    asset = _household(household_code=None, owners=[OwnerShare(V1, FULL_SHARE_BP)])
    assert _rules([asset]) == [("assets[0].household_code", "required"), ("assets[0].owners", "empty")]


def test_a_household_asset_needs_no_operator_contract_income_or_supervision() -> None:
    asset = _household(has_operator=False, has_contract=False, income=[], has_supervision=False)
    assert _rules([asset]) == []


@pytest.mark.parametrize("make", [_operating, _public])
def test_only_a_household_asset_names_a_household(make: object) -> None:
    asset = make(household_code="H9")  # type: ignore[operator]
    assert _rules([asset]) == [("assets[0].household_code", "empty")]


# --- operating assets: the four rights ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"has_operator": False}, [("assets[0].operator", "required")]),
        ({"has_contract": False}, [("assets[0].contract", "required")]),
        ({"income": []}, [("assets[0].income", "not_empty")]),
        ({"has_supervision": False}, [("assets[0].supervision", "required")]),
    ],
)
def test_an_operating_asset_names_each_right(change: dict[str, object], expected: list[tuple[str, str]]) -> None:
    assert _rules([_operating(**change)]) == expected


def test_an_operating_asset_missing_every_right_reports_each() -> None:
    asset = _operating(has_operator=False, has_contract=False, income=[], has_supervision=False)
    assert _rules([asset]) == [
        ("assets[0].operator", "required"),
        ("assets[0].contract", "required"),
        ("assets[0].income", "not_empty"),
        ("assets[0].supervision", "required"),
    ]


def test_income_households_appear_once() -> None:
    income = [IncomeShare("H1", 2), IncomeShare("H2", 1), IncomeShare("H1", 1)]
    assert _rules([_operating(income=income)]) == [("assets[0].income", "unique")]


@pytest.mark.parametrize("bad", [0, -1])
def test_every_income_household_holds_at_least_one_share(bad: int) -> None:
    income = [IncomeShare("H1", 2), IncomeShare("H2", bad)]
    assert _rules([_operating(income=income)]) == [("assets[0].income", "positive")]


def test_one_share_is_enough() -> None:
    assert _rules([_operating(income=[IncomeShare("H1")])]) == []
    assert IncomeShare("H1").shares == 1


def test_duplicate_and_zero_income_shares_are_both_reported() -> None:
    income = [IncomeShare("H1", 0), IncomeShare("H1", 3)]
    assert _rules([_operating(income=income)]) == [("assets[0].income", "unique"), ("assets[0].income", "positive")]


def test_a_public_welfare_asset_needs_no_operator_contract_or_income() -> None:
    asset = _public(has_operator=False, has_contract=False, income=[], has_supervision=False)
    assert _rules([asset]) == []


def test_income_shares_on_a_public_welfare_asset_are_still_checked() -> None:
    income = [IncomeShare("H1", 1), IncomeShare("H1", 0)]
    assert _rules([_public(income=income)]) == [("assets[0].income", "unique"), ("assets[0].income", "positive")]


# --- several assets, several violations ---------------------------------------------------------------------------


def test_violations_name_the_asset_by_its_index() -> None:
    assets = [_public(), _operating(has_contract=False), _household(household_code=None)]
    assert _rules(assets) == [("assets[1].contract", "required"), ("assets[2].household_code", "required")]


def test_everything_wrong_at_once_is_reported_together_in_order() -> None:
    assets = [
        _operating(
            owners=[OwnerShare(V1, 5000), OwnerShare(V1, 0)],
            household_code="H5",
            has_operator=False,
            has_supervision=False,
            income=[IncomeShare("H1", 1), IncomeShare("H1", 1)],
        ),
        _public(value_fen=0, owners=[]),
        _household(owners=[OwnerShare(V2, FULL_SHARE_BP)], household_code=""),
    ]
    violations = registration_violations(assets, final_cost_fen=1)
    assert [(v.field, v.rule) for v in violations] == [
        ("assets", "values_sum_to_final_cost"),
        ("assets[0].household_code", "empty"),
        ("assets[0].owners", "unique"),
        ("assets[0].owners", "positive"),
        ("assets[0].owners", "sum_100"),
        ("assets[0].operator", "required"),
        ("assets[0].supervision", "required"),
        ("assets[0].income", "unique"),
        ("assets[1].value_fen", "positive"),
        ("assets[1].owners", "not_empty"),
        ("assets[2].household_code", "required"),
        ("assets[2].owners", "empty"),
    ]
    assert all(v.message for v in violations)


@pytest.mark.parametrize("asset_class", ["", "bogus", "Operating"])
def test_an_unknown_asset_class_is_a_violation(asset_class: str) -> None:
    asset = _public(asset_class=asset_class)
    assert [f for f, _ in _rules([asset])] == ["assets[0].asset_class"]


# --- contract end and start -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "years", "end"),
    [
        (date(2026, 12, 1), 10, date(2036, 11, 30)),  # the walk: not 2036-12-01
        (date(2026, 1, 1), 1, date(2026, 12, 31)),
        (date(2025, 1, 1), 6, date(2030, 12, 31)),
        (date(2024, 7, 1), 2, date(2026, 6, 30)),
        (date(2027, 3, 1), 1, date(2028, 2, 29)),  # the day before 1 March of a leap year
        (date(2027, 2, 28), 1, date(2028, 2, 27)),
        (date(2028, 2, 29), 10, date(2038, 2, 28)),  # no 29 Feb in 2038: the next term would begin on 1 March
        (date(2028, 2, 29), 1, date(2029, 2, 28)),
        (date(2028, 2, 29), 4, date(2032, 2, 28)),  # 2032-02-29 exists: the anniversary, and the day before it
        (date(2028, 3, 1), 10, date(2038, 2, 28)),
        (date(2026, 12, 31), 1, date(2027, 12, 30)),
    ],
)
def test_a_contract_ends_the_day_before_its_anniversary(start: date, years: int, end: date) -> None:
    assert contract_end(start, years) == end


def test_the_next_term_begins_the_day_after_the_end() -> None:
    # from 29 February: on the anniversary in a leap year, on 1 March otherwise; never a day lost or doubled
    start = date(2028, 2, 29)
    for years in range(1, 9):
        year = start.year + years
        following = contract_end(start, years) + timedelta(days=1)
        assert following == (date(year, 2, 29) if calendar.isleap(year) else date(year, 3, 1))


ACCEPTED = date(2027, 5, 10)


def _accepted_rules(assets: list[AssetFacts], accepted_on: date | None = ACCEPTED) -> list[tuple[str, str]]:
    cost = sum(a.value_fen for a in assets)
    return [(v.field, v.rule) for v in registration_violations(assets, final_cost_fen=cost, accepted_on=accepted_on)]


def test_a_contract_may_start_on_the_day_of_the_acceptance_or_later() -> None:
    assert _accepted_rules([_operating(contract_start=ACCEPTED)]) == []
    assert _accepted_rules([_operating(contract_start=date(2027, 12, 1))]) == []


def test_a_contract_starting_before_the_acceptance_is_refused() -> None:
    early = _operating(contract_start=date(2027, 5, 9))
    assert _accepted_rules([_public(), early]) == [("assets[1].contract.start", "after_acceptance")]
    (v,) = registration_violations([early], final_cost_fen=early.value_fen, accepted_on=ACCEPTED)
    assert ACCEPTED.isoformat() in v.message


def test_a_public_welfare_contract_is_held_to_the_acceptance_too() -> None:
    assert _accepted_rules([_public(has_contract=True, contract_start=date(2027, 1, 1))]) == [
        ("assets[0].contract.start", "after_acceptance")
    ]


def test_the_contract_rule_is_reported_with_the_other_rules() -> None:
    early = _operating(contract_start=date(2026, 1, 1), owners=[OwnerShare(V1, 9_000)])
    assert _accepted_rules([early]) == [
        ("assets[0].owners", "sum_100"),
        ("assets[0].contract.start", "after_acceptance"),
    ]
