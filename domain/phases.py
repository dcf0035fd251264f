"""Payloads of the phase workflows: the state a project carries from phase to phase and run to run.

Frozen dataclasses with defaults for every field added later (old histories still decode). No personal data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from domain.enums import Phase, Stage
from domain.payloads import OpenedTask, ProjectStart


@dataclass(frozen=True)
class Opinion:
    """An opinion given on the project (a review, an expert's score, an objection's resolution), shown to the
    deciders of later steps."""

    round: int
    kind: str
    decision: str
    opinion: str
    by: str = ""

    def as_detail(self) -> dict[str, Any]:
        """As a task's details carry it."""
        shown = asdict(self)
        if not self.by:
            shown.pop("by")
        return shown


@dataclass(frozen=True)
class CarriedScore:
    """An expert's score given before a hand-over (the panel's verdict needs it)."""

    task_id: str
    expert_id: int
    scores: dict[str, int]
    vetoes: list[str]
    opinion: str
    user_id: int = 0


@dataclass(frozen=True)
class NoticeState:
    """A public notice running when an execution was handed over or continued as new."""

    notice_id: str
    kind: str
    stage: Stage
    upheld_to: Stage
    ends_at: datetime
    objection_task_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CompletionFacts:
    """The completion report the county's acceptance task shows."""

    completion_id: str
    final_cost_fen: int
    completion_date: str
    documents: list[str] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True)
class PhaseResume:
    """Where a phase picks up: after a hand-over from the single-class workflow, or a continue-as-new."""

    stage: Stage
    tasks: list[OpenedTask] = field(default_factory=list)
    notice: NoticeState | None = None
    scores: list[CarriedScore] = field(default_factory=list)
    completion: CompletionFacts | None = None
    registered: list[str] = field(default_factory=list)
    last_percent: int = 0
    # expert draws made in the current round (their idempotency keys are numbered on from here)
    draws: int = 0
    # operation: the fiscal year this run keeps (one run per year)
    fiscal_year: int = 0


@dataclass(frozen=True)
class PhaseInput:
    """What a phase workflow starts with: the project, the counters and the record of earlier phases."""

    start: ProjectStart
    round: int = 1
    revisions: int = 0
    deciders: dict[str, list[int]] = field(default_factory=dict)
    opinions: list[Opinion] = field(default_factory=list)
    resume: PhaseResume | None = None


@dataclass(frozen=True)
class PhaseResult:
    """Where a phase left the project, and the record the next phase carries on with."""

    stage: Stage
    round: int
    revisions: int
    deciders: dict[str, list[int]] = field(default_factory=dict)
    opinions: list[Opinion] = field(default_factory=list)


@dataclass(frozen=True)
class ProjectState:
    """ProjectWorkflow's one state: the phase it runs and what the next phase needs."""

    start: ProjectStart
    phase: Phase = Phase.APPROVAL
    round: int = 1
    revisions: int = 0
    deciders: dict[str, list[int]] = field(default_factory=dict)
    opinions: list[Opinion] = field(default_factory=list)
    # the n-th start of this phase's child (a phase restarted by an operator after it failed gets n + 1)
    attempt: int = 1
    resume: PhaseResume | None = None
    handed_over_from: str = ""

    def phase_input(self) -> PhaseInput:
        """The input of this phase's child workflow."""
        return PhaseInput(self.start, self.round, self.revisions, self.deciders, self.opinions, self.resume)


@dataclass(frozen=True)
class ProjectView:
    """ProjectWorkflow's status query: the phase and the child workflow that takes the project's Updates."""

    code: str
    phase: str
    child_id: str
    round: int
