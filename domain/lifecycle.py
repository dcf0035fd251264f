"""Stage transitions of the project lifecycle and the approval chain (DOMAIN.md §2–3), as pure functions."""

from __future__ import annotations

from domain.enums import Decision, RegionLevel, Role, Stage, TaskKind

REVIEW_CHAIN: dict[Stage, Stage] = {
    Stage.TOWNSHIP_REVIEW: Stage.EXPERT_REVIEW,
    Stage.EXPERT_REVIEW: Stage.COUNTY_APPROVAL,
    Stage.COUNTY_APPROVAL: Stage.CITY_FILING,
    Stage.CITY_FILING: Stage.APPROVAL_NOTICE,
}
# Which task kind and role decide a reviewer step, and at which region level the task sits.
REVIEW_TASK: dict[Stage, tuple[TaskKind, Role]] = {
    Stage.TOWNSHIP_REVIEW: (TaskKind.TOWNSHIP_REVIEW, Role.TOWNSHIP_REVIEWER),
    Stage.COUNTY_APPROVAL: (TaskKind.COUNTY_APPROVAL, Role.COUNTY_REVIEWER),
    Stage.CITY_FILING: (TaskKind.CITY_FILING, Role.CITY_REVIEWER),
}
# Who hears of an overdue task at twice its limit: the next level up (role, region level of the project).
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
LIBRARY_DECISIONS: tuple[Decision, ...] = (Decision.DONE,)
REVISION_DECISIONS: tuple[Decision, ...] = (Decision.RESUBMIT,)
ACCEPTANCE_DECISIONS: tuple[Decision, ...] = (Decision.ACCEPT, Decision.RECTIFY)
REGISTRATION_DECISIONS: tuple[Decision, ...] = (Decision.REGISTER,)
CONFIRM_DECISIONS: tuple[Decision, ...] = (Decision.CONFIRM, Decision.RETURN)
OPINION_REQUIRED: frozenset[Decision] = frozenset(
    {Decision.RETURN, Decision.REJECT, Decision.DECLINE, Decision.DISMISS, Decision.UPHOLD}
)
# Steps that are not a "level" of the approval: deciding one of them does not bar a person from a level.
NOT_A_LEVEL: frozenset[str] = frozenset(
    {
        TaskKind.OBJECTION,
        TaskKind.EXTEND_EXPERT_LIBRARY,
        TaskKind.REVISION,
        TaskKind.ACCEPTANCE,
        TaskKind.ASSET_REGISTRATION,
        TaskKind.CONFIRM_REGISTRATION,
        TaskKind.PLATFORM_REJECTED,
        TaskKind.PROGRESS_REPORT,
    }
)
NOTICE_LEVELS: tuple[str, ...] = ("village", "township", "county")


def stage_after(stage: Stage, decision: Decision) -> Stage:
    """Where a review decision sends the project."""
    if decision is Decision.REJECT:
        return Stage.REJECTED
    if decision is Decision.RETURN:
        return Stage.RETURNED
    return REVIEW_CHAIN[stage]


def revision_limit_reached(revisions_done: int, limit: int) -> bool:
    """True when a further return would exceed the configured number of revision rounds."""
    return revisions_done >= limit


def decision_payload_help(kind: str) -> dict[str, str]:
    """What a decision on this kind of task must carry (shown in the inbox)."""
    common = {"opinion": "审核意见 / opinion (required to return, reject, decline, uphold or dismiss)"}
    if kind == TaskKind.EXPERT_REVIEW:
        return {
            **common,
            "decision": "score | decline",
            "scores": "operating_model 0–25, revenue_estimate 0–25, benefit_linkage 0–30, compliance_risk 0–20",
            "veto": "illegal_land_use, not_agriculture_based, village_borrowing, duplicate_funding, other",
            "veto_other": "text, required when veto contains other",
        }
    if kind == TaskKind.OBJECTION:
        return {**common, "decision": "uphold | dismiss"}
    if kind == TaskKind.EXTEND_EXPERT_LIBRARY:
        return {"decision": "done (after adding experts to the library)", "opinion": "optional note"}
    if kind == TaskKind.REVISION:
        return {"application": "PUT /api/v1/projects/{code}/application with the revised application"}
    if kind == TaskKind.ACCEPTANCE:
        return {**common, "decision": "accept | rectify", "items": "what to rectify (required to rectify)"}
    if kind == TaskKind.ASSET_REGISTRATION:
        return {"assets": "POST /api/v1/projects/{code}/asset-registration with the assets and their four rights"}
    if kind == TaskKind.CONFIRM_REGISTRATION:
        return {**common, "decision": "confirm | return"}
    if kind == TaskKind.PLATFORM_REJECTED:
        return {"decision": "retry (after correcting the asset with the platform)", "opinion": "optional note"}
    if kind == TaskKind.PROGRESS_REPORT:
        return {"report": "POST /api/v1/projects/{code}/progress-reports for the week"}
    if kind in (TaskKind.CONTRACT_REVIEW, TaskKind.CONTRACT_APPROVAL):
        return {
            **common,
            "decision": "approve | return | reject (the proposed contract against the one in force, in details)",
        }
    if kind == TaskKind.RENEW_CONTRACT:
        return {
            "renewal": "POST /api/v1/assets/{asset_id}/contracts (kind renewal or new_operator) — the task closes",
            "decision": "done (with a note, e.g. the asset is to be disposed of)",
        }
    if kind == TaskKind.ARREARS_REMINDER:
        return {
            "payment": "POST /api/v1/assets/{asset_id}/receivables/{id}/payments — the task closes once paid",
            "decision": "done (with a note on the reminder given)",
        }
    if kind == TaskKind.PUT_BACK_TO_USE:
        return {
            "status": "POST /api/v1/assets/{asset_id}/status (leased or in_use), or a new contract — the task closes",
            "decision": "done (with a note)",
        }
    if kind == TaskKind.INSPECTION:
        return {
            "inspection": "POST /api/v1/assets/{asset_id}/inspections with photos and the condition — the task closes",
            "decision": "done (with a note)",
        }
    return {**common, "decision": "approve | return | reject", "attachments": "optional sha256 list"}


OVERSEERS = frozenset({Role.SUPERVISOR, Role.ADMIN})
"""Roles that oversee a region's projects: they read every task and, at county level or as admin, intervene."""


def may_intervene(role: str, region_level: str) -> bool:
    """A county supervisor or an admin may reassign a task or retry a blocked step (one home for the rule)."""
    return role == Role.ADMIN or (role == Role.SUPERVISOR and region_level == RegionLevel.COUNTY)
