"""Stage transitions of the project lifecycle (DOMAIN.md §2), as pure functions."""

from __future__ import annotations

from domain.enums import Decision, Role, Stage, TaskKind

REVIEW_CHAIN: dict[Stage, Stage] = {
    Stage.TOWNSHIP_REVIEW: Stage.EXPERT_REVIEW,
}
REVIEW_TASK: dict[Stage, tuple[TaskKind, Role]] = {
    Stage.TOWNSHIP_REVIEW: (TaskKind.TOWNSHIP_REVIEW, Role.TOWNSHIP_REVIEWER),
}
REVIEW_DECISIONS: tuple[Decision, ...] = (Decision.APPROVE, Decision.RETURN, Decision.REJECT)
OPINION_REQUIRED: frozenset[Decision] = frozenset({Decision.RETURN, Decision.REJECT})


def stage_after(stage: Stage, decision: Decision) -> Stage:
    """Where a review decision sends the project."""
    if decision is Decision.REJECT:
        return Stage.REJECTED
    if decision is Decision.RETURN:
        return Stage.RETURNED
    return REVIEW_CHAIN[stage]
