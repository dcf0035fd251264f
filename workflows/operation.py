"""OperationWorkflow, id `project-{code}-operation-{n}`: a project's years of operation (运营管护), one run per
fiscal year.

Each run checks the project's assets when something can change — a rent falling due or overdue, a contract
nearing its end, an inspection due, an asset idle too long — and sleeps in between (at most a month), so a year
costs a few hundred events whatever the number of years. A record written through the API (a payment, an
inspection, a status) signals it to check at once. The manager proposes a renewal, a change of terms or another
operator; the township reviews and the county approves it before it replaces the contract in force. On 1 January
(Asia/Shanghai) the year is closed (its figures audited, a yield far below the estimate turns red) and the run
continues as new into the next year, carrying its open tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta, timezone
from typing import Any

from temporalio import workflow

from domain.enums import Decision, Phase, RegionLevel, Role, SignalName, Stage, TaskKind, UpdateName
from domain.failures import DecisionRefused
from domain.lifecycle import REVIEW_DECISIONS
from domain.operation import MANAGER_TASKS, PROPOSABLE, ContractStatus, RuleStatus
from domain.operation_payloads import (
    OperationCheckInput,
    ProposalResult,
    ProposeContractInput,
    ProposeRuleInput,
    RecordProposalInput,
    RecordRuleInput,
    SettleProposalInput,
)
from domain.payloads import (
    ClaimInput,
    DecisionResult,
    OpenedTask,
    PhaseEntry,
    ProjectStatus,
    ReassignInput,
    RetryInput,
    SubmitDecisionInput,
    TaskChange,
)
from domain.phases import PhaseInput, PhaseResult, PhaseResume
from domain.platform_payloads import RegisterAssetInput
from domain.regions import covers
from domain.task_rules import Refusal
from workflows.steps import Steps, refuse
from workflows.tasks import TaskBoard, provisional

with workflow.unsafe.imports_passed_through():
    from activities.contracts import ContractActivities
    from activities.operation import OperationActivities
    from activities.platform import PlatformActivities
    from activities.projects import ProjectActivities
    from activities.rules import RuleActivities

CHINA = timezone(timedelta(hours=8))  # Asia/Shanghai has no daylight saving: a fixed offset needs no tz files
# A run continues as new past this many events even within its year (a check costs about ten events).
HISTORY_LIMIT = 1000
# Proposals reviewed by the township, then approved by the county: a contract, a distribution rule.
NEXT_LEVEL = {TaskKind.CONTRACT_REVIEW: TaskKind.CONTRACT_APPROVAL, TaskKind.RULE_REVIEW: TaskKind.RULE_APPROVAL}
PROPOSAL_TASKS = (*NEXT_LEVEL, *NEXT_LEVEL.values())
RULE_TASKS = (TaskKind.RULE_REVIEW, TaskKind.RULE_APPROVAL)
SETTLED: dict[Decision, str] = {Decision.APPROVE: ContractStatus.ACTIVE, Decision.RETURN: ContractStatus.RETURNED}
RULE_SETTLED: dict[Decision, str] = {Decision.APPROVE: RuleStatus.APPROVED, Decision.RETURN: RuleStatus.RETURNED}


def year_end(year: int) -> datetime:
    """The end of a fiscal year: 1 January of the next, 00:00 in China."""
    return datetime(year + 1, 1, 1, tzinfo=CHINA)


@workflow.defn
class OperationWorkflow:
    """Keeps a project's assets in operation, one fiscal year per run."""

    @workflow.init
    def __init__(self, inp: PhaseInput) -> None:
        self._inp = inp
        self._start = inp.start
        self._steps = Steps(inp.start)
        # contract approvals are a new era: the approval's deciders do not bind them
        self._board = TaskBoard(inp.start, self._steps, {})
        resume = inp.resume
        self._year = resume.fiscal_year if resume is not None else 0
        self._changed = False
        self._busy = 0
        # what a proposal under review blocks (`_proposal_key`: an asset's contract, an asset's year's rule) → its id
        self._proposals: dict[str, str] = {}
        self._registering: set[str] = set()
        self._background: list[asyncio.Task[None]] = []

    @workflow.run
    async def run(self, inp: PhaseInput) -> PhaseResult:
        """Check, sleep until something can change (or a record arrives), check again; close the year and go on."""
        resume = inp.resume
        if self._year == 0:
            self._year = workflow.now().astimezone(CHINA).year
            await self._steps.step(
                ProjectActivities.enter_phase,
                PhaseEntry(
                    project_code=self._start.code,
                    phase=Phase.OPERATION.value,
                    stage=Stage.OPERATION.value,
                    at=workflow.now(),
                    reason="assets registered: operation begins",
                ),
            )
        elif resume is not None:
            await self._resume(resume.tasks)
        end = year_end(self._year)
        while True:
            closing = workflow.now() >= end
            self._changed = False
            result = await self._steps.step(
                OperationActivities.check_operation,
                OperationCheckInput(
                    project_code=self._start.code,
                    at=workflow.now(),
                    fiscal_year=self._year,
                    applicant_id=self._start.applicant_id,
                    village_code=self._start.village_code,
                    working_days=self._start.config.review_working_days,
                    time_zone=self._start.config.time_zone,
                    close_year=closing,
                ),
            )
            for task in result.opened:
                if task.task_id not in self._board.tasks and task.task_id not in self._board.outcomes:
                    self._board.track(task)
            self._board.drop(result.closed)
            for asset_id in result.unregistered:
                if asset_id not in self._registering:
                    self._registering.add(asset_id)
                    self._background.append(asyncio.create_task(self._register(asset_id)))
            if closing or self._long():
                break
            wait = (min(result.next_check_at, end) - workflow.now()).total_seconds()
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self._changed, timeout=max(wait, 1.0))
        await workflow.wait_condition(
            lambda: self._busy == 0 and not self._board.pending and workflow.all_handlers_finished()
        )
        workflow.continue_as_new(
            PhaseInput(
                start=self._start,
                round=inp.round,
                revisions=inp.revisions,
                deciders=inp.deciders,
                opinions=inp.opinions,
                # the next year after its close; the same year when a busy year's history grew long
                resume=PhaseResume(
                    stage=Stage.OPERATION,
                    tasks=list(self._board.tasks.values()),
                    fiscal_year=self._year + 1 if workflow.now() >= end else self._year,
                ),
            )
        )

    def _long(self) -> bool:
        """A year with many records (each a check) continues as new before its history grows past HISTORY_LIMIT."""
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() > HISTORY_LIMIT

    async def _resume(self, tasks: list[OpenedTask]) -> None:
        """Take over the open tasks of last year's run; contract approvals under way go on where they were."""
        await self._board.adopt(tasks)
        for kind in (*PROPOSAL_TASKS, *MANAGER_TASKS):
            for task in self._board.adopted(kind):
                if kind in PROPOSAL_TASKS:
                    self._proposals[_proposal_key(task)] = str(task.details.get("proposal_id", ""))
                    self._background.append(asyncio.create_task(self._follow(task)))

    async def _register(self, asset_id: str) -> None:
        """An imported asset without a platform card is registered into the "three assets" platform."""
        self._busy += 1
        try:
            await self._steps.step(
                PlatformActivities.register_asset,
                RegisterAssetInput(asset_id=asset_id, project_code=self._start.code, at=workflow.now()),
            )
        finally:
            self._busy -= 1

    # ---------------------------------------------------------------- contract proposals

    async def _follow(self, task: OpenedTask) -> None:
        """A proposal (a contract, a distribution rule) through the township's review and the county's approval,
        then settled."""
        while True:
            outcome = await self._board.closed(task)
            level = NEXT_LEVEL.get(TaskKind(task.kind))
            if level is not None and outcome.decision == Decision.APPROVE:
                self._busy += 1
                try:
                    task = await self._board.open(
                        self._board.task_input(
                            level,
                            Stage.OPERATION,
                            Role.COUNTY_REVIEWER.value,
                            self._start.county_code,
                            REVIEW_DECISIONS,
                            1,
                            details={**task.details, "township_opinion": outcome.opinion},
                        )
                    )
                finally:
                    self._busy -= 1
                continue
            rule = task.kind in RULE_TASKS
            status = (RULE_SETTLED if rule else SETTLED).get(Decision(outcome.decision), "rejected")
            self._busy += 1
            try:
                await self._steps.step(
                    RuleActivities.settle_rule if rule else ContractActivities.settle_proposal,
                    SettleProposalInput(
                        proposal_id=str(task.details["proposal_id"]),
                        project_code=self._start.code,
                        status=status,
                        at=workflow.now(),
                        task_id=task.task_id,
                    ),
                )
            finally:
                self._busy -= 1
            self._proposals.pop(_proposal_key(task), None)
            self._changed = True
            return

    def _proposal_refusal(self, inp: ProposeContractInput) -> Refusal | None:
        actor = inp.actor
        if actor.role != Role.PROJECT_MANAGER or not covers(
            actor.region_code, RegionLevel(actor.region_level), self._start.village_code
        ):
            return Refusal(
                DecisionRefused.NOT_ELIGIBLE, "only a project manager of the project's village proposes a contract"
            )
        if inp.terms.kind not in PROPOSABLE:
            return Refusal(
                DecisionRefused.INVALID_DECISION, f"kind must be one of: {', '.join(k.value for k in PROPOSABLE)}"
            )
        if inp.terms.asset_id in self._proposals:
            return Refusal(DecisionRefused.WRONG_STAGE, "a contract proposal for this asset is under review")
        return None

    def _rule_refusal(self, inp: ProposeRuleInput) -> Refusal | None:
        actor = inp.actor
        if actor.role != Role.PROJECT_MANAGER or not covers(
            actor.region_code, RegionLevel(actor.region_level), self._start.village_code
        ):
            return Refusal(
                DecisionRefused.NOT_ELIGIBLE, "only a project manager of the project's village proposes its rule"
            )
        if f"rule:{inp.terms.asset_id}:{inp.terms.fiscal_year}" in self._proposals:
            return Refusal(DecisionRefused.WRONG_STAGE, "a distribution rule for this asset and year is under review")
        return None

    @workflow.update(name=UpdateName.PROPOSE_RULE)
    async def propose_rule(self, inp: ProposeRuleInput) -> ProposalResult:
        """The manager proposes the village's distribution rule for a year: the township's review task opens."""
        async with self._board.lock:
            refuse(self._rule_refusal(inp))
            rule_id = str(workflow.uuid4())
            terms = inp.terms
            key = f"rule:{terms.asset_id}:{terms.fiscal_year}"
            review = self._board.task_input(
                TaskKind.RULE_REVIEW,
                Stage.OPERATION,
                Role.TOWNSHIP_REVIEWER.value,
                self._start.township_code,
                REVIEW_DECISIONS,
                1,
                details={
                    "proposal_id": rule_id,
                    "asset_id": terms.asset_id,
                    "fiscal_year": terms.fiscal_year,
                    "rule": terms.rule,
                    "excluded": dict(terms.excluded),
                    "note": terms.note,
                    "attachments": [terms.resolution],
                    "attached_by": inp.actor.user_id,
                },
            )
            self._board.pending[review.task_id] = provisional(review)
            self._proposals[key] = rule_id
            try:
                task = await self._steps.store(
                    RuleActivities.record_rule,
                    RecordRuleInput(
                        rule_id=rule_id,
                        project_code=self._start.code,
                        terms=terms,
                        actor=inp.actor,
                        at=workflow.now(),
                        review=review,
                    ),
                    "the distribution rule",
                )
            except BaseException:
                self._proposals.pop(key, None)
                raise
            finally:
                self._board.pending.pop(review.task_id, None)
            self._board.track(task)
            self._background.append(asyncio.create_task(self._follow(task)))
            return ProposalResult(proposal_id=rule_id, task_id=task.task_id, status=RuleStatus.PROPOSED.value)

    @propose_rule.validator
    def _validate_rule(self, inp: ProposeRuleInput) -> None:
        refuse(self._rule_refusal(inp))

    @workflow.update(name=UpdateName.PROPOSE_CONTRACT)
    async def propose_contract(self, inp: ProposeContractInput) -> ProposalResult:
        """The manager proposes a renewal, a change or another operator: the township's review task opens."""
        async with self._board.lock:
            refuse(self._proposal_refusal(inp))
            proposal_id = str(workflow.uuid4())
            terms = inp.terms
            review = self._board.task_input(
                TaskKind.CONTRACT_REVIEW,
                Stage.OPERATION,
                Role.TOWNSHIP_REVIEWER.value,
                self._start.township_code,
                REVIEW_DECISIONS,
                1,
                details={**_proposal_details(proposal_id, terms.__dict__), "attached_by": inp.actor.user_id},
            )
            self._board.pending[review.task_id] = provisional(review)
            self._proposals[terms.asset_id] = proposal_id
            try:
                task = await self._steps.store(
                    ContractActivities.record_proposal,
                    RecordProposalInput(
                        proposal_id=proposal_id,
                        project_code=self._start.code,
                        terms=terms,
                        actor=inp.actor,
                        at=workflow.now(),
                        review=review,
                    ),
                    "the proposal",
                )
            except BaseException:
                self._proposals.pop(terms.asset_id, None)
                raise
            finally:
                self._board.pending.pop(review.task_id, None)
            self._board.track(task)
            self._background.append(asyncio.create_task(self._follow(task)))
            self._changed = True  # a renewal under review silences the expiry warning
            return ProposalResult(proposal_id=proposal_id, task_id=task.task_id, status=ContractStatus.PROPOSED.value)

    @propose_contract.validator
    def _validate_proposal(self, inp: ProposeContractInput) -> None:
        refuse(self._proposal_refusal(inp))

    # ---------------------------------------------------------------- tasks, signal, query

    @workflow.signal(name=SignalName.OPERATION_RECORDS_CHANGED)
    def records_changed(self) -> None:
        """A payment, report, inspection, repair or status was recorded: check again now."""
        self._changed = True

    def _consequence(self, task: OpenedTask, inp: SubmitDecisionInput) -> tuple[Stage, dict[str, Any]]:
        details: dict[str, Any] = {
            k: task.details[k] for k in ("asset_id", "proposal_id", "warning_key") if k in task.details
        }
        if inp.attachments:
            details["attachments"] = list(inp.attachments)
        return Stage.OPERATION, details

    def _after(self, task: OpenedTask, inp: SubmitDecisionInput, to: Stage) -> None:
        if task.kind in MANAGER_TASKS:
            self._changed = True

    @workflow.update(name=UpdateName.SUBMIT_DECISION)
    async def submit_decision(self, inp: SubmitDecisionInput) -> DecisionResult:
        """The township reviews or the county approves a contract proposal; the manager closes a warning's task."""
        return await self._board.decide(inp, self._consequence, self._after)

    @submit_decision.validator
    def _validate_decision(self, inp: SubmitDecisionInput) -> None:
        refuse(self._board.decision_refusal(inp))

    @workflow.update(name=UpdateName.CLAIM_TASK)
    async def claim_task(self, inp: ClaimInput) -> TaskChange:
        """Take a group task (others see it is taken) or release it."""
        return await self._board.claim(inp)

    @claim_task.validator
    def _validate_claim(self, inp: ClaimInput) -> None:
        refuse(self._board.claim_refusal(inp))

    @workflow.update(name=UpdateName.REASSIGN_TASK)
    async def reassign_task(self, inp: ReassignInput) -> TaskChange:
        """A county supervisor or an admin gives a task to another eligible user, with a reason."""
        return (await self._board.reassign(inp))[1]

    @reassign_task.validator
    def _validate_reassign(self, inp: ReassignInput) -> None:
        refuse(self._board.reassign_refusal(inp))

    @workflow.update(name=UpdateName.RETRY_BLOCKED)
    def retry_blocked(self, inp: RetryInput) -> str:
        """An operator retries the step the project is blocked on (after fixing its cause)."""
        return self._steps.retry()

    @retry_blocked.validator
    def _validate_retry(self, inp: RetryInput) -> None:
        refuse(self._steps.retry_refusal(inp))

    @workflow.query
    def get_status(self) -> ProjectStatus:
        """This phase's view: open tasks, blocked step."""
        return self._board.status(Stage.OPERATION, self._inp.round, self._inp.revisions)


def _proposal_key(task: OpenedTask) -> str:
    """What a proposal under review blocks: another proposal for the asset (a contract) or its year (a rule)."""
    asset = str(task.details.get("asset_id", ""))
    if task.kind in RULE_TASKS:
        return f"rule:{asset}:{task.details.get('fiscal_year', '')}"
    return asset


def _proposal_details(proposal_id: str, terms: dict[str, Any]) -> dict[str, Any]:
    """What the township and the county see on their task: the proposed terms (no personal data)."""
    shown = {k: v for k, v in terms.items() if k != "attachments"}
    return {"proposal_id": proposal_id, **shown, "attachments": list(terms.get("attachments", []))}
