"""Who may read and act on a task: one rule for the inbox, decisions and the attachments linked to tasks."""

from __future__ import annotations

from api.deps import Principal
from db.models import Project, Task
from domain.enums import TaskKind
from domain.lifecycle import OVERSEERS


def may_decide(user: Principal, task: Task) -> bool:
    """The caller's role and region (or assignment) let them act on this task."""
    if user.role.value != task.candidate_role:
        return False
    if task.assignee_id is not None:
        return task.assignee_id == user.id
    return user.covers(task.region_code)


def may_see(user: Principal, task: Task, project: Project) -> bool:
    """Who may read a task: those who may decide it, overseers of its region, and the project's applicant."""
    if may_decide(user, task) or user.id == project.applicant_id:
        return True
    if user.role.value == task.candidate_role and task.kind != TaskKind.EXPERT_REVIEW and user.covers(task.region_code):
        return True  # a peer of the same role and region reads a task assigned to a colleague
    return user.role in OVERSEERS and user.covers(project.village_code)
