"""Stage transitions of the project lifecycle (DOMAIN.md §2–3), as pure functions."""

from __future__ import annotations

from domain.enums import Decision, Role, Stage, TaskKind

# The three reviews (plus the expert panel between township and county), in order.
APPROVAL_CHAIN: tuple[Stage, ...] = (
    Stage.TOWNSHIP_REVIEW,
    Stage.EXPERT_REVIEW,
    Stage.COUNTY_APPROVAL,
    Stage.CITY_FILING,
)
REVIEW_CHAIN: dict[Stage, Stage] = {
    Stage.TOWNSHIP_REVIEW: Stage.EXPERT_REVIEW,
    Stage.EXPERT_REVIEW: Stage.COUNTY_APPROVAL,
    Stage.COUNTY_APPROVAL: Stage.CITY_FILING,
    Stage.CITY_FILING: Stage.APPROVAL_NOTICE,
}
REVIEW_TASK: dict[Stage, tuple[TaskKind, Role]] = {
    Stage.TOWNSHIP_REVIEW: (TaskKind.TOWNSHIP_REVIEW, Role.TOWNSHIP_REVIEWER),
    Stage.COUNTY_APPROVAL: (TaskKind.COUNTY_APPROVAL, Role.COUNTY_REVIEWER),
    Stage.CITY_FILING: (TaskKind.CITY_FILING, Role.CITY_REVIEWER),
}
# Who hears of an overdue task at twice its limit: the next level up.
ESCALATE_TO: dict[str, tuple[Role, str]] = {
    TaskKind.TOWNSHIP_REVIEW: (Role.COUNTY_REVIEWER, "county"),
    TaskKind.EXPERT_REVIEW: (Role.COUNTY_REVIEWER, "county"),
    TaskKind.EXTEND_EXPERT_LIBRARY: (Role.CITY_REVIEWER, "city"),
    TaskKind.COUNTY_APPROVAL: (Role.CITY_REVIEWER, "city"),
    TaskKind.CITY_FILING: (Role.ADMIN, "city"),
    TaskKind.OBJECTION: (Role.CITY_REVIEWER, "city"),
    TaskKind.REVISION: (Role.TOWNSHIP_REVIEWER, "township"),
}
REVIEW_DECISIONS: tuple[Decision, ...] = (Decision.APPROVE, Decision.RETURN, Decision.REJECT)
EXPERT_DECISIONS: tuple[Decision, ...] = (Decision.SCORE, Decision.DECLINE)
OBJECTION_DECISIONS: tuple[Decision, ...] = (Decision.UPHOLD, Decision.DISMISS)
OPINION_REQUIRED: frozenset[Decision] = frozenset(
    {Decision.RETURN, Decision.REJECT, Decision.DECLINE, Decision.DISMISS}
)


def stage_after(stage: Stage, decision: Decision) -> Stage:
    """Where a review decision sends the project."""
    if decision is Decision.REJECT:
        return Stage.REJECTED
    if decision is Decision.RETURN:
        return Stage.RETURNED
    return REVIEW_CHAIN[stage]
