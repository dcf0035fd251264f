"""The expert library draw and the panel's verdict (DOMAIN.md §2), as pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

SCORE_LIMITS: dict[str, int] = {
    "operating_model": 25,
    "revenue_estimate": 25,
    "benefit_linkage": 30,
    "compliance_risk": 20,
}
VETO_ITEMS: tuple[str, ...] = (
    "illegal_land_use",
    "not_agriculture_based",
    "village_borrowing",
    "duplicate_funding",
    "other",
)


@dataclass(frozen=True)
class ExpertCandidate:
    """An expert of the library as the draw sees them."""

    expert_id: int
    user_id: int | None
    name: str
    specialties: list[str]
    region_code: str
    affiliation: str
    conflict_townships: list[str] = field(default_factory=list)
    conflict_organisations: list[str] = field(default_factory=list)
    active: bool = True


@dataclass(frozen=True)
class Exclusion:
    """An expert left out of the pool, and why."""

    expert_id: int
    name: str
    reason: str


@dataclass(frozen=True)
class Pool:
    """The experts a panel may be drawn from: matching specialty first, then the rest (widening)."""

    matching: list[ExpertCandidate]
    others: list[ExpertCandidate]
    exclusions: list[Exclusion]


def _same_org(a: str, b: str) -> bool:
    a, b = a.strip(), b.strip()
    return bool(a) and bool(b) and (a == b or a in b or b in a)


def screen(
    candidates: Sequence[ExpertCandidate],
    *,
    project_type: str,
    township_code: str,
    implementing_entity: str,
    already_drawn: Sequence[int] = (),
    excluded_users: Sequence[int] = (),
    declined: Sequence[int] = (),
) -> Pool:
    """Split the library into eligible (matching / other specialty) and excluded, with a reason each."""
    matching: list[ExpertCandidate] = []
    others: list[ExpertCandidate] = []
    exclusions: list[Exclusion] = []
    for c in sorted(candidates, key=lambda c: c.expert_id):
        reason = None
        if not c.active:
            reason = "inactive"
        elif c.user_id is None:
            reason = "has no login account (an admin gives one: POST /api/v1/users with expert_id)"
        elif c.expert_id in declined:
            reason = "declined"  # declined a seat of this panel: not drawn again, and said so
        elif c.expert_id in already_drawn:
            reason = "already drawn for this panel"
        elif c.user_id in excluded_users:
            reason = "already decided another level of this project"
        elif c.region_code.startswith(township_code):
            reason = "from the project's own township"
        elif township_code in c.conflict_townships:
            reason = "declared a conflict with the project's township"
        elif _same_org(c.affiliation, implementing_entity):
            reason = "affiliated with the implementing entity"
        elif any(_same_org(o, implementing_entity) for o in c.conflict_organisations):
            reason = "declared a conflict with the implementing entity"
        if reason:
            exclusions.append(Exclusion(c.expert_id, c.name, reason))
        elif project_type in c.specialties:
            matching.append(c)
        else:
            others.append(c)
    return Pool(matching, others, exclusions)


@dataclass(frozen=True)
class ExpertScore:
    """One expert's appraisal."""

    expert_id: int
    scores: dict[str, int]
    vetoes: list[str]
    opinion: str

    @property
    def total(self) -> int:
        """The four scores added up (0–100)."""
        return sum(self.scores.values())


def score_problem(scores: dict[str, int], vetoes: Sequence[str], veto_other: str) -> tuple[str, str] | None:
    """(field, message) of the first broken scoring rule, or None."""
    if set(scores) != set(SCORE_LIMITS):
        return "scores", f"give exactly these scores: {', '.join(SCORE_LIMITS)}"
    for name, limit in SCORE_LIMITS.items():
        if not 0 <= scores[name] <= limit:
            return f"scores.{name}", f"{name} is scored 0–{limit}"
    unknown = [v for v in vetoes if v not in VETO_ITEMS]
    if unknown:
        return "veto", f"unknown veto item(s) {', '.join(unknown)}; allowed: {', '.join(VETO_ITEMS)}"
    if "other" in vetoes and not veto_other.strip():
        return "veto_other", "describe the 'other' veto"
    return None


@dataclass(frozen=True)
class PanelVerdict:
    """Whether the panel passes, and why."""

    passed: bool
    average_total: float
    vetoes: list[str]
    reason: str


def panel_verdict(scores: Sequence[ExpertScore], pass_mark: int) -> PanelVerdict:
    """Pass at an average total ≥ pass_mark with no veto (the comparison is exact, in integers)."""
    vetoes = sorted({v for s in scores for v in s.vetoes})
    total = sum(s.total for s in scores)
    average = total / len(scores) if scores else 0.0
    if vetoes:
        return PanelVerdict(False, average, vetoes, f"one-vote veto: {', '.join(vetoes)}")
    if not scores or total < pass_mark * len(scores):
        return PanelVerdict(False, average, [], f"average score {average:.1f} is below the pass mark {pass_mark}")
    return PanelVerdict(True, average, [], f"average score {average:.1f} ≥ {pass_mark}, no veto")
