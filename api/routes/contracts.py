"""A contract proposal for an operating asset: sent to the project's OperationWorkflow as an Update, which opens
the township's review (then the county's approval) before the proposal replaces the contract in force."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from sqlalchemy import select

from api.deps import CurrentUser, SessionDep, SettingsDep, TemporalDep
from api.edge import CodePath, EdgeRoute
from api.errors import conflict, forbidden, invalid, not_found
from api.operation_contract_schemas import ContractProposalIn, ContractProposalPublic
from api.updates import actor_for, body_digest, execute_update, phase_owner
from db.models import Asset, Contract, Project, Task
from db.repositories.attachments import list_uploaded_by
from domain.assets import AssetClass
from domain.enums import Role, Stage, TaskKind, UpdateName
from domain.operation import ContractStatus, ProposalFacts, proposal_problems
from domain.operation_payloads import ContractTerms, ProposalResult, ProposeContractInput

router = APIRouter(prefix="/assets", tags=["operation"], route_class=EdgeRoute)


def _same_terms(c: Contract, body: ContractProposalIn) -> bool:
    """A stored proposal carries exactly this request's terms."""
    return (
        c.kind,
        c.operator_name,
        c.operator_type,
        c.operator_credit_code,
        c.mode,
        c.start_date,
        c.end_date,
        c.rent_fen,
        c.schedule,
        c.deposit_fen,
        c.escalation_bp,
        list(c.attachments),
        c.note,
    ) == (
        body.kind,
        body.operator.name,
        body.operator.type.value,
        body.operator.credit_code,
        body.mode.value,
        body.start,
        body.end,
        body.rent_fen,
        body.schedule.value,
        body.deposit_fen,
        body.escalation_bp,
        [body.signed_contract, body.village_resolution],
        body.note,
    )


@router.post("/{asset_id}/contracts", response_model=ContractProposalPublic, status_code=201)
async def propose_contract(
    asset_id: CodePath,
    body: ContractProposalIn,
    user: CurrentUser,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> ContractProposalPublic:
    """Propose a renewal, a change of terms or another operator (续签/变更/更换经营主体) with the signed contract and
    the village meeting's resolution; the township reviews it, the county approves it."""
    asset = await session.get(Asset, asset_id)
    if asset is None:
        raise not_found(f"asset {asset_id}")
    if not user.covers(asset.village_code):
        raise forbidden(f"asset {asset_id} lies outside your region", "region_forbidden")
    user.require_role(Role.PROJECT_MANAGER)
    project = await session.get(Project, asset.project_code)
    assert project is not None
    if project.stage != Stage.OPERATION.value:
        raise conflict("wrong_stage", f"project {project.code} is at {project.stage}, not in operation")
    if asset.asset_class != AssetClass.OPERATING:
        raise conflict("not_operating", "only an operating asset (经营性资产) is let under a contract")
    contracts = (await session.scalars(select(Contract).where(Contract.asset_id == asset.id))).all()
    pending = next((c for c in contracts if c.status == ContractStatus.PROPOSED), None)
    if pending is not None:
        if pending.proposed_by == user.id and _same_terms(pending, body):
            # the same request again (a retry): the proposal it made, and its review task
            task_id = await session.scalar(
                select(Task.id).where(
                    Task.project_code == project.code,
                    Task.kind == TaskKind.CONTRACT_REVIEW.value,
                    Task.details["proposal_id"].astext == pending.id,
                )
            )
            return ContractProposalPublic(proposal_id=pending.id, task_id=task_id or "", status=pending.status)
        raise conflict("proposal_pending", "a contract proposal for this asset is under review")
    current = next((c for c in contracts if c.status == ContractStatus.ACTIVE), None)
    today = datetime.now(UTC).astimezone(ZoneInfo(settings.time_zone)).date()
    problems = [
        {"field": p.field, "rule": p.rule, "message": p.message}
        for p in proposal_problems(
            ProposalFacts(
                kind=body.kind,
                mode=body.mode.value,
                operator_name=body.operator.name,
                operator_credit_code=body.operator.credit_code,
                start=body.start,
                end=body.end,
                current_operator=current.operator_name if current else asset.operator_name or None,
                current_start=current.start_date if current else asset.contract_start,
                current_end=current.end_date if current else asset.contract_end,
            ),
            today,
        )
    ]
    files = {"signed_contract": body.signed_contract, "village_resolution": body.village_resolution}
    mine = await list_uploaded_by(session, user_id=user.id, shas=list(files.values()))
    problems += [
        {"field": f, "rule": "uploaded_by_you", "message": "attach a file you uploaded"}
        for f, sha in files.items()
        if sha not in mine
    ]
    if problems:
        raise invalid(problems)
    actor = await actor_for(session, user)
    result = await execute_update(
        temporal,
        session,
        phase_owner(project),
        UpdateName.PROPOSE_CONTRACT,
        ProposeContractInput(
            actor=actor,
            terms=ContractTerms(
                asset_id=asset.id,
                kind=body.kind,
                operator_name=body.operator.name,
                operator_type=body.operator.type.value,
                operator_credit_code=body.operator.credit_code,
                mode=body.mode.value,
                start_date=body.start.isoformat(),
                end_date=body.end.isoformat(),
                rent_fen=body.rent_fen,
                schedule=body.schedule.value,
                deposit_fen=body.deposit_fen,
                escalation_bp=body.escalation_bp,
                attachments=[body.signed_contract, body.village_resolution],
                note=body.note,
            ),
        ),
        update_id=f"contract-{asset.id}-{body_digest(body.model_dump(mode='json'))}",
        result_type=ProposalResult,
    )
    return ContractProposalPublic(proposal_id=result.proposal_id, task_id=result.task_id, status=result.status)
