"""Distribution rules of an asset (收益分配方案): the versions per year, and a proposal sent to the project's
OperationWorkflow (the township reviews it, the county approves it; rounds of the year pin the approved version)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.asset_records import readable_asset
from api.deps import CurrentUser, SessionDep, SettingsDep, TemporalDep
from api.distribution_schemas import (
    DistributionRuleIn,
    DistributionRulePublic,
    DistributionRulesPublic,
    RuleProposalPublic,
)
from api.edge import CodePath, EdgeRoute
from api.errors import conflict, invalid
from api.updates import actor_for, body_digest, execute_update, phase_owner
from db.models import Asset, DistributionRule, Project
from db.repositories.assets import list_asset_beneficiaries
from db.repositories.attachments import list_uploaded_by
from db.repositories.operation_checks import covering, rules_covering
from domain.assets import AssetClass, AssetStatus
from domain.distribution import Bucket, Buckets, Combine, WeightBasis, rule_as_json, rule_problems
from domain.distribution import DistributionRule as Rule
from domain.enums import Role, Stage, UpdateName
from domain.operation_payloads import ProposalResult, ProposeRuleInput, RuleTerms

router = APIRouter(prefix="/assets", tags=["operation"], route_class=EdgeRoute)


def _public(r: DistributionRule) -> DistributionRulePublic:
    return DistributionRulePublic(
        id=r.id,
        fiscal_year=r.fiscal_year,
        version=r.version,
        status=r.status,
        rule=r.rule,
        excluded=dict(r.excluded),
        attachments=list(r.attachments),
        asset_id=r.asset_id,
        group_assets=[str(m) for m in r.members],
        note=r.note,
        proposed_at=r.proposed_at,
        decided_at=r.decided_at,
    )


async def _group(session: AsyncSession, asset: Asset, group: list[str]) -> tuple[list[str], list[dict[str, str]]]:
    """The group's other assets, each checked: an operating asset of the same project and village, not disposed,
    named once and not the rule's own asset."""
    problems: list[dict[str, str]] = []
    found = {a.id: a for a in await session.scalars(select(Asset).where(Asset.id.in_(group)))} if group else {}
    seen: set[str] = set()
    for i, asset_id in enumerate(group):
        field, other = f"group_assets[{i}]", found.get(asset_id)
        if asset_id == asset.id or asset_id in seen:
            problems.append({"field": field, "rule": "distinct", "message": f"{asset_id} is named twice"})
        elif other is None or other.project_code != asset.project_code:
            problems.append(
                {"field": field, "rule": "same_project", "message": f"{asset_id}: no such asset of this project"}
            )
        elif other.village_code != asset.village_code:
            problems.append({"field": field, "rule": "same_village", "message": f"{asset_id} is of another village"})
        elif other.asset_class != AssetClass.OPERATING or other.status == AssetStatus.DISPOSED:
            problems.append(
                {"field": field, "rule": "operating", "message": f"{asset_id} is not an operating asset in use"}
            )
        seen.add(asset_id)
    return sorted(seen - {asset.id}), problems


@router.get("/{asset_id}/distribution-rules", response_model=DistributionRulesPublic)
async def list_rules(asset_id: CodePath, user: CurrentUser, session: SessionDep) -> DistributionRulesPublic:
    """The asset's distribution rule versions, newest year and version first (every version kept)."""
    asset = await readable_asset(session, user, asset_id)
    rows = await session.scalars(
        select(DistributionRule)
        .where(covering([asset.id]))
        .order_by(DistributionRule.fiscal_year.desc(), DistributionRule.version.desc(), DistributionRule.id)
    )
    return DistributionRulesPublic(items=[_public(r) for r in rows])


@router.post("/{asset_id}/distribution-rules", response_model=RuleProposalPublic, status_code=201)
async def propose_rule(
    asset_id: CodePath,
    body: DistributionRuleIn,
    user: CurrentUser,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> RuleProposalPublic:
    """Propose the village's distribution rule for a year (its meeting's resolution attached); the township
    reviews it and the county approves it."""
    asset = await readable_asset(session, user, asset_id)
    user.require_role(Role.PROJECT_MANAGER)
    project = await session.get(Project, asset.project_code)
    assert project is not None
    if project.stage != Stage.OPERATION.value:
        raise conflict("wrong_stage", f"project {project.code} is at {project.stage}, not in operation")
    if asset.asset_class != AssetClass.OPERATING:
        raise conflict("not_operating", "only an operating asset's income is distributed by a rule")
    members, problems = await _group(session, asset, body.group_assets)
    if problems:
        raise invalid(problems)
    pending = await rules_covering(
        session, asset_ids=[asset.id, *members], fiscal_year=body.fiscal_year, statuses=["proposed"]
    )
    if pending:
        raise conflict(
            "proposal_pending",
            f"a distribution rule for {body.fiscal_year} covering these assets is under review ({pending[0].id})",
        )
    today = datetime.now(UTC).astimezone(ZoneInfo(settings.time_zone)).date()
    rule = Rule(
        buckets=Buckets(**body.buckets.model_dump()),
        basis=WeightBasis(body.basis),
        deduct_upkeep=body.deduct_upkeep,
        coefficients_bp={k.value: v for k, v in body.coefficients_bp.items()},
        combine=Combine(body.combine),
        min_fen=body.min_fen,
        max_fen=body.max_fen,
        residue_to=Bucket(body.residue_to),
    )
    problems = [{"field": p.field, "rule": p.rule, "message": p.message} for p in rule_problems(rule)]
    if body.fiscal_year > today.year + 1:
        problems.append({"field": "fiscal_year", "rule": "not_beyond_next", "message": "this year or the next"})
    beneficiaries = {
        b.household_code for a in (asset.id, *members) for b in await list_asset_beneficiaries(session, asset_id=a)
    }
    problems += [
        {
            "field": f"excluded[{i}].household_code",
            "rule": "beneficiary",
            "message": "not a beneficiary of these assets",
        }
        for i, e in enumerate(body.excluded)
        if e.household_code not in beneficiaries
    ]
    if body.village_resolution not in await list_uploaded_by(session, user_id=user.id, shas=[body.village_resolution]):
        problems.append(
            {"field": "village_resolution", "rule": "uploaded_by_you", "message": "attach a file you uploaded"}
        )
    if problems:
        raise invalid(problems)
    actor = await actor_for(session, user)
    result = await execute_update(
        temporal,
        session,
        phase_owner(project),
        UpdateName.PROPOSE_RULE,
        ProposeRuleInput(
            actor=actor,
            terms=RuleTerms(
                asset_id=asset.id,
                fiscal_year=body.fiscal_year,
                rule=rule_as_json(rule),
                resolution=body.village_resolution,
                excluded={e.household_code: e.reason for e in body.excluded},
                note=body.note,
                members=tuple(members),
            ),
        ),
        update_id=f"rule-{asset.id}-{body_digest(body.model_dump(mode='json'))}",
        result_type=ProposalResult,
    )
    return RuleProposalPublic(rule_id=result.proposal_id, task_id=result.task_id, status=result.status)
