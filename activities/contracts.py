"""Activities of contract proposals for OperationWorkflow: a renewal, a change or another operator stored with the
township's review task in one transaction, and its settlement (approved: it becomes the contract in force). Each is
idempotent by the proposal's id."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from sqlalchemy.exc import IntegrityError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.projects import audit, calling_workflow_id, locked_project, open_task_in, opened_task, transaction
from db.engine import Sessions
from db.models import Asset, Contract
from db.repositories.operation_checks import create_contracts, get_active_contract, get_contract, update_contract
from domain.assets import AssetClass, AssetStatus
from domain.failures import DecisionRefused
from domain.operation import ContractStatus, Terms, annual_amount
from domain.operation_payloads import RecordProposalInput, SettleProposalInput
from domain.payloads import OpenedTask


class ContractActivities:
    """Writes contract proposals on behalf of OperationWorkflow."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    @activity.defn
    async def record_proposal(self, inp: RecordProposalInput) -> OpenedTask:
        """Store a proposed contract and open the township's review task showing it beside the contract in force
        (one proposal per asset at a time; idempotent by proposal id), audited."""
        t = inp.terms
        async with transaction(self._sessions) as session:
            project = await locked_project(session, inp.project_code)
            asset = await session.get(Asset, t.asset_id)
            if asset is None or asset.project_code != project.code:
                raise ApplicationError(
                    f"asset {t.asset_id} is not of project {project.code}", type="NotFound", non_retryable=True
                )
            if await get_contract(session, contract_id=inp.proposal_id) is None:
                current = await get_active_contract(session, asset_id=asset.id)
                try:
                    async with session.begin_nested():
                        await create_contracts(session, rows=[proposal_row(inp, project.code, current)])
                except IntegrityError as err:
                    raise ApplicationError(
                        f"asset {asset.id} already has a contract proposal under review",
                        type=DecisionRefused.WRONG_STAGE,
                        non_retryable=True,
                    ) from err
                await audit(
                    session,
                    project.code,
                    action="contract_proposed",
                    event_key=f"contract_proposed:{inp.proposal_id}",
                    payload={
                        "proposal_id": inp.proposal_id,
                        "asset_id": asset.id,
                        "kind": t.kind,
                        "mode": t.mode,
                        "operator_name": t.operator_name,
                        "start": t.start_date,
                        "end": t.end_date,
                        "rent_fen": t.rent_fen,
                        "schedule": t.schedule,
                        "replaces": current.id if current else None,
                    },
                    at=inp.at,
                    actor=inp.actor,
                )
                review = replace(
                    inp.review,
                    details={
                        **inp.review.details,
                        "asset_name": asset.name,
                        "asset_value_fen": asset.value_fen,
                        "current_contract": contract_summary(current) if current else None,
                    },
                )
            else:
                review = inp.review
            task = await open_task_in(session, review, workflow_id=calling_workflow_id())
        return opened_task(task)

    @activity.defn
    async def settle_proposal(self, inp: SettleProposalInput) -> str:
        """A proposal ends: approved (it becomes the asset's active contract, the old one superseded, the asset's
        operator columns follow), returned or rejected. Idempotent: a settled proposal is answered as it is."""
        async with transaction(self._sessions) as session:
            await locked_project(session, inp.project_code)
            proposal = await get_contract(session, contract_id=inp.proposal_id, for_update=True)
            if proposal is None:
                raise ApplicationError(f"proposal {inp.proposal_id} not found", type="NotFound", non_retryable=True)
            if proposal.status != ContractStatus.PROPOSED:
                return proposal.status
            if inp.status == ContractStatus.ACTIVE:
                current = await get_active_contract(session, asset_id=proposal.asset_id)
                if current is not None:
                    await update_contract(
                        session, contract_id=current.id, values={"status": ContractStatus.SUPERSEDED.value}
                    )
                await session.flush()
                await update_contract(
                    session,
                    contract_id=proposal.id,
                    values={"status": ContractStatus.ACTIVE.value, "decided_at": inp.at},
                )
                asset = await session.get(Asset, proposal.asset_id, with_for_update=True)
                assert asset is not None
                asset.operator_name = proposal.operator_name
                asset.operator_type = proposal.operator_type
                asset.contract_mode = proposal.mode
                asset.contract_start = proposal.start_date
                asset.contract_end = proposal.end_date
                asset.contract_term_years = None
                asset.annual_rent_fen = annual_amount(terms_of(proposal))
                if asset.status in (AssetStatus.IN_USE, AssetStatus.IDLE) and asset.asset_class == AssetClass.OPERATING:
                    asset.status = AssetStatus.LEASED.value
                    asset.idle_since = None
            else:
                await update_contract(
                    session, contract_id=proposal.id, values={"status": inp.status, "decided_at": inp.at}
                )
            await audit(
                session,
                inp.project_code,
                action="contract_" + {"active": "approved", "returned": "returned", "rejected": "rejected"}[inp.status],
                event_key=f"contract_settled:{inp.proposal_id}",
                payload={
                    "proposal_id": inp.proposal_id,
                    "asset_id": proposal.asset_id,
                    "status": inp.status,
                    "task_id": inp.task_id,
                },
                at=inp.at,
            )
        return inp.status


def proposal_row(inp: RecordProposalInput, project_code: str, current: Contract | None) -> dict[str, Any]:
    """A proposal as a contracts row."""
    t = inp.terms
    return {
        "id": inp.proposal_id,
        "asset_id": t.asset_id,
        "project_code": project_code,
        "kind": t.kind,
        "status": ContractStatus.PROPOSED.value,
        "operator_name": t.operator_name,
        "operator_type": t.operator_type,
        "operator_credit_code": t.operator_credit_code,
        "mode": t.mode,
        "start_date": date.fromisoformat(t.start_date),
        "end_date": date.fromisoformat(t.end_date),
        "rent_fen": t.rent_fen,
        "schedule": t.schedule,
        "deposit_fen": t.deposit_fen,
        "escalation_bp": t.escalation_bp,
        "attachments": list(t.attachments),
        "note": t.note,
        "proposed_by": inp.actor.user_id,
        "proposed_at": inp.at,
        "replaces_id": current.id if current else None,
    }


def contract_summary(c: Contract) -> dict[str, Any]:
    """A contract's terms as a task shows them."""
    return {
        "contract_id": c.id,
        "operator_name": c.operator_name,
        "operator_type": c.operator_type,
        "mode": c.mode,
        "start_date": c.start_date.isoformat(),
        "end_date": c.end_date.isoformat(),
        "rent_fen": c.rent_fen,
        "schedule": c.schedule,
        "deposit_fen": c.deposit_fen,
        "escalation_bp": c.escalation_bp,
    }


def terms_of(c: Contract) -> Terms:
    """A contract's payment terms."""
    return Terms(c.start_date, c.end_date, c.rent_fen, c.schedule, c.escalation_bp)
