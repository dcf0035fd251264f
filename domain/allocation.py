"""Allocation of whole fen by weight (收益分配, DOMAIN.md §7): largest remainder with caps and minimums.

Exact to the fen and explainable: the arithmetic is integer only (a quota `total × w / W` is kept as its numerator
and denominator, remainders are compared as integers), the parts always sum to the total, and every line says how
its amount came about. The published tie rule: among equal remainders the lower key (household code, compared as
a string) gets its +1 fen first. Pure: the DividendRoundWorkflow may call it in its sandbox.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from functools import cmp_to_key
from math import gcd

from domain.operation import Problem

EXCLUDED_ZERO_WEIGHT = "zero weight"


class Bound(StrEnum):
    """Which per-household limit fixed a line's amount (水位法 water-filling)."""

    MAX = "max"
    MIN = "min"


@dataclass(frozen=True)
class Claim:
    """A household's claim: its code, its integer weight (basis × coefficient over a common scale) and, when it
    takes no part this round (exited, not eligible), why. `basis` and the coefficient are kept for the notice."""

    key: str
    weight: int
    excluded: str | None = None
    basis: int = 0
    coefficient_num: int = 1
    coefficient_den: int = 1


@dataclass(frozen=True)
class Line:
    """One household's amount and how it came about.

    The exact quota is `quota_num / quota_den` fen: weight × level for a household no limit binds (all such lines
    share `quota_den`, so `remainder = quota_num mod quota_den` compares exactly), the limit itself for a bound one.
    `floor_fen + extra_fen == amount_fen`; `rank` is the line's place in the remainder order (1 = first to get
    +1 fen) among the unbound lines; `excluded` says why a line gets nothing."""

    key: str
    weight: int
    amount_fen: int
    quota_num: int
    quota_den: int
    floor_fen: int
    remainder: int
    extra_fen: int
    rank: int | None
    bound: Bound | None = None
    excluded: str | None = None
    basis: int = 0
    coefficient_num: int = 1
    coefficient_den: int = 1

    @property
    def quota(self) -> Fraction:
        """The exact (unrounded) amount in fen."""
        return Fraction(self.quota_num, self.quota_den)

    def explain(self) -> str:
        """The line in one sentence, for the plan's notice (公示) and for an objection."""
        if self.excluded is not None:
            return f"{self.key}: 0 fen ({self.excluded})"
        head = f"{self.key}: weight {self.weight}"
        if self.bound is not None:
            return f"{head}, held at the {self.bound.value} of {self.amount_fen} fen"
        plus = f" + 1 (remainder rank {self.rank})" if self.extra_fen else ""
        return f"{head}, quota {self.quota} fen = {self.floor_fen}{plus} = {self.amount_fen} fen"


@dataclass(frozen=True)
class Allocation:
    """The total split into lines (sorted by key) and a residue that nobody could take (everyone at the max, or
    nobody eligible), which goes to `residue_to`. Guarantee: Σ amount_fen + residue_fen == total_fen. The level
    `level_num / level_den` fen per unit of weight is what an unbound household's quota is measured by."""

    total_fen: int
    lines: tuple[Line, ...]
    residue_fen: int
    residue_to: str
    level_num: int
    level_den: int
    min_fen: int | None = None
    max_fen: int | None = None

    def amounts(self) -> dict[str, int]:
        """Household code → fen."""
        return {line.key: line.amount_fen for line in self.lines}


class AllocationError(ValueError):
    """The inputs cannot be allocated (a negative total, duplicate keys, minimums the total cannot cover, …)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in self.problems))


@dataclass(frozen=True)
class Rounded:
    """One part of a largest-remainder split: floor, remainder (over the common denominator), +1 fen and rank."""

    floor: int
    remainder: int
    extra: int
    rank: int


def largest_remainder(total: int, weights: Sequence[int]) -> list[Rounded]:
    """Split `total` (≥ 0) over `weights` (≥ 0, Σ > 0) in whole units by largest remainder, exactly.

    Part i is floor(total·wᵢ/W) plus 1 for the `total − Σ floors` parts with the largest remainder
    `total·wᵢ mod W`; equal remainders go in the order given (the caller sorts by its published key). Guarantees:
    the parts sum to `total`; each is the floor or the ceiling of its quota; a part whose quota is whole gets no +1."""
    weight_sum = sum(weights)
    if total < 0 or weight_sum <= 0 or any(w < 0 for w in weights):
        raise ValueError("largest_remainder needs total >= 0 and weights >= 0 with a positive sum")
    floors = [total * w // weight_sum for w in weights]
    remainders = [total * w % weight_sum for w in weights]
    order = sorted(range(len(weights)), key=lambda i: -remainders[i])  # stable: ties keep the given order
    left = total - sum(floors)
    rank = {i: n + 1 for n, i in enumerate(order)}
    return [Rounded(floors[i], remainders[i], 1 if rank[i] <= left else 0, rank[i]) for i in range(len(weights))]


def allocate(
    total_fen: int,
    claims: Sequence[Claim],
    *,
    min_fen: int | None = None,
    max_fen: int | None = None,
    residue_to: str = "collective",
) -> Allocation:
    """Split `total_fen` over the claims by weight, in whole fen, within [min_fen, max_fen] per household.

    Households with weight 0 or an `excluded` reason get 0 and say why. The others get clamp(level × weight,
    min, max) where the level is the one that spends the total (water-filling: a household over the max is held at
    the max and the rest re-split, likewise the minimum); the unbound quotas are rounded by `largest_remainder`,
    ties by ascending household code. What nobody can take (every household at the max, or nobody eligible) is the
    residue for `residue_to`, never dropped. Independent of the claims' order; raises AllocationError if the total
    is negative, keys repeat, a weight is negative, min > max, or the total cannot cover every minimum."""
    problems = _input_problems(total_fen, claims, min_fen, max_fen)
    ordered = sorted(claims, key=lambda c: c.key)
    taking = [c for c in ordered if c.excluded is None and c.weight > 0]
    lo, n = min_fen or 0, len(taking)
    if not problems and taking and lo * n > total_fen:
        problems.append(
            Problem("min_fen", "covered", f"{n} households × min {lo} fen = {lo * n} fen exceed the {total_fen} fen")
        )
    if problems:
        raise AllocationError(problems)
    taking_keys = {c.key for c in taking}
    lines = {
        c.key: _line(c, 0, excluded=c.excluded or EXCLUDED_ZERO_WEIGHT) for c in ordered if c.key not in taking_keys
    }
    if not taking:
        return Allocation(total_fen, _sorted(lines), total_fen, residue_to, 0, 1, min_fen, max_fen)
    if max_fen is not None and max_fen * n <= total_fen:
        lines.update({c.key: _line(c, max_fen, bound=Bound.MAX) for c in taking})
        residue = total_fen - max_fen * n
        return Allocation(total_fen, _sorted(lines), residue, residue_to, max_fen, 1, min_fen, max_fen)
    num, den = _water_level(total_fen, [c.weight for c in taking], lo, max_fen)
    free: list[Claim] = []
    for c in taking:
        if min_fen is not None and num * c.weight <= min_fen * den:
            lines[c.key] = _line(c, min_fen, bound=Bound.MIN)
        elif max_fen is not None and num * c.weight >= max_fen * den:
            lines[c.key] = _line(c, max_fen, bound=Bound.MAX)
        else:
            free.append(c)
    spent_on_bound = sum(line.amount_fen for line in lines.values())
    if free:
        # level = (total - bound) / Σ free weights exactly, so the free quotas are total'·w/W' as in the plain split
        rest, free_weight = total_fen - spent_on_bound, sum(c.weight for c in free)
        for c, r in zip(free, largest_remainder(rest, [c.weight for c in free]), strict=True):
            quota = (rest * c.weight, free_weight)
            lines[c.key] = _line(c, r.floor + r.extra, quota=quota, remainder=r.remainder, extra=r.extra, rank=r.rank)
    assert sum(line.amount_fen for line in lines.values()) == total_fen  # the water level spends the total exactly
    g = gcd(num, den)
    return Allocation(total_fen, _sorted(lines), 0, residue_to, num // g, den // g, min_fen, max_fen)


def _input_problems(total: int, claims: Sequence[Claim], lo: int | None, hi: int | None) -> list[Problem]:
    out: list[Problem] = []
    if total < 0:
        out.append(Problem("total_fen", "not_negative", f"the total is {total} fen"))
    seen: set[str] = set()
    for c in claims:
        if c.key in seen:
            out.append(Problem("claims", "unique_keys", f"household {c.key} appears more than once"))
        seen.add(c.key)
        if c.weight < 0:
            out.append(Problem("claims", "weight_not_negative", f"household {c.key} has weight {c.weight}"))
    for name, value in (("min_fen", lo), ("max_fen", hi)):
        if value is not None and value < 0:
            out.append(Problem(name, "not_negative", f"{name} is {value}"))
    if lo is not None and hi is not None and lo > hi:
        out.append(Problem("min_fen", "min_not_above_max", f"min {lo} fen is above max {hi} fen"))
    return out


def _water_level(total: int, weights: Sequence[int], lo: int, hi: int | None) -> tuple[int, int]:
    """The level λ = num/den with Σ clamp(λ·w, lo, hi) == total (given n·lo ≤ total < n·hi), in integers only.

    The sum is nondecreasing in λ and linear between the breakpoints lo/w and hi/w: a binary search over them finds
    the piece where it reaches the total; on that piece the bound households are known and λ solves exactly."""
    points = sorted(
        {(lo, w) for w in weights} | {(hi, w) for w in weights if hi is not None}, key=cmp_to_key(_compare_ratios)
    )

    def reaches(num: int, den: int) -> bool:  # Σ clamp(num·w/den, lo, hi) ≥ total, multiplied out by den
        top = None if hi is None else hi * den
        spent = 0
        for w in weights:
            part = max(lo * den, num * w)
            spent += part if top is None else min(top, part)
        return spent >= total * den

    low, high = 0, len(points)
    while low < high:
        mid = (low + high) // 2
        if reaches(*points[mid]):
            high = mid
        else:
            low = mid + 1
    if low == 0 and reaches(0, 1):
        return 0, 1  # total == n·lo: everyone at the minimum
    (ln, ld) = points[low - 1] if low > 0 else (0, 1)
    # a probe strictly inside the piece: the midpoint, or one past the last breakpoint
    pn, pd = (
        (ln * points[low][1] + points[low][0] * ld, 2 * ld * points[low][1]) if low < len(points) else (ln + ld, ld)
    )
    fixed, free_weight = 0, 0
    for w in weights:
        if pn * w <= lo * pd:
            fixed += lo
        elif hi is not None and pn * w >= hi * pd:
            fixed += hi
        else:
            free_weight += w
    assert free_weight > 0  # the sum rises on the piece, so some household on it is not bound
    return total - fixed, free_weight


def _compare_ratios(a: tuple[int, int], b: tuple[int, int]) -> int:
    return (a[0] * b[1] > b[0] * a[1]) - (a[0] * b[1] < b[0] * a[1])


def _line(
    c: Claim,
    amount: int,
    *,
    quota: tuple[int, int] | None = None,
    remainder: int = 0,
    extra: int = 0,
    rank: int | None = None,
    bound: Bound | None = None,
    excluded: str | None = None,
) -> Line:
    """A line; without `quota` the amount is exact (a bound or an exclusion): quota = amount / 1, no remainder."""
    num, den = quota if quota is not None else (amount, 1)
    return Line(
        c.key, c.weight, amount, num, den, amount - extra, remainder, extra, rank, bound, excluded,
        c.basis, c.coefficient_num, c.coefficient_den,
    )  # fmt: skip


def _sorted(lines: Mapping[str, Line]) -> tuple[Line, ...]:
    return tuple(lines[k] for k in sorted(lines))


@dataclass(frozen=True)
class AssetPart:
    """What one asset's allocation gives a household."""

    asset_id: str
    amount_fen: int


@dataclass(frozen=True)
class HouseholdTotal:
    """One payment per household for a round: the sum over the round's assets, with the parts (by asset id)."""

    key: str
    amount_fen: int
    parts: tuple[AssetPart, ...]


def combine_lines(per_asset: Mapping[str, Allocation]) -> list[HouseholdTotal]:
    """One line per household (sorted by code) over all the round's assets, so a household is paid once.

    Guarantee: Σ amount_fen over the result == Σ over the allocations of their household lines (residues are not
    household money). A household that has lines but 0 fen in total is kept (the payout skips it; the notice shows
    it)."""
    parts: dict[str, list[AssetPart]] = {}
    for asset_id in sorted(per_asset):
        for line in per_asset[asset_id].lines:
            parts.setdefault(line.key, []).append(AssetPart(asset_id, line.amount_fen))
    return [HouseholdTotal(k, sum(p.amount_fen for p in parts[k]), tuple(parts[k])) for k in sorted(parts)]
