"""Activities of distribution rules (收益分配方案) for OperationWorkflow: a proposed version stored with the township's
review task in one transaction, and its settlement; each idempotent by the rule version's id."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.exc import IntegrityError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.archives import refresh_project
from activities.projects import audit, calling_workflow_id, locked_project, open_task_in, opened_task, transaction
from db.engine import Sessions
from db.models import Asset
from db.models import DistributionRule as DistributionRuleRow
from db.repositories.operation_checks import get_approved_rule, next_rule_version, rules_covering
from domain.failures import DecisionRefused
from domain.operation import RuleStatus
from domain.operation_payloads import RecordRuleInput, SettleProposalInput
from domain.payloads import OpenedTask


class RuleActivities:
    """Writes distribution rule versions on behalf of OperationWorkflow (proposal, then its settlement)."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    @activity.defn
    async def record_rule(self, inp: RecordRuleInput) -> OpenedTask:
        """Store a proposed rule version (one proposal per asset and year at a time; idempotent by id) and open the
        township's review task showing it beside the version in force for the year, audited."""
        t = inp.terms
        async with transaction(self._sessions) as session:
            project = await locked_project(session, inp.project_code)
            asset = await session.get(Asset, t.asset_id)
            if asset is None or asset.project_code != project.code:
                raise ApplicationError(
                    f"asset {t.asset_id} is not of project {project.code}", type="NotFound", non_retryable=True
                )
            current = await get_approved_rule(session, asset_id=asset.id, fiscal_year=t.fiscal_year)
            review = inp.review
            if await session.get(DistributionRuleRow, inp.rule_id) is None:
                group = [asset.id, *t.members]
                # the project is locked: no other proposal covering the group's assets can be written meanwhile
                if pending := await rules_covering(
                    session, asset_ids=group, fiscal_year=t.fiscal_year, statuses=[RuleStatus.PROPOSED.value]
                ):
                    raise ApplicationError(
                        f"a distribution rule for {t.fiscal_year} covering {', '.join(group)} is under review "
                        f"({pending[0].id})",
                        type=DecisionRefused.WRONG_STAGE,
                        non_retryable=True,
                    )
                version = await next_rule_version(session, asset_id=asset.id, fiscal_year=t.fiscal_year)
                try:
                    async with session.begin_nested():
                        session.add(
                            DistributionRuleRow(
                                id=inp.rule_id,
                                asset_id=asset.id,
                                project_code=project.code,
                                fiscal_year=t.fiscal_year,
                                version=version,
                                status=RuleStatus.PROPOSED.value,
                                rule={**t.rule, "version": f"{asset.id}/{t.fiscal_year}/v{version}"},
                                excluded=dict(t.excluded),
                                attachments=[t.resolution],
                                members=list(t.members),
                                note=t.note,
                                proposed_by=inp.actor.user_id,
                                proposed_at=inp.at,
                            )
                        )
                except IntegrityError as err:
                    raise ApplicationError(
                        f"asset {asset.id} already has a distribution rule for {t.fiscal_year} under review",
                        type=DecisionRefused.WRONG_STAGE,
                        non_retryable=True,
                    ) from err
                await audit(
                    session,
                    project.code,
                    action="distribution_rule_proposed",
                    event_key=f"distribution_rule_proposed:{inp.rule_id}",
                    payload={
                        "rule_id": inp.rule_id,
                        "asset_id": asset.id,
                        "fiscal_year": t.fiscal_year,
                        "version": version,
                        "rule": t.rule,
                        "excluded": sorted(t.excluded),
                        "group_assets": list(t.members),
                        "replaces": current.id if current else None,
                    },
                    at=inp.at,
                    actor=inp.actor,
                )
                review = replace(
                    review,
                    details={
                        **review.details,
                        "version": version,
                        "asset_name": asset.name,
                        "asset_value_fen": asset.value_fen,
                        "rule_in_force": {"rule_id": current.id, "version": current.version, "rule": current.rule}
                        if current
                        else None,
                    },
                )
            task = await open_task_in(session, review, workflow_id=calling_workflow_id())
        return opened_task(task)

    @activity.defn
    async def settle_rule(self, inp: SettleProposalInput) -> str:
        """A rule version ends its review: approved (the year's version in force from now on; the one before it
        superseded, kept, and still pinned by the rounds that used it), returned or rejected. Idempotent."""
        async with transaction(self._sessions) as session:
            await locked_project(session, inp.project_code)
            proposal = await session.get(DistributionRuleRow, inp.proposal_id, with_for_update=True)
            if proposal is None:
                raise ApplicationError(f"rule {inp.proposal_id} not found", type="NotFound", non_retryable=True)
            if proposal.status != RuleStatus.PROPOSED:
                return proposal.status
            superseded: list[str] = []
            if inp.status == RuleStatus.APPROVED:
                # every version in force for any of its assets gives way (a group's, or an asset's own)
                for current in await rules_covering(
                    session,
                    asset_ids=[proposal.asset_id, *proposal.members],
                    fiscal_year=proposal.fiscal_year,
                    statuses=[RuleStatus.APPROVED.value],
                ):
                    current.status = RuleStatus.SUPERSEDED.value
                    superseded.append(current.id)
                await session.flush()
            proposal.status = inp.status
            proposal.decided_at = inp.at
            await audit(
                session,
                inp.project_code,
                action=f"distribution_rule_{inp.status}",
                event_key=f"distribution_rule_settled:{inp.proposal_id}",
                payload={
                    "rule_id": proposal.id,
                    "asset_id": proposal.asset_id,
                    "fiscal_year": proposal.fiscal_year,
                    "version": proposal.version,
                    "group_assets": list(proposal.members),
                    "superseded": sorted(superseded),
                    "task_id": inp.task_id,
                },
                at=inp.at,
            )
            if inp.status == RuleStatus.APPROVED:
                await refresh_project(session, inp.project_code, inp.at)  # a year's distribution now expected
        return inp.status
