"""Payloads of OperationWorkflow and its activities (no personal data: operators are organisations)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.payloads import Actor, OpenedTask, OpenTaskInput


@dataclass(frozen=True)
class OperationCheckInput:
    """One wake-up of a project's operation: apply the rules of `domain.operation` as of `at`."""

    project_code: str
    at: datetime
    fiscal_year: int
    applicant_id: int
    village_code: str
    working_days: int
    time_zone: str
    # at the fiscal year's end: compute the year's figures (income, upkeep, yield) and audit them
    close_year: bool = False


@dataclass(frozen=True)
class OperationCheckResult:
    """What the check changed and when the next one is due."""

    next_check_at: datetime
    opened: list[OpenedTask] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    colour: str = ""
    warnings: int = 0
    # assets brought in by an import without a platform card: the workflow registers them
    unregistered: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ContractTerms:
    """A proposed contract's terms; dates ISO `YYYY-MM-DD`, money in fen."""

    asset_id: str
    kind: str
    operator_name: str
    operator_type: str
    mode: str
    start_date: str
    end_date: str
    rent_fen: int
    schedule: str
    operator_credit_code: str = ""
    deposit_fen: int = 0
    escalation_bp: int = 0
    attachments: list[str] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True)
class ProposeContractInput:
    """The manager proposes a renewal, a change or another operator (Update `propose_contract`)."""

    actor: Actor
    terms: ContractTerms


@dataclass(frozen=True)
class RecordProposalInput:
    """Store a proposal and open the township's review task (`review`) in the same transaction."""

    proposal_id: str
    project_code: str
    terms: ContractTerms
    actor: Actor
    at: datetime
    review: OpenTaskInput


@dataclass(frozen=True)
class SettleProposalInput:
    """A proposal's end: `active` (approved by the county), `returned` or `rejected`."""

    proposal_id: str
    project_code: str
    status: str
    at: datetime
    task_id: str = ""


@dataclass(frozen=True)
class ProposalResult:
    """Answer of `propose_contract`: the proposal and the township's review task it opened."""

    proposal_id: str
    task_id: str
    status: str


@dataclass(frozen=True)
class RuleTerms:
    """A proposed distribution rule for an asset's fiscal year (`rule`: domain.distribution.rule_as_json); the
    village meeting's resolution an uploaded file. No personal data: households by code only."""

    asset_id: str
    fiscal_year: int
    rule: dict[str, Any]
    resolution: str
    excluded: dict[str, str] = field(default_factory=dict)
    note: str = ""
    members: tuple[str, ...] = ()  # a group of one village's assets pooled under the rule: the others


@dataclass(frozen=True)
class ProposeRuleInput:
    """The manager proposes the village's distribution rule (Update `propose_distribution_rule`)."""

    actor: Actor
    terms: RuleTerms


@dataclass(frozen=True)
class RecordRuleInput:
    """Store a proposed rule version and open the township's review task in the same transaction."""

    rule_id: str
    project_code: str
    terms: RuleTerms
    actor: Actor
    at: datetime
    review: OpenTaskInput
