"""Who may act on a task, and when: the one home of the rules every workflow's Update validators call.

Pure functions over the task, the actor and the project's facts; each answers a `Refusal` (the type the API
maps to 403/409/422 and a readable message) or None. Workflows raise the refusal; routes never repeat it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from domain.enums import Decision, RegionLevel, Role, TaskKind
from domain.experts import score_problem
from domain.failures import DecisionRefused
from domain.lifecycle import NOT_A_LEVEL, OPINION_REQUIRED, may_intervene
from domain.operation import MANAGER_TASKS
from domain.payloads import Actor, ClaimInput, OpenedTask, ProjectStart, ReassignInput, SubmitDecisionInput
from domain.regions import covers


@dataclass(frozen=True)
class Refusal:
    """Why an Update is refused: a DecisionRefused type and a message for the person who sent it."""

    type: str
    message: str


# Tasks completed by their own form (an Update of their own), never by a decision.
FORM_TASKS = frozenset({TaskKind.REVISION, TaskKind.ASSET_REGISTRATION})


def duties(
    task: OpenedTask, actor: Actor, project: ProjectStart, deciders: Mapping[str, Sequence[int]]
) -> Refusal | None:
    """Separation of duties: the applicant never decides their own project, an expert never scores a project
    of their township or organisation, and one person decides one level of a project."""
    if task.kind == TaskKind.REVISION or task.kind in MANAGER_TASKS:
        return None  # the manager's own steps: a revision, a warning's task in operation
    if actor.user_id == project.applicant_id:
        return Refusal(DecisionRefused.SEPARATION_OF_DUTIES, "the applicant may not decide their own project")
    if task.kind == TaskKind.EXPERT_REVIEW:
        if actor.region_code.startswith(project.township_code):
            return Refusal(DecisionRefused.SEPARATION_OF_DUTIES, "an expert may not score a project of their township")
        org, entity = actor.organisation.strip(), project.implementing_entity.strip()
        if org and entity and (org in entity or entity in org):
            return Refusal(
                DecisionRefused.SEPARATION_OF_DUTIES, "an expert may not score a project of their own organisation"
            )
    if task.kind in NOT_A_LEVEL:
        return None
    for stage, users in deciders.items():
        if actor.user_id in users and stage != task.stage:
            return Refusal(
                DecisionRefused.SEPARATION_OF_DUTIES,
                f"you already decided the {stage} step of this project; one person decides one level",
            )
    return None


def eligible(
    task: OpenedTask, actor: Actor, project: ProjectStart, deciders: Mapping[str, Sequence[int]]
) -> Refusal | None:
    """The task's role, its assignee or region, and separation of duties."""
    if actor.role != task.candidate_role:
        return Refusal(DecisionRefused.NOT_ELIGIBLE, f"only a {task.candidate_role} may act on this task")
    if task.assignee_id is not None:
        if actor.user_id != task.assignee_id:
            return Refusal(DecisionRefused.NOT_ELIGIBLE, "this task is assigned to another user")
    elif not covers(actor.region_code, RegionLevel(actor.region_level), task.region_code):
        return Refusal(DecisionRefused.NOT_ELIGIBLE, "this task belongs to a region outside yours")
    return duties(task, actor, project, deciders)


def decision_refusal(
    task: OpenedTask, inp: SubmitDecisionInput, project: ProjectStart, deciders: Mapping[str, Sequence[int]]
) -> Refusal | None:
    """A decision on an open task: allowed for its kind, carrying what it must, by someone who may."""
    if task.kind in FORM_TASKS:
        return Refusal(DecisionRefused.INVALID_DECISION, f"a {task.kind} task is completed by its own form")
    if inp.decision not in task.allowed_decisions:
        return Refusal(
            DecisionRefused.INVALID_DECISION, f"decision must be one of: {', '.join(task.allowed_decisions)}"
        )
    if Decision(inp.decision) in OPINION_REQUIRED and not inp.opinion.strip():
        return Refusal(DecisionRefused.OPINION_REQUIRED, f"an opinion is required to {inp.decision}")
    if inp.decision == Decision.RECTIFY and not [i for i in inp.items if i.strip()]:
        return Refusal(DecisionRefused.ITEMS_REQUIRED, "list what must be rectified")
    if inp.decision == Decision.SCORE:
        problem = score_problem(inp.scores, inp.veto, inp.veto_other)
        if problem is not None:
            return Refusal(DecisionRefused.INVALID_SCORES, f"{problem[0]}: {problem[1]}")
    if task.claimed_by is not None and task.claimed_by != inp.actor.user_id:
        return Refusal(DecisionRefused.TASK_CLAIMED, "another user has claimed this task")
    return eligible(task, inp.actor, project, deciders)


def claim_refusal(
    task: OpenedTask, inp: ClaimInput, project: ProjectStart, deciders: Mapping[str, Sequence[int]]
) -> Refusal | None:
    """Claim a group task nobody else holds (if you may decide it), or release the one you hold."""
    if inp.claim:
        if task.claimed_by is not None and task.claimed_by != inp.actor.user_id:
            return Refusal(DecisionRefused.TASK_CLAIMED, "another user has claimed this task")
        return eligible(task, inp.actor, project, deciders)
    if task.claimed_by != inp.actor.user_id:
        return Refusal(DecisionRefused.NOT_CLAIMED, "you have not claimed this task; there is nothing to release")
    return None


def intervention_refusal(actor: Actor, project: ProjectStart, what: str) -> Refusal | None:
    """A county supervisor or an admin of the project's region reassigns a task or retries a blocked step."""
    if not may_intervene(actor.role, actor.region_level):
        return Refusal(DecisionRefused.NOT_ELIGIBLE, f"only a county supervisor or an admin may {what}")
    if not covers(actor.region_code, RegionLevel(actor.region_level), project.village_code):
        return Refusal(DecisionRefused.NOT_ELIGIBLE, "this project lies outside your region")
    return None


def reassign_refusal(
    task: OpenedTask,
    inp: ReassignInput,
    project: ProjectStart,
    deciders: Mapping[str, Sequence[int]],
    panel: Sequence[int] = (),
) -> Refusal | None:
    """Reassign to a user who could take the task: an expert seat to a free expert without a declared
    conflict, any other task to a user of its role and region; `panel` are the users on the expert panel."""
    if refusal := intervention_refusal(inp.actor, project, "reassign a task"):
        return refusal
    if not inp.reason.strip():
        return Refusal(DecisionRefused.OPINION_REQUIRED, "a reassignment needs a reason")
    if task.kind == TaskKind.EXPERT_REVIEW:
        if inp.to.role != Role.EXPERT:
            return Refusal(DecisionRefused.NOT_ELIGIBLE, "an expert task goes to another expert")
        if inp.to.user_id in panel:
            return Refusal(DecisionRefused.NOT_ELIGIBLE, "that expert already sits on this panel")
        entity = project.implementing_entity.strip()
        declared = [o.strip() for o in inp.conflict_organisations if o.strip()]
        if project.township_code in inp.conflict_townships or (
            entity and any(o in entity or entity in o for o in declared)
        ):
            return Refusal(DecisionRefused.SEPARATION_OF_DUTIES, "that expert declared a conflict with this project")
        return duties(task, inp.to, project, deciders)
    refusal = eligible(replace(task, assignee_id=None), inp.to, project, deciders)
    if refusal is not None and refusal.type == DecisionRefused.NOT_ELIGIBLE:
        # the refusal concerns the user the task would go to, not the one reassigning it
        return Refusal(
            refusal.type,
            f"{inp.to.username} cannot take this task: it needs a {task.candidate_role} "
            f"whose region covers {task.region_code}",
        )
    return refusal


def applicant_task_refusal(
    task: OpenedTask, actor: Actor, project: ProjectStart, kind: TaskKind, what: str
) -> Refusal | None:
    """The applicant's own open task of `kind` (a revision, the asset registration), or why not."""
    if task.kind != kind:
        return Refusal(DecisionRefused.WRONG_STAGE, f"the project is not awaiting {what}")
    if actor.user_id != project.applicant_id:
        return Refusal(DecisionRefused.NOT_ELIGIBLE, f"only the applicant may submit {what}")
    return None


def objection_refusal(text: str, actor: Actor, project: ProjectStart) -> Refusal | None:
    """An objection during an open notice needs a text and comes from a user of the project's region."""
    if not text.strip():
        return Refusal(DecisionRefused.OPINION_REQUIRED, "an objection needs a text")
    if not covers(actor.region_code, RegionLevel(actor.region_level), project.village_code) and not covers(
        project.village_code, RegionLevel.VILLAGE, actor.region_code
    ):
        return Refusal(DecisionRefused.NOT_ELIGIBLE, "only users of the project's region may object")
    return None
