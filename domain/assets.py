"""Asset registration (确权登记) rules of DOMAIN.md §5, as pure functions. Shares are integer basis points
(10000 = 100 %) so that "sums to exactly 100" is exact."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

FULL_SHARE_BP = 10_000


class AssetClass(StrEnum):
    """经营性 / 公益性 / 到户类."""

    OPERATING = "operating"
    PUBLIC_WELFARE = "public_welfare"
    HOUSEHOLD = "household"


class AssetStatus(StrEnum):
    """Where an asset is in its use."""

    IN_USE = "in_use"
    IDLE = "idle"
    LEASED = "leased"
    DAMAGED = "damaged"
    DISPOSED = "disposed"


class OperatorType(StrEnum):
    """Who runs an operating asset (经营主体)."""

    COOPERATIVE = "cooperative"
    COMPANY = "company"
    LARGE_FARMER = "large_farmer"
    VILLAGE_COLLECTIVE = "village_collective"


@dataclass(frozen=True)
class OwnerShare:
    """One village collective's part of an asset."""

    village_code: str
    share_bp: int


@dataclass(frozen=True)
class IncomeShare:
    """One beneficiary household's quantified shares (折股量化)."""

    household_code: str
    shares: int = 1


@dataclass(frozen=True)
class AssetFacts:
    """An asset as the registration rules see it."""

    name: str
    asset_class: str
    value_fen: int
    owners: list[OwnerShare] = field(default_factory=list)
    household_code: str | None = None
    has_operator: bool = False
    has_contract: bool = False
    contract_start: date | None = None
    income: list[IncomeShare] = field(default_factory=list)
    has_supervision: bool = False


@dataclass(frozen=True)
class Violation:
    """A broken rule: which field, which rule, and a message a person understands."""

    field: str
    rule: str
    message: str


def contract_end(start: date, term_years: int) -> date:
    """The last day of a contract of `term_years` years from `start`: the day before the start's anniversary
    (2026-12-01 for 10 years ends 2036-11-30). A term from 29 February ends on 28 February when the final
    year has no 29th (the anniversary is then 1 March), and on the 28th when it has one."""
    year = start.year + term_years
    try:
        anniversary = start.replace(year=year)
    except ValueError:  # 29 February in a common year: the next term would begin on 1 March
        anniversary = date(year, 3, 1)
    return anniversary - timedelta(days=1)


def registration_violations(
    assets: Sequence[AssetFacts], *, final_cost_fen: int, accepted_on: date | None = None
) -> list[Violation]:
    """Every rule a registration breaks: values sum to the accepted cost, shares to exactly 100 %, rights present,
    no operating contract starts before the acceptance (`accepted_on`, the day the county accepted the works)."""
    out: list[Violation] = []
    if not assets:
        return [Violation("assets", "not_empty", "a project produces at least one asset")]
    total = sum(a.value_fen for a in assets)
    if total != final_cost_fen:
        out.append(
            Violation(
                "assets",
                "values_sum_to_final_cost",
                f"asset values sum to {total} fen; the accepted final cost is {final_cost_fen} fen",
            )
        )
    classes = {c.value for c in AssetClass}
    for i, a in enumerate(assets):
        at = f"assets[{i}]"
        if a.asset_class not in classes:
            out.append(Violation(f"{at}.asset_class", "allowed", f"asset class is one of {', '.join(sorted(classes))}"))
            continue
        if a.value_fen <= 0:
            out.append(Violation(f"{at}.value_fen", "positive", "an asset has a value above zero"))
        if a.asset_class == AssetClass.HOUSEHOLD:
            if not a.household_code:
                out.append(Violation(f"{at}.household_code", "required", "a household asset names its household"))
            if a.owners:
                out.append(
                    Violation(f"{at}.owners", "empty", "a household asset belongs to its household, not a village")
                )
            continue
        if a.household_code:
            out.append(Violation(f"{at}.household_code", "empty", "only a household asset names a household"))
        if not a.owners:
            out.append(Violation(f"{at}.owners", "not_empty", "name the owning village collective(s)"))
        else:
            villages = [o.village_code for o in a.owners]
            if len(set(villages)) != len(villages):
                out.append(Violation(f"{at}.owners", "unique", "each village owns one share"))
            if any(o.share_bp <= 0 for o in a.owners):
                out.append(Violation(f"{at}.owners", "positive", "every share is above zero"))
            if sum(o.share_bp for o in a.owners) != FULL_SHARE_BP:
                out.append(Violation(f"{at}.owners", "sum_100", "ownership shares sum to exactly 100 %"))
        if a.asset_class == AssetClass.OPERATING:
            if not a.has_operator:
                out.append(Violation(f"{at}.operator", "required", "an operating asset names its operator (经营权)"))
            if not a.has_contract:
                out.append(Violation(f"{at}.contract", "required", "an operating asset has its contract (经营权)"))
            if not a.income:
                out.append(Violation(f"{at}.income", "not_empty", "name the beneficiary households (收益权)"))
            if not a.has_supervision:
                out.append(Violation(f"{at}.supervision", "required", "name the supervising units (监督权)"))
        if accepted_on is not None and a.contract_start is not None and a.contract_start < accepted_on:
            out.append(
                Violation(
                    f"{at}.contract.start",
                    "after_acceptance",
                    f"an operating contract starts on or after the acceptance ({accepted_on.isoformat()})",
                )
            )
        codes = [s.household_code for s in a.income]
        if len(set(codes)) != len(codes):
            out.append(Violation(f"{at}.income", "unique", "each household appears once"))
        if any(s.shares <= 0 for s in a.income):
            out.append(Violation(f"{at}.income", "positive", "every household holds at least one share"))
    return out
