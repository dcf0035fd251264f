"""Rules an application must meet to enter the project library (DOMAIN.md §1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

NORMAL_YIELD_PERCENT = (5.0, 10.0)
YIELD_TOLERANCE_POINTS = 0.5


@dataclass(frozen=True)
class Violation:
    """One broken rule: the field (dotted path) and what the rule says."""

    field: str
    rule: str
    message: str


@dataclass(frozen=True)
class FundLine:
    """One line of the budget by fund source."""

    source: str
    amount_fen: int


@dataclass(frozen=True)
class ApplicationFacts:
    """The numbers and dates of an application that the cross-field rules look at."""

    total_budget_fen: int
    fund_sources: list[FundLine]
    planned_start: date
    planned_end: date
    expected_annual_revenue_fen: int
    expected_yield_percent: float
    household_codes: list[str] = field(default_factory=list)
    performance_targets: int = 0


def validate_application(facts: ApplicationFacts) -> list[Violation]:
    """Every cross-field rule the application breaks (empty when it may enter the library)."""
    out: list[Violation] = []
    total = sum(line.amount_fen for line in facts.fund_sources)
    if total != facts.total_budget_fen:
        out.append(
            Violation(
                "budget.sources",
                "sum_equals_total",
                f"fund sources sum to {total} fen but the total budget is {facts.total_budget_fen} fen",
            )
        )
    seen: set[str] = set()
    for i, line in enumerate(facts.fund_sources):
        if line.source in seen:
            out.append(Violation(f"budget.sources[{i}].source", "unique", f"fund source {line.source} is listed twice"))
        seen.add(line.source)
    if facts.planned_end <= facts.planned_start:
        out.append(Violation("planned_end", "after_start", "the planned end must be after the planned start"))
    if facts.total_budget_fen > 0:
        actual = facts.expected_annual_revenue_fen * 100 / facts.total_budget_fen
        if abs(actual - facts.expected_yield_percent) > YIELD_TOLERANCE_POINTS:
            out.append(
                Violation(
                    "revenue.expected_yield_percent",
                    "matches_revenue",
                    f"the stated yield {facts.expected_yield_percent:.2f}% does not match annual revenue / "
                    f"budget = {actual:.2f}%",
                )
            )
    if not facts.household_codes:
        out.append(Violation("benefit.household_codes", "not_empty", "a project must name its beneficiary households"))
    if len(set(facts.household_codes)) != len(facts.household_codes):
        out.append(Violation("benefit.household_codes", "unique", "a household is listed more than once"))
    if facts.performance_targets < 1:
        out.append(
            Violation(
                "performance_targets",
                "not_empty",
                "a project without performance targets cannot enter the library",
            )
        )
    return out


def yield_is_unusual(yield_percent: float) -> bool:
    """A yield outside 5–10 % a year deserves an expert's attention."""
    low, high = NORMAL_YIELD_PERCENT
    return not low <= yield_percent <= high


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key in sorted(value):
            out.update(_flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def application_diff(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Field-by-field changes between two versions of an application (nested fields as dotted paths)."""
    old, new = _flatten(before), _flatten(after)
    return [
        {"field": key, "before": old.get(key), "after": new.get(key)}
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]
