"""Dividend allocation (DOMAIN.md §7): properties of the fen-exact split, and the domain's real figures."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.allocation import (
    Allocation,
    AllocationError,
    AssetPart,
    Bound,
    Claim,
    HouseholdTotal,
    allocate,
    combine_lines,
)
from domain.distribution import (
    BP,
    Beneficiary,
    Bucket,
    Buckets,
    Combine,
    Distribution,
    DistributionRule,
    WeightBasis,
    distribute,
    household_claims,
    income_pool,
    rule_problems,
    split_pool,
)

PROPERTY = settings(max_examples=200, deadline=None)
CODES = st.text(alphabet="0123456789AB", min_size=1, max_size=5)


@dataclass(frozen=True)
class Case:
    total: int
    claims: list[Claim]
    min_fen: int | None
    max_fen: int | None


@st.composite
def weights(draw: st.DrawFn, n: int) -> list[int]:
    """Random, equal, mostly zero, or one huge among small: the shapes that break rounding."""
    shape = draw(st.sampled_from(["random", "equal", "zeros", "huge"]))
    if shape == "equal":
        return [draw(st.integers(1, 10**6))] * n
    if shape == "zeros":
        return draw(st.lists(st.sampled_from([0, 0, 0, 1, 7]), min_size=n, max_size=n))
    small = draw(st.lists(st.integers(0, 10) | st.integers(0, 10**6), min_size=n, max_size=n))
    if shape == "huge" and n:
        small[draw(st.integers(0, n - 1))] = 10**18
    return small


@st.composite
def cases(draw: st.DrawFn, bounds: bool = True, binding: bool = False) -> Case:
    """Households with weights, some excluded, a total, and (with `bounds`) a min and a max per household;
    `binding` draws many households of unequal weight and both limits around the mean, so both tend to bind."""
    keys = draw(st.lists(CODES, min_size=5 if binding else 1, max_size=40, unique=True))
    ws = draw(
        st.lists(st.integers(1, 10**4), min_size=len(keys), max_size=len(keys)) if binding else weights(len(keys))
    )
    excluded = [draw(st.integers(0, 9)) == 0 for _ in keys]
    claims = [Claim(k, w, "exited" if x else None) for k, w, x in zip(keys, ws, excluded, strict=True)]
    total = draw(st.one_of(st.integers(0, 10**12), st.integers(0, 1000)))
    taking = sum(1 for c in claims if c.weight > 0 and c.excluded is None)
    min_fen = max_fen = None
    mean = total // max(1, taking)  # a minimum up to the mean is affordable; a max below it leaves a residue
    if binding:
        min_fen = draw(st.integers(0, mean))
        max_fen = draw(st.integers(max(min_fen, mean), 3 * mean + 2))
    elif bounds and draw(st.integers(0, 3)):
        min_fen = draw(st.none() | st.integers(0, mean))
        max_fen = draw(st.none() | st.integers(max(min_fen or 0, mean), 3 * mean + 2) | st.integers(min_fen or 0, mean))
    return Case(total, claims, min_fen, max_fen)


ANY_CASE = cases() | cases(binding=True)


def run(case: Case, claims: list[Claim] | None = None) -> Allocation:
    return allocate(case.total, claims or case.claims, min_fen=case.min_fen, max_fen=case.max_fen)


def taking(a: Allocation) -> list[int]:
    return [i for i, line in enumerate(a.lines) if line.excluded is None]


@PROPERTY
@given(ANY_CASE)
def test_parts_and_residue_sum_to_the_total(case: Case) -> None:
    a = run(case)
    assert sum(line.amount_fen for line in a.lines) + a.residue_fen == case.total
    assert [line.key for line in a.lines] == sorted(c.key for c in case.claims)
    assert all(line.floor_fen + line.extra_fen == line.amount_fen and line.extra_fen in (0, 1) for line in a.lines)


@PROPERTY
@given(ANY_CASE)
def test_every_cap_and_minimum_holds_and_residue_only_when_nobody_can_take_more(case: Case) -> None:
    a = run(case)
    for line in a.lines:
        if line.excluded is not None:
            assert line.amount_fen == 0
            continue
        assert case.min_fen is None or line.amount_fen >= case.min_fen
        assert case.max_fen is None or line.amount_fen <= case.max_fen
    if a.residue_fen:
        assert all(a.lines[i].amount_fen == case.max_fen for i in taking(a))


@PROPERTY
@given(cases(bounds=False))
def test_without_bounds_each_part_is_floor_or_ceiling_of_its_exact_quota(case: Case) -> None:
    a = run(case)
    weight = sum(c.weight for c in case.claims if c.excluded is None)
    for line in a.lines:
        if line.excluded is None:
            exact = Fraction(case.total * line.weight, weight)
            assert line.quota == exact
            assert line.amount_fen in (math.floor(exact), math.ceil(exact))
    assert a.residue_fen == (case.total if weight == 0 else 0)


@PROPERTY
@given(ANY_CASE)
def test_water_filling_is_the_level_that_spends_the_total(case: Case) -> None:
    """Unbound lines get level × weight rounded; a line held at the max deserved more, one at the min less."""
    a = run(case)
    level = Fraction(a.level_num, a.level_den)
    for i in taking(a):
        line = a.lines[i]
        if line.bound is Bound.MAX:
            assert line.amount_fen == case.max_fen
            assert level * line.weight >= line.amount_fen
        elif line.bound is Bound.MIN:
            assert line.amount_fen == case.min_fen
            assert level * line.weight <= line.amount_fen
        else:
            assert line.quota == level * line.weight
            assert line.floor_fen == math.floor(line.quota)
            assert line.amount_fen <= math.ceil(line.quota)


@PROPERTY
@given(ANY_CASE)
def test_plus_one_goes_by_largest_remainder_then_household_code(case: Case) -> None:
    a = run(case)
    free = [a.lines[i] for i in taking(a) if a.lines[i].bound is None]
    for got in (x for x in free if x.extra_fen):
        for other in (x for x in free if not x.extra_fen):
            assert (got.remainder, other.key) > (other.remainder, got.key)
    assert sorted(x.rank for x in free if x.rank is not None) == list(range(1, len(free) + 1))


@PROPERTY
@given(ANY_CASE)
def test_a_larger_weight_never_gets_less(case: Case) -> None:
    a = run(case)
    lines = sorted((a.lines[i] for i in taking(a)), key=lambda x: x.weight)
    for smaller, larger in itertools.pairwise(lines):
        if smaller.weight < larger.weight:
            assert smaller.amount_fen <= larger.amount_fen


@PROPERTY
@given(ANY_CASE, st.randoms(use_true_random=False))
def test_independent_of_input_order_and_deterministic(case: Case, rnd: random.Random) -> None:
    shuffled = list(case.claims)
    rnd.shuffle(shuffled)
    assert run(case, shuffled) == run(case) == run(case)


@PROPERTY
@given(
    st.integers(0, 10**12),
    st.lists(st.integers(0, 10_000), min_size=3, max_size=3).filter(lambda xs: sum(xs) <= BP),
)
def test_split_pool_sums_exactly_and_follows_the_basis_points(pool: int, bps: list[int]) -> None:
    rule = DistributionRule(Buckets(BP - sum(bps), *bps))
    split = split_pool(pool, rule)
    assert list(split) == list(Bucket)
    assert sum(split.values()) == pool
    for bucket, bp in rule.buckets.in_order():
        assert abs(Fraction(pool * bp, BP) - split[bucket]) < 1


@PROPERTY
@given(st.dictionaries(st.sampled_from(["a1", "a2", "a3"]), ANY_CASE, max_size=3))
def test_combine_lines_pays_each_household_once_with_its_parts(per_case: dict[str, Case]) -> None:
    per_asset = {asset: run(case) for asset, case in per_case.items()}
    totals = combine_lines(per_asset)
    assert len({t.key for t in totals}) == len(totals)
    assert sum(t.amount_fen for t in totals) == sum(line.amount_fen for a in per_asset.values() for line in a.lines)
    for t in totals:
        assert t.amount_fen == sum(p.amount_fen for p in t.parts)
        assert [p.asset_id for p in t.parts] == sorted(p.asset_id for p in t.parts)


def test_minimums_the_total_cannot_cover_are_an_error_not_a_cut() -> None:
    with pytest.raises(AllocationError) as err:
        allocate(999, [Claim("H1", 1), Claim("H2", 1)], min_fen=500)
    assert [(p.field, p.rule) for p in err.value.problems] == [("min_fen", "covered")]


def test_bad_inputs_name_each_problem() -> None:
    with pytest.raises(AllocationError) as err:
        allocate(-1, [Claim("H1", -1), Claim("H1", 2)], min_fen=5, max_fen=4)
    rules = {p.rule for p in err.value.problems}
    assert rules == {"not_negative", "unique_keys", "weight_not_negative", "min_not_above_max"}


def test_all_households_capped_leaves_the_rest_to_the_residue_bucket() -> None:
    rule = DistributionRule(Buckets(collective_bp=5000, households_bp=5000), max_fen=300_00)
    d = distribute(2_000_00, rule, [Beneficiary("H1", shares=1), Beneficiary("H2", shares=3)])
    assert d.households.amounts() == {"H1": 300_00, "H2": 300_00}
    assert d.final == {
        Bucket.COLLECTIVE: 1_400_00,
        Bucket.PUBLIC_WELFARE_POSTS: 0,
        Bucket.UPKEEP_REINVESTMENT: 0,
        Bucket.HOUSEHOLDS: 600_00,
    }


def test_greenhouse_half_to_23_households_by_shares_about_2100_yuan_each() -> None:
    """50 % of the greenhouse's income quantified to 23 households (≈ 2,100 yuan each a year)."""
    rule = DistributionRule(Buckets(collective_bp=5000, households_bp=5000), basis=WeightBasis.SHARES)
    households = [Beneficiary(f"37012600{i:04d}", shares=10) for i in range(23)]
    d = distribute(96_600_01, rule, households)
    # 1 fen left over between two equal remainders: the collective is declared first, so it takes it
    assert d.split[Bucket.COLLECTIVE] == 48_300_01
    assert d.split[Bucket.HOUSEHOLDS] == 48_300_00
    assert set(d.households.amounts().values()) == {2_100_00}


def test_shop_rents_70_to_households_30_to_the_collective_per_person() -> None:
    rule = DistributionRule(Buckets(collective_bp=3000, households_bp=7000), basis=WeightBasis.MEMBERS)
    households = [Beneficiary(f"H{i:02d}", members=m) for i, m in enumerate([1, 2, 3, 4, 5, 3, 2])]
    d = distribute(100_000_00, rule, households)
    assert d.split[Bucket.HOUSEHOLDS] == 70_000_00
    assert d.split[Bucket.COLLECTIVE] == 30_000_00
    amounts = d.households.amounts()
    assert amounts["H00"] == 3_500_00
    assert amounts["H04"] == 17_500_00
    assert sum(amounts.values()) == 70_000_00


def test_differentiated_no_labour_takes_one_and_a_half_and_several_categories_take_the_max() -> None:
    coefficients = {"no_labour": 15000, "elderly": 12000}
    households = [
        Beneficiary("H1", shares=2, categories=("no_labour",)),
        Beneficiary("H2", shares=2),
        Beneficiary("H3", shares=2, categories=("no_labour", "elderly")),
        Beneficiary("H4", shares=2, excluded="exited (稳定脱贫)"),
    ]
    by_max = DistributionRule(Buckets(collective_bp=0, households_bp=BP), coefficients_bp=coefficients)
    d = distribute(40_000_00, by_max, households)
    assert d.households.amounts() == {"H1": 15_000_00, "H2": 10_000_00, "H3": 15_000_00, "H4": 0}
    assert [line.weight for line in d.households.lines] == [30000, 20000, 30000, 20000]
    assert d.households.lines[3].explain() == "H4: 0 fen (exited (稳定脱贫))"
    by_product = DistributionRule(by_max.buckets, coefficients_bp=coefficients, combine=Combine.PRODUCT)
    amounts = distribute(43_000_00, by_product, households).households.amounts()
    assert amounts == {"H1": 15_000_00, "H2": 10_000_00, "H3": 18_000_00, "H4": 0}  # 1.5 × 1.2 = 1.8


def test_4053_households_of_a_district_sum_to_the_pool() -> None:
    """1,325 yuan a household on average over 4,053 households; shares, categories and bounds from a fixed seed."""
    rnd = random.Random(4053)
    categories = ["no_labour", "severe_disability", "serious_illness", "elderly", "monitored"]
    households = [
        Beneficiary(
            f"3701{i:08d}",
            shares=rnd.randint(1, 12),
            categories=tuple(rnd.sample(categories, rnd.choice([0, 0, 0, 1, 2]))),
            excluded="exited" if rnd.random() < 0.02 else None,
        )
        for i in range(4053)
    ]
    rule = DistributionRule(
        Buckets(collective_bp=2000, public_welfare_posts_bp=500, upkeep_reinvestment_bp=500, households_bp=7000),
        coefficients_bp={"no_labour": 15000, "severe_disability": 15000, "serious_illness": 13000, "elderly": 12000},
        min_fen=300_00,
        max_fen=5_000_00,
    )
    pool = income_pool(7_998_750_07, 327_000_00, rule)
    d = distribute(pool, rule, households)
    assert sum(d.final.values()) == pool == sum(d.split.values())
    paid = [line.amount_fen for line in d.households.lines if line.excluded is None]
    assert sum(paid) + d.households.residue_fen == d.split[Bucket.HOUSEHOLDS]
    assert min(paid) >= 300_00
    assert max(paid) <= 5_000_00
    assert 1_300_00 < sum(paid) // len(paid) < 1_400_00


def test_household_claims_weigh_basis_times_coefficient() -> None:
    rule = DistributionRule(Buckets(collective_bp=BP), basis=WeightBasis.MEMBERS, coefficients_bp={"elderly": 12000})
    [claim] = household_claims(rule, [Beneficiary("H1", shares=9, members=3, categories=("elderly", "monitored"))])
    assert (claim.weight, claim.basis, claim.coefficient_num, claim.coefficient_den) == (36000, 3, 12000, BP)


def test_income_pool_deducts_upkeep_when_the_rule_says_and_never_goes_below_zero() -> None:
    deducting = DistributionRule(Buckets(collective_bp=BP))
    assert income_pool(10_000_00, 2_500_00, deducting) == 7_500_00
    assert income_pool(1_000_00, 2_500_00, deducting) == 0
    assert (
        income_pool(10_000_00, 2_500_00, DistributionRule(Buckets(collective_bp=BP), deduct_upkeep=False)) == 10_000_00
    )


@pytest.mark.parametrize(
    ("rule", "field", "name"),
    [
        (DistributionRule(Buckets(collective_bp=3000, households_bp=6999)), "buckets", "sum_10000"),
        (DistributionRule(Buckets(collective_bp=10001, households_bp=-1)), "buckets.households_bp", "not_negative"),
        (DistributionRule(Buckets(BP), coefficients_bp={"tall": 15000}), "coefficients_bp.tall", "known_category"),
        (DistributionRule(Buckets(BP), coefficients_bp={"elderly": 0}), "coefficients_bp.elderly", "positive"),
        (DistributionRule(Buckets(BP), min_fen=-1), "min_fen", "not_negative"),
        (DistributionRule(Buckets(BP), min_fen=10, max_fen=9), "min_fen", "min_not_above_max"),
        (DistributionRule(Buckets(BP), residue_to=Bucket.HOUSEHOLDS), "residue_to", "other_bucket"),
        (DistributionRule(Buckets(BP), basis="acres"), "basis", "known"),  # type: ignore[arg-type]
        (DistributionRule(Buckets(BP), combine="sum"), "combine", "known"),  # type: ignore[arg-type]
    ],
)
def test_rule_problems_name_each_broken_rule(rule: DistributionRule, field: str, name: str) -> None:
    assert (field, name) in {(p.field, p.rule) for p in rule_problems(rule)}
    with pytest.raises(AllocationError):
        split_pool(100, rule)


def test_a_valid_rule_has_no_problems_and_combine_lines_joins_assets() -> None:
    assert rule_problems(DistributionRule(Buckets(2000, 1000, 1000, 6000), min_fen=0, max_fen=0)) == []
    a = allocate(10, [Claim("H1", 1), Claim("H2", 1)])
    b = allocate(5, [Claim("H2", 1), Claim("H3", 0)])
    assert [(t.key, t.amount_fen, t.parts) for t in combine_lines({"shop": a, "barn": b})] == [
        ("H1", 5, (AssetPart("shop", 5),)),
        ("H2", 10, (AssetPart("barn", 5), AssetPart("shop", 5))),
        ("H3", 0, (AssetPart("barn", 0),)),
    ]


def test_a_distribution_round_trips_through_the_temporal_payload_converter() -> None:
    """The round workflow carries rules and results as payloads: nothing may be lost or turn into a float."""
    from temporalio.converter import DataConverter

    rule = DistributionRule(Buckets(3000, 0, 0, 7000), coefficients_bp={"elderly": 12000}, min_fen=1, max_fen=5_00)
    d = distribute(10_001, rule, [Beneficiary("H1", shares=2, categories=("elderly",)), Beneficiary("H2", shares=1)])
    converter = DataConverter.default.payload_converter
    for value, kind in (
        (rule, DistributionRule),
        (d, Distribution),
        (combine_lines({"a": d.households}), list[HouseholdTotal]),
    ):
        assert converter.from_payloads(converter.to_payloads([value]), [kind]) == [value]
