"""Workflow and activity payloads: frozen dataclasses; new fields get defaults so old histories decode.

No personal data (ID numbers, bank accounts) ever goes in here: these land in workflow histories.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class LifecycleConfig:
    """The configurable numbers a project's workflow runs with, fixed at its start."""

    review_working_days: int = 5
    revision_limit: int = 3
    time_zone: str = "Asia/Shanghai"


@dataclass(frozen=True)
class Actor:
    """Who acts: the authenticated user as the API saw them."""

    user_id: int
    username: str
    role: str
    region_code: str
    region_level: str


@dataclass(frozen=True)
class ProjectStart:
    """Input of ProjectLifecycleWorkflow."""

    code: str
    applicant_id: int
    project_type: str
    village_code: str
    township_code: str
    county_code: str
    city_code: str
    config: LifecycleConfig = field(default_factory=LifecycleConfig)


@dataclass(frozen=True)
class OpenTaskInput:
    """Record a human step in the inbox (idempotent by task_id)."""

    task_id: str
    project_code: str
    kind: str
    stage: str
    candidate_role: str
    region_code: str
    allowed_decisions: list[str]
    opened_at: datetime
    working_days: int
    time_zone: str
    round: int = 1


@dataclass(frozen=True)
class OpenedTask:
    """An inbox task as the workflow tracks it."""

    task_id: str
    kind: str
    stage: str
    candidate_role: str
    region_code: str
    allowed_decisions: list[str]
    due_at: datetime
    decided_by: int | None = None


@dataclass(frozen=True)
class SubmitDecisionInput:
    """A reviewer's decision on a task, sent as an Update."""

    task_id: str
    decision: str
    opinion: str
    actor: Actor


@dataclass(frozen=True)
class RecordDecisionInput:
    """Persist a decision, close its task and move the stage, in one transaction."""

    task_id: str
    project_code: str
    decision: str
    opinion: str
    actor: Actor
    from_stage: str
    to_stage: str
    decided_at: datetime


@dataclass(frozen=True)
class DecisionResult:
    """What the decider learns: the decision stands and where the project is now."""

    task_id: str
    decision: str
    stage: str


@dataclass(frozen=True)
class StageChange:
    """Move the project's stage in the read model and audit it."""

    project_code: str
    from_stage: str
    to_stage: str
    at: datetime
    reason: str = ""


@dataclass(frozen=True)
class ProjectStatus:
    """Query result: the workflow's own view of the project."""

    code: str
    stage: str
    open_task: OpenedTask | None
    deciders: dict[str, int]
    round: int
