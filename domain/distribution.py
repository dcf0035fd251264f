"""Distribution rules (收益分配方案, DOMAIN.md §7) and the split of an asset's income pool by one of them.

A rule is the version the village resolved (村民代表会议), the township reviewed and the county approved for a year;
rounds of that year are pinned to it. Percentages are basis points (1 % = 100 bp), coefficients basis points of 1.0,
money integer fen: nothing here is a float. The split is two levels: the pool into the four buckets
(`split_pool`), then the households bucket over the households (`allocate`, differentiated by `household_claims`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from fractions import Fraction
from typing import Any

from domain.allocation import Allocation, AllocationError, Claim, Line, allocate, largest_remainder
from domain.enums import HouseholdCategory
from domain.operation import Problem

BP = 10_000
"""Basis points in a whole: buckets sum to it, a coefficient of 1.0 is it."""


class Bucket(StrEnum):
    """Where a pool goes. The declared order is the published tie order of `split_pool`."""

    COLLECTIVE = "collective"  # 村集体留存
    PUBLIC_WELFARE_POSTS = "public_welfare_posts"  # 公益岗位
    UPKEEP_REINVESTMENT = "upkeep_reinvestment"  # 管护及再投入
    HOUSEHOLDS = "households"  # 农户分红


class WeightBasis(StrEnum):
    """What a household's dividend is proportional to before its coefficient."""

    SHARES = "shares"  # 折股量化: the household's quantified shares in the asset
    MEMBERS = "members"  # per person


class Combine(StrEnum):
    """How the coefficients of a household with several categories combine."""

    MAX = "max"  # the highest coefficient among its categories (the usual reading of a village rule)
    PRODUCT = "product"  # every coefficient multiplies


@dataclass(frozen=True)
class Buckets:
    """The pool's shares in basis points; they must sum to exactly 10000 (100 %)."""

    collective_bp: int
    public_welfare_posts_bp: int = 0
    upkeep_reinvestment_bp: int = 0
    households_bp: int = 0

    def in_order(self) -> list[tuple[Bucket, int]]:
        """(bucket, bp) in the declared order of `Bucket`."""
        return [
            (Bucket.COLLECTIVE, self.collective_bp),
            (Bucket.PUBLIC_WELFARE_POSTS, self.public_welfare_posts_bp),
            (Bucket.UPKEEP_REINVESTMENT, self.upkeep_reinvestment_bp),
            (Bucket.HOUSEHOLDS, self.households_bp),
        ]


@dataclass(frozen=True)
class DistributionRule:
    """One version of an asset's distribution rule.

    `coefficients_bp` maps a HouseholdCategory value to its coefficient in bp of 1.0 (15000 = 1.5×); a category the
    rule does not list, and a household without categories, weigh 1.0. A household in several listed categories
    takes the highest of their coefficients under `combine=max`, their product under `combine=product`.
    `min_fen` and `max_fen` bound each eligible household's dividend from this asset; what the max leaves over goes
    to `residue_to`. `version` is the rules table's label, carried for the record only."""

    buckets: Buckets
    basis: WeightBasis = WeightBasis.SHARES
    deduct_upkeep: bool = True
    coefficients_bp: dict[str, int] = field(default_factory=dict)
    combine: Combine = Combine.MAX
    min_fen: int | None = None
    max_fen: int | None = None
    residue_to: Bucket = Bucket.COLLECTIVE
    version: str = ""


def rule_problems(rule: DistributionRule) -> list[Problem]:
    """Every rule the distribution rule breaks (empty: it may be approved and used)."""
    out: list[Problem] = []
    for bucket, bp in rule.buckets.in_order():
        if bp < 0:
            out.append(Problem(f"buckets.{bucket.value}_bp", "not_negative", f"{bp} bp is negative"))
    total = sum(bp for _, bp in rule.buckets.in_order())
    if total != BP:
        out.append(Problem("buckets", "sum_10000", f"the buckets sum to {total} bp, not 10000 (100 %)"))
    if rule.basis not in _values(WeightBasis):
        out.append(Problem("basis", "known", f"{rule.basis!r}; allowed: {', '.join(_values(WeightBasis))}"))
    if rule.combine not in _values(Combine):
        out.append(Problem("combine", "known", f"{rule.combine!r}; allowed: {', '.join(_values(Combine))}"))
    for category, bp in sorted(rule.coefficients_bp.items()):
        if category not in _values(HouseholdCategory):
            allowed = ", ".join(_values(HouseholdCategory))
            out.append(Problem(f"coefficients_bp.{category}", "known_category", f"unknown; allowed: {allowed}"))
        if bp <= 0:
            out.append(Problem(f"coefficients_bp.{category}", "positive", f"{bp} bp; exclude a household instead"))
    for name, value in (("min_fen", rule.min_fen), ("max_fen", rule.max_fen)):
        if value is not None and value < 0:
            out.append(Problem(name, "not_negative", f"{value} fen is negative"))
    if rule.min_fen is not None and rule.max_fen is not None and rule.min_fen > rule.max_fen:
        out.append(Problem("min_fen", "min_not_above_max", f"min {rule.min_fen} fen is above max {rule.max_fen} fen"))
    if rule.residue_to not in _values(Bucket) or rule.residue_to == Bucket.HOUSEHOLDS:
        message = f"{rule.residue_to!r}: the residue goes to a bucket other than households"
        out.append(Problem("residue_to", "other_bucket", message))
    return out


def _values(enum: Iterable[StrEnum]) -> list[str]:
    return [e.value for e in enum]


def income_pool(income_fen: int, upkeep_fen: int, rule: DistributionRule) -> int:
    """The pool of a period: income received, minus the period's upkeep costs when the rule deducts them; never < 0."""
    if income_fen < 0 or upkeep_fen < 0:
        raise ValueError("income and upkeep are amounts received and spent: not negative")
    return max(0, income_fen - upkeep_fen) if rule.deduct_upkeep else income_fen


def split_pool(pool_fen: int, rule: DistributionRule) -> dict[Bucket, int]:
    """The pool in whole fen per bucket, by largest remainder over the buckets' bp (ties in `Bucket` order).

    Guarantees: the parts sum to `pool_fen`; each is the floor or ceiling of pool × bp / 10000. Raises
    AllocationError with the rule's problems if it has any, or if the pool is negative."""
    problems = rule_problems(rule)
    if pool_fen < 0:
        problems.append(Problem("pool_fen", "not_negative", f"the pool is {pool_fen} fen"))
    if problems:
        raise AllocationError(problems)
    order = rule.buckets.in_order()
    parts = largest_remainder(pool_fen, [bp for _, bp in order])
    return {bucket: part.floor + part.extra for (bucket, _), part in zip(order, parts, strict=True)}


def weight_scale(rule: DistributionRule) -> int:
    """The common denominator of the rule's coefficients: BP under max, BP^k (k listed categories) under product."""
    return BP if rule.combine == Combine.MAX else BP ** max(1, len(rule.coefficients_bp))


def coefficient(rule: DistributionRule, categories: Iterable[str]) -> int:
    """A household's coefficient as an integer over `weight_scale(rule)` (exact: 1.5 under max is 15000/10000)."""
    own = sorted(set(categories))
    if rule.combine == Combine.MAX:
        return max((rule.coefficients_bp.get(c, BP) for c in own), default=BP)
    scaled = weight_scale(rule)
    for bp in (rule.coefficients_bp[c] for c in own if c in rule.coefficients_bp):
        scaled = scaled * bp // BP  # exact: the scale holds a factor BP for every listed category
    return scaled


@dataclass(frozen=True)
class Beneficiary:
    """A household as the rule weighs it: code (一户一码), shares in this asset, members, categories, and why it is
    excluded this year (exited after stably escaping poverty, not re-appraised, …), if it is."""

    code: str
    shares: int = 0
    members: int = 0
    categories: tuple[str, ...] = ()
    excluded: str | None = None


def pooled_households(households: Iterable[Beneficiary]) -> list[Beneficiary]:
    """The households of a group of assets pooled under one rule, one per household (by code): its shares summed
    over the group's assets, its members and categories as the household has them (the same on every asset), and
    excluded if the rule excludes it. Sorted by code, so the split does not depend on the order of assets."""
    merged: dict[str, Beneficiary] = {}
    for h in households:
        seen = merged.get(h.code)
        merged[h.code] = (
            h
            if seen is None
            else Beneficiary(
                h.code,
                seen.shares + h.shares,
                max(seen.members, h.members),
                tuple(sorted(set(seen.categories) | set(h.categories))),
                seen.excluded if seen.excluded is not None else h.excluded,
            )
        )
    return [merged[code] for code in sorted(merged)]


def household_claims(rule: DistributionRule, households: Sequence[Beneficiary]) -> list[Claim]:
    """Each household's claim: weight = basis (shares or members) × coefficient, over the rule's common scale."""
    scale = weight_scale(rule)
    claims = []
    for h in households:
        basis = h.shares if rule.basis == WeightBasis.SHARES else h.members
        coef = coefficient(rule, h.categories)
        claims.append(Claim(h.code, basis * coef, h.excluded, basis, coef, scale))
    return claims


@dataclass(frozen=True)
class Distribution:
    """A pool split by a rule: the buckets as split, the households' allocation, and the buckets' final amounts
    (what the households bucket could not give, all households at the max or none eligible, moved to the rule's
    residue bucket). Guarantee: Σ final == pool_fen == Σ split."""

    pool_fen: int
    split: dict[Bucket, int]
    households: Allocation
    final: dict[Bucket, int]


def distribute(pool_fen: int, rule: DistributionRule, households: Sequence[Beneficiary]) -> Distribution:
    """Split one asset's pool by its rule down to the fen per household (raises AllocationError on a bad rule or
    input). A round over several assets distributes each and pays `combine_lines` of their `households`."""
    split = split_pool(pool_fen, rule)
    allocation = allocate(
        split[Bucket.HOUSEHOLDS],
        household_claims(rule, households),
        min_fen=rule.min_fen,
        max_fen=rule.max_fen,
        residue_to=str(rule.residue_to),
    )
    final = dict(split)
    final[Bucket.HOUSEHOLDS] -= allocation.residue_fen
    final[Bucket(rule.residue_to)] += allocation.residue_fen
    return Distribution(pool_fen, split, allocation, final)


def rule_as_json(rule: DistributionRule) -> dict[str, Any]:
    """A rule as stored (JSON): plain numbers and strings."""
    return asdict(rule)


def rule_from_json(data: Mapping[str, Any]) -> DistributionRule:
    """A stored rule back (the inverse of `rule_as_json`)."""
    b = data["buckets"]
    return DistributionRule(
        buckets=Buckets(
            collective_bp=int(b["collective_bp"]),
            public_welfare_posts_bp=int(b.get("public_welfare_posts_bp", 0)),
            upkeep_reinvestment_bp=int(b.get("upkeep_reinvestment_bp", 0)),
            households_bp=int(b.get("households_bp", 0)),
        ),
        basis=WeightBasis(data.get("basis", WeightBasis.SHARES)),
        deduct_upkeep=bool(data.get("deduct_upkeep", True)),
        coefficients_bp={str(k): int(v) for k, v in dict(data.get("coefficients_bp", {})).items()},
        combine=Combine(data.get("combine", Combine.MAX)),
        min_fen=None if data.get("min_fen") is None else int(data["min_fen"]),
        max_fen=None if data.get("max_fen") is None else int(data["max_fen"]),
        residue_to=Bucket(data.get("residue_to", Bucket.COLLECTIVE)),
        version=str(data.get("version", "")),
    )


def _fen(n: int) -> str:
    """Whole fen as yuan with two decimals (exact: integer arithmetic)."""
    sign = "-" if n < 0 else ""
    yuan, fen = divmod(abs(n), 100)
    return f"{sign}{yuan}.{fen:02d}"


def _exact_fen(q: Fraction) -> str:
    """An exact quota in fen: a finite decimal when it has one (157500.75 分), else a whole and a fraction
    (52500 又 1/3 分)."""
    den, twos, fives = q.denominator, 0, 0
    while den % 2 == 0:
        den, twos = den // 2, twos + 1
    while den % 5 == 0:
        den, fives = den // 5, fives + 1
    whole, part = divmod(q.numerator, q.denominator)
    if part == 0:
        return f"{whole} 分"
    if den == 1:
        places = max(twos, fives)
        digits = str(part * 10**places // q.denominator).rjust(places, "0")
        return f"{whole}.{digits} 分"
    return f"{whole} 又 {part}/{q.denominator} 分"


def explain_line(line: Line, rule: DistributionRule) -> str:
    """A household's part in one sentence of Chinese, as the plan's notice (公示) shows it to the village: its basis
    (shares or members) times its coefficient, the exact quota, the rounding and why it got the extra fen."""
    if line.excluded is not None:
        return f"本年不参与分红：{line.excluded}"
    unit = "股" if rule.basis == WeightBasis.SHARES else "人"
    basis = "折股" if rule.basis == WeightBasis.SHARES else "家庭人口"
    coefficient = Fraction(line.coefficient_num, line.coefficient_den)
    weight = f"{basis} {line.basis} {unit} × 系数 {coefficient.numerator / coefficient.denominator:g}"
    if line.bound is not None:
        limit = "上限" if line.bound.value == "max" else "下限"
        return f"{weight}；按每户{limit}计 {_fen(line.amount_fen)} 元"
    exact = _exact_fen(Fraction(line.quota_num, line.quota_den))
    extra = f"，按余数排第 {line.rank} 位加 1 分" if line.extra_fen else ""
    return f"{weight}；应得 {exact}，取整 {_fen(line.floor_fen)} 元{extra}，实得 {_fen(line.amount_fen)} 元"
