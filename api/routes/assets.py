"""The asset register (资产台账): list with filters, and one asset with its four rights and platform card."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from api.asset_records import local_today
from api.deps import CurrentUser, Principal, SessionDep, SettingsDep, region_filter
from api.edge import CodePath, EdgeRoute, Offset
from api.errors import forbidden, not_found
from api.schemas import (
    AssetDetail,
    AssetProjectRef,
    AssetsPublic,
    AssetSummary,
    HouseholdRef,
    IncomeRight,
    IncomeSharePublic,
    OperatingRight,
    OwnerSharePublic,
    OwnershipRight,
)
from api.timeline import project_timeline
from db.models import Asset, Project
from db.repositories.assets import (
    AssetFilter,
    get_asset,
    get_household_head,
    list_asset_beneficiaries,
    list_asset_owners,
    list_assets,
)
from db.repositories.audit import list_audit_entries, project_chain
from domain.assets import AssetClass, AssetStatus
from domain.enums import RegionLevel, Role
from domain.regions import region_prefix

router = APIRouter(prefix="/assets", tags=["assets"], route_class=EdgeRoute)
READERS = tuple(r for r in Role if r is not Role.EXPERT)


def share_percent(share_bp: int) -> str:
    """Basis points as a percentage with two decimals: 6000 → "60.00%"."""
    return f"{share_bp // 100}.{share_bp % 100:02d}%"


def _summary(a: Asset) -> AssetSummary:
    return AssetSummary(
        id=a.id,
        name=a.name,
        asset_class=a.asset_class,
        value_fen=a.value_fen,
        village_code=a.village_code,
        township_code=a.township_code,
        county_code=a.county_code,
        status=a.status,
        operation_colour=a.operation_colour,
        operator_name=a.operator_name,
        contract_end=a.contract_end,
        household_code=a.household_code,
        project_code=a.project_code,
        platform_card_no=a.platform_card_no,
        registration_status=a.registration_status,
    )


async def _region_prefix(session: AsyncSession, user: Principal, code: str) -> str:
    region = await region_filter(session, user, "region", code)
    return region_prefix(code, RegionLevel(region.level))


@router.get("", response_model=AssetsPublic)
async def list_(
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    region: Annotated[
        str | None,
        Query(pattern=r"^[0-9]{6}([0-9]{3}){0,2}$", description="区划代码（本辖区内） / region code inside yours"),
    ] = None,
    asset_class: Annotated[AssetClass | None, Query(alias="class", description="资产类别 / asset class")] = None,
    operator: Annotated[str | None, Query(max_length=100, description="经营主体包含 / operator contains")] = None,
    status: Annotated[AssetStatus | None, Query(description="使用状态 / use status")] = None,
    contract_expiring_before: Annotated[
        date | None, Query(description="合同到期日早于 / contract ends before this date")
    ] = None,
    idle: Annotated[bool | None, Query(description="闲置资产 / idle (true) or not idle (false)")] = None,
    arrears: Annotated[
        bool | None, Query(description="欠缴租金 / an open or partly paid receivable past due (true) or none (false)")
    ] = None,
    expiring_within_days: Annotated[
        int | None,
        Query(ge=0, le=3650, description="合同将在N天内到期 / the active contract ends within N days from today"),
    ] = None,
    operation_colour: Annotated[
        str | None, Query(pattern="^(green|blue|red)$", description="运营档案颜色 / operation archive colour")
    ] = None,
    project: Annotated[str | None, Query(max_length=32, description="项目编号 / project code")] = None,
    registration_status: Annotated[
        str | None,
        Query(
            pattern="^(draft|waiting_for_platform|registered)$",
            description="平台登记状态 / platform registration status",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> AssetsPublic:
    """Assets in your region, newest first, with filters and paging (资产台账)."""
    user.require_role(*READERS)
    rows, total = await list_assets(
        session,
        filters=AssetFilter(
            scope_prefix=user.region_prefix,
            region_prefix=await _region_prefix(session, user, region) if region else None,
            asset_class=asset_class.value if asset_class else None,
            operator=operator,
            status=status.value if status else None,
            contract_expiring_before=contract_expiring_before,
            idle=idle,
            project_code=project,
            registration_status=registration_status,
            today=local_today(settings.time_zone),
            arrears=arrears,
            expiring_within_days=expiring_within_days,
            operation_colour=operation_colour,
        ),
        limit=limit,
        offset=offset,
    )
    return AssetsPublic(items=[_summary(a) for a in rows], count=total, limit=limit, offset=offset)


@router.get("/{asset_id}", response_model=AssetDetail)
async def detail(asset_id: CodePath, user: CurrentUser, session: SessionDep) -> AssetDetail:
    """One asset: ownership shares, operating contract, income shares, supervision, platform card (资产详情)."""
    user.require_role(*READERS)
    asset = await get_asset(session, asset_id=asset_id)
    if asset is None:
        raise not_found(f"asset {asset_id}")
    owners = await list_asset_owners(session, asset_id=asset.id)
    if not (user.covers(asset.village_code) or any(user.covers(o.village_code) for o in owners)):
        raise forbidden(f"asset {asset_id} lies outside your region", "region_forbidden")
    project = await session.get(Project, asset.project_code)
    assert project is not None  # assets.project_code is a foreign key
    beneficiaries = await list_asset_beneficiaries(session, asset_id=asset.id)
    household = None
    if asset.household_code:
        head = await get_household_head(session, code=asset.household_code)
        household = HouseholdRef(household_code=asset.household_code, head_name=head or "")
    return AssetDetail(
        **_summary(asset).model_dump(),
        quantity=asset.quantity,
        unit=asset.unit,
        location=asset.location,
        ownership=OwnershipRight(
            owners=[
                OwnerSharePublic(
                    village_code=o.village_code,
                    village_name=o.village_name,
                    share_bp=o.share_bp,
                    share_percent=share_percent(o.share_bp),
                )
                for o in owners
            ],
            household=household,
        ),
        operating=OperatingRight(
            operator_name=asset.operator_name,
            operator_type=asset.operator_type,
            contract_mode=asset.contract_mode,
            contract_start=asset.contract_start,
            contract_end=asset.contract_end,
            contract_term_years=asset.contract_term_years,
            annual_rent_fen=asset.annual_rent_fen,
        ),
        income=IncomeRight(
            households=[
                IncomeSharePublic(household_code=b.household_code, head_name=b.head_name, shares=b.shares)
                for b in beneficiaries
            ],
            total_shares=sum(b.shares for b in beneficiaries),
        ),
        supervision=dict(asset.supervision),
        platform_registered_at=asset.platform_registered_at,
        project=AssetProjectRef(code=project.code, name=project.name, stage=project.stage),
        history=project_timeline(await list_audit_entries(session, chain=project_chain(project.code)), user.id),
        created_at=asset.created_at,
    )
