"""Workflow and activity payloads: frozen dataclasses; new fields get defaults so old histories decode.

No personal data (ID numbers, bank accounts) ever goes in here: these land in workflow histories.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class LifecycleConfig:
    """The configurable numbers a project's workflow runs with, fixed at its start."""

    review_working_days: int = 5
    revision_limit: int = 3
    time_zone: str = "Asia/Shanghai"
    panel_size: int = 3
    pass_mark: int = 60
    notice_days: float = 10
    yellow_behind_points: int = 10
    red_behind_points: int = 30
    not_started_yellow_months: int = 1
    not_started_red_months: int = 3
    # how long a store inside an Update may take (retries included) before the caller is answered 503
    store_budget_seconds: float = 20.0


@dataclass(frozen=True)
class Actor:
    """Who acts: the authenticated user as the API saw them."""

    user_id: int
    username: str
    role: str
    region_code: str
    region_level: str
    organisation: str = ""


@dataclass(frozen=True)
class ProjectStart:
    """A project as its workflows know it (no personal data): carried in every phase workflow's input."""

    code: str
    applicant_id: int
    project_type: str
    village_code: str
    township_code: str
    county_code: str
    city_code: str
    config: LifecycleConfig = field(default_factory=LifecycleConfig)
    implementing_entity: str = ""


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
    assignee_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


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
    assignee_id: int | None = None
    escalate_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)
    claimed_by: int | None = None


@dataclass(frozen=True)
class SubmitDecisionInput:
    """A reviewer's decision on a task, sent as an Update."""

    task_id: str
    decision: str
    opinion: str
    actor: Actor
    scores: dict[str, int] = field(default_factory=dict)
    veto: list[str] = field(default_factory=list)
    veto_other: str = ""
    attachments: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)


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
    kind: str = ""
    details: dict[str, Any] = field(default_factory=dict)


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
class PhaseEntry:
    """A phase workflow starts: the project's Updates go to it from now on (its id is the calling
    workflow's), and the stage moves to `stage` (audited once, if it changes; "" leaves it as it is)."""

    project_code: str
    phase: str
    stage: str
    at: datetime
    reason: str = ""


@dataclass(frozen=True)
class AdoptTasksInput:
    """Open tasks handed over from another execution: their decisions go to the calling workflow now."""

    project_code: str
    task_ids: list[str]
    at: datetime


@dataclass(frozen=True)
class ProjectStatus:
    """Query result: the workflow's own view of the project."""

    code: str
    stage: str
    open_task: OpenedTask | None
    deciders: dict[str, list[int]]
    round: int
    open_tasks: list[OpenedTask] = field(default_factory=list)
    revisions: int = 0
    notice_ends_at: datetime | None = None
    blocked: BlockedStep | None = None
    pending_tasks: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BlockedStep:
    """A step of a project's workflow that could not be done: what, why, since when; `cleared` once retried."""

    project_code: str
    step: str
    error: str
    since: datetime
    permanent: bool
    cleared: bool = False


@dataclass(frozen=True)
class RetryInput:
    """An operator asks a blocked project to retry its step."""

    actor: Actor


@dataclass(frozen=True)
class DrawPanelInput:
    """Draw `seats` experts for a project's panel; the seed makes the draw reproducible."""

    draw_key: str
    project_code: str
    round: int
    seats: int
    seed: int
    city_code: str
    township_code: str
    project_type: str
    implementing_entity: str
    at: datetime
    already_drawn: list[int] = field(default_factory=list)
    excluded_users: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class PanelSeat:
    """One drawn expert (no personal data: library id, login id, name)."""

    expert_id: int
    user_id: int
    name: str
    affiliation: str = ""


@dataclass(frozen=True)
class DrawResult:
    """Who was drawn, how many seats stay empty, and whether the draw widened beyond the specialty."""

    chosen: list[PanelSeat]
    shortfall: int
    widened: bool
    pool_size: int
    excluded: int


@dataclass(frozen=True)
class PanelVerdictInput:
    """The panel's verdict with every score; a failed panel returns the project to the applicant."""

    project_code: str
    round: int
    passed: bool
    average_total: float
    reason: str
    scores: list[dict[str, Any]]
    at: datetime


@dataclass(frozen=True)
class RevisionInput:
    """The applicant's revised application (validated by the API), sent as an Update."""

    task_id: str
    actor: Actor
    application: dict[str, Any]


@dataclass(frozen=True)
class RecordRevisionInput:
    """Store a revision with its diff, close the revision task and send the project back to township review."""

    task_id: str
    project_code: str
    round: int
    actor: Actor
    application: dict[str, Any]
    next_stage: str
    at: datetime


@dataclass(frozen=True)
class NoticeInput:
    """Open a public notice (公示) at the given levels."""

    notice_id: str
    project_code: str
    kind: str
    levels: list[str]
    starts_at: datetime
    ends_at: datetime
    stage: str


@dataclass(frozen=True)
class CloseNoticeInput:
    """End a notice as completed, or interrupted by an upheld objection."""

    notice_id: str
    project_code: str
    status: str
    at: datetime


@dataclass(frozen=True)
class ObjectionInput:
    """An objection (异议) filed during a notice, sent as an Update."""

    text: str
    actor: Actor


@dataclass(frozen=True)
class RecordObjectionInput:
    """Store an objection and open the county task that resolves it."""

    objection_id: str
    notice_id: str
    project_code: str
    text: str
    actor: Actor
    task: OpenTaskInput


@dataclass(frozen=True)
class ObjectionResult:
    """The stored objection and its task."""

    objection_id: str
    task_id: str


@dataclass(frozen=True)
class DeadlineEvent:
    """A task reached its due time (remind) or twice its limit (escalate)."""

    task_id: str
    project_code: str
    kind: str
    event: str
    candidate_role: str
    region_code: str
    assignee_id: int | None
    at: datetime


@dataclass(frozen=True)
class CancelTasksInput:
    """Tasks abandoned because their step ended (other objections after one was upheld)."""

    project_code: str
    task_ids: list[str]
    reason: str
    at: datetime


@dataclass(frozen=True)
class ClaimInput:
    """Claim (take) or release a group task, sent as an Update."""

    task_id: str
    actor: Actor
    claim: bool


@dataclass(frozen=True)
class RecordClaimInput:
    """Persist a claim or its release."""

    task_id: str
    project_code: str
    actor: Actor
    claim: bool
    at: datetime


@dataclass(frozen=True)
class ReassignInput:
    """Give a task to another eligible user, with a reason (county supervisor or admin)."""

    task_id: str
    to: Actor
    reason: str
    actor: Actor
    expert_id: int | None = None
    conflict_townships: list[str] = field(default_factory=list)
    conflict_organisations: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RecordReassignInput:
    """Persist a reassignment."""

    task_id: str
    project_code: str
    to: Actor
    reason: str
    actor: Actor
    at: datetime
    details: dict[str, Any] | None = None


@dataclass(frozen=True)
class TaskChange:
    """What a claim or reassignment left: who holds the task now."""

    task_id: str
    assignee_id: int | None
    claimed_by: int | None


@dataclass(frozen=True)
class ProgressInput:
    """A weekly progress report (validated by the API against the stored reports), sent as an Update."""

    actor: Actor
    week_start: str
    percent: int
    funds_paid_fen: int
    over_budget_reason: str = ""
    note: str = ""
    attachments: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RecordProgressInput:
    """Store a progress report, recompute the construction colour, close the week's reminder."""

    project_code: str
    report: ProgressInput
    at: datetime
    config: LifecycleConfig


@dataclass(frozen=True)
class ConstructionCheckInput:
    """The weekly look at a project under construction: colour as of `at`, reminder if the week went unreported."""

    project_code: str
    at: datetime
    config: LifecycleConfig
    applicant_id: int
    village_code: str
    reminder_task_id: str


@dataclass(frozen=True)
class ConstructionState:
    """What the weekly check found."""

    colour: str
    reason: str
    reminder_opened: bool


@dataclass(frozen=True)
class CompletionInput:
    """The completion report (竣工), sent as an Update."""

    actor: Actor
    final_cost_fen: int
    completion_date: str
    documents: list[str] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True)
class RecordCompletionInput:
    """Store a completion report and move the project to acceptance."""

    completion_id: str
    project_code: str
    completion: CompletionInput
    at: datetime


@dataclass(frozen=True)
class RegisterAssetsInput:
    """The assets a project produced (validated by the API), sent as an Update completing the registration task."""

    task_id: str
    actor: Actor
    assets: list[dict[str, Any]]


@dataclass(frozen=True)
class RecordRegistrationInput:
    """Store the registered assets (ids chosen by the workflow, so retries write them once)."""

    task_id: str
    project_code: str
    actor: Actor
    assets: list[dict[str, Any]]
    asset_ids: list[str]
    at: datetime
