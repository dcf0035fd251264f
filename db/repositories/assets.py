"""The asset register (资产台账): assets with their rights, registration state, and the embedded platform's cards."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    Asset,
    AssetIncomeShare,
    AssetOwnership,
    Contract,
    Household,
    PlatformCard,
    Project,
    Receivable,
    Region,
)
from domain.operation import ContractStatus, ReceivableStatus
from domain.platform_payloads import PLATFORM_WAITING


async def get_asset(session: AsyncSession, *, asset_id: str, for_update: bool = False) -> Asset | None:
    """One asset by id (row-locked when `for_update`)."""
    return await session.get(Asset, asset_id, with_for_update=for_update, populate_existing=for_update)


@dataclass(frozen=True)
class Owner:
    """One owning village collective's share, with the village's name."""

    village_code: str
    village_name: str
    share_bp: int


async def list_asset_owners(session: AsyncSession, *, asset_id: str) -> list[Owner]:
    """The ownership shares (所有权) of an asset, largest first."""
    rows = await session.execute(
        select(AssetOwnership.village_code, Region.name, AssetOwnership.share_bp)
        .join(Region, Region.code == AssetOwnership.village_code)
        .where(AssetOwnership.asset_id == asset_id)
        .order_by(AssetOwnership.share_bp.desc(), AssetOwnership.village_code)
    )
    return [Owner(village_code=c, village_name=n, share_bp=bp) for c, n, bp in rows.all()]


@dataclass(frozen=True)
class Beneficiary:
    """One household's income shares (收益权): its code and head's name, never its ID number or bank account."""

    household_code: str
    head_name: str
    shares: int


async def list_asset_beneficiaries(session: AsyncSession, *, asset_id: str) -> list[Beneficiary]:
    """The beneficiary households of an asset with their quantified shares, by household code."""
    # Only the two public columns are selected: the ID number and bank account never leave the table here.
    rows = await session.execute(
        select(AssetIncomeShare.household_code, Household.head_name, AssetIncomeShare.shares)
        .join(Household, Household.code == AssetIncomeShare.household_code)
        .where(AssetIncomeShare.asset_id == asset_id)
        .order_by(AssetIncomeShare.household_code)
    )
    return [Beneficiary(household_code=c, head_name=n, shares=s) for c, n, s in rows.all()]


async def get_household_head(session: AsyncSession, *, code: str) -> str | None:
    """The head's name of a household (for a household-class asset), or None."""
    name: str | None = await session.scalar(select(Household.head_name).where(Household.code == code))
    return name


@dataclass(frozen=True)
class IncomeTotals:
    """How many households hold income shares in an asset, and how many shares in all."""

    households: int
    shares: int


async def get_income_totals(session: AsyncSession, *, asset_id: str) -> IncomeTotals:
    """Counts of the income shares of one asset."""
    row = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(AssetIncomeShare.shares), 0)).where(
                AssetIncomeShare.asset_id == asset_id
            )
        )
    ).one()
    return IncomeTotals(households=int(row[0]), shares=int(row[1]))


@dataclass(frozen=True)
class AssetFilter:
    """List filters; `scope_prefix` limits to the caller's region, `region_prefix` to a region inside it."""

    scope_prefix: str
    region_prefix: str | None = None
    asset_class: str | None = None
    operator: str | None = None
    status: str | None = None
    contract_expiring_before: date | None = None
    idle: bool | None = None
    project_code: str | None = None
    registration_status: str | None = None
    # operation filters, judged on `today` (the day where the projects are)
    today: date | None = None
    arrears: bool | None = None
    expiring_within_days: int | None = None
    operation_colour: str | None = None


def _like(fragment: str) -> str:
    return "%" + fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _in_region(prefix: str) -> ColumnElement[bool]:
    """The asset lies in the region, or a village of the region co-owns it (a co-owner sees what it owns)."""
    co_owned = (
        select(AssetOwnership.asset_id)
        .where(AssetOwnership.asset_id == Asset.id, AssetOwnership.village_code.startswith(prefix, autoescape=True))
        .exists()
    )
    return or_(Asset.village_code.startswith(prefix, autoescape=True), co_owned)


def _filtered(stmt: Select[Any], f: AssetFilter) -> Select[Any]:
    stmt = stmt.where(_in_region(f.scope_prefix))
    if f.region_prefix:
        stmt = stmt.where(_in_region(f.region_prefix))
    if f.asset_class:
        stmt = stmt.where(Asset.asset_class == f.asset_class)
    if f.operator:
        stmt = stmt.where(Asset.operator_name.ilike(_like(f.operator), escape="\\"))
    if f.status:
        stmt = stmt.where(Asset.status == f.status)
    if f.contract_expiring_before:
        stmt = stmt.where(Asset.contract_end < f.contract_expiring_before)
    if f.idle is True:
        stmt = stmt.where(Asset.status == "idle")
    elif f.idle is False:
        stmt = stmt.where(Asset.status != "idle")
    if f.project_code:
        stmt = stmt.where(Asset.project_code == f.project_code)
    if f.registration_status:
        stmt = stmt.where(Asset.registration_status == f.registration_status)
    if f.operation_colour:
        stmt = stmt.where(Asset.operation_colour == f.operation_colour)
    return _operation_filtered(stmt, f)


def _operation_filtered(stmt: Select[Any], f: AssetFilter) -> Select[Any]:
    if f.arrears is not None:
        assert f.today is not None
        unpaid = (
            select(Receivable.id)
            .where(
                Receivable.asset_id == Asset.id,
                Receivable.status.in_((ReceivableStatus.OPEN.value, ReceivableStatus.PARTIAL.value)),
                Receivable.due_date < f.today,
            )
            .exists()
        )
        stmt = stmt.where(unpaid if f.arrears else ~unpaid)
    if f.expiring_within_days is not None:
        assert f.today is not None
        expiring = (
            select(Contract.id)
            .where(
                Contract.asset_id == Asset.id,
                Contract.status == ContractStatus.ACTIVE.value,
                Contract.end_date >= f.today,
                Contract.end_date <= f.today + timedelta(days=f.expiring_within_days),
            )
            .exists()
        )
        stmt = stmt.where(expiring)
    return stmt


async def list_assets(
    session: AsyncSession, *, filters: AssetFilter, limit: int, offset: int
) -> tuple[Sequence[Asset], int]:
    """A page of assets, newest first, and the total that match."""
    total = int(await session.scalar(_filtered(select(func.count()).select_from(Asset), filters)) or 0)
    rows = await session.scalars(
        _filtered(select(Asset), filters).order_by(Asset.created_at.desc(), Asset.id).limit(limit).offset(offset)
    )
    return rows.all(), total


async def update_asset_registered(session: AsyncSession, *, asset_id: str, card_no: str, at: datetime) -> bool:
    """Record the platform card on an asset that has none yet; False when it already carries one."""
    result = await session.execute(
        update(Asset)
        .where(Asset.id == asset_id, Asset.platform_card_no.is_(None))
        .values(platform_card_no=card_no, platform_registered_at=at, registration_status="registered")
        .returning(Asset.id)
    )
    return result.scalar_one_or_none() is not None


async def update_asset_waiting(session: AsyncSession, *, asset_id: str) -> None:
    """Mark an unregistered asset as waiting for the platform (a registered one keeps its state)."""
    await session.execute(
        update(Asset)
        .where(Asset.id == asset_id, Asset.platform_card_no.is_(None))
        .values(registration_status="waiting_for_platform")
    )


async def update_project_platform_wait(session: AsyncSession, *, project_code: str, waiting: bool) -> None:
    """Set the project's `waiting_for` to the platform, or clear it if (and only if) it names the platform."""
    if waiting:
        stmt = update(Project).where(Project.code == project_code).values(waiting_for=PLATFORM_WAITING)
    else:
        stmt = (
            update(Project)
            .where(Project.code == project_code, Project.waiting_for == PLATFORM_WAITING)
            .values(waiting_for="")
        )
    await session.execute(stmt)


async def get_platform_card(session: AsyncSession, *, asset_id: str) -> PlatformCard | None:
    """The embedded platform's card of an asset, or None."""
    card: PlatformCard | None = await session.scalar(select(PlatformCard).where(PlatformCard.asset_id == asset_id))
    return card


async def create_platform_card(
    session: AsyncSession, *, asset_id: str, county_code: str, day: date, payload: dict[str, Any]
) -> str:
    """Issue the embedded platform's card `SZ{county}{yyyymmdd}{nnnnn}` once per asset; a repeat returns the first."""
    existing = await get_platform_card(session, asset_id=asset_id)
    if existing is not None:
        return existing.card_no
    prefix = f"SZ{county_code}{day:%Y%m%d}"
    # The sequence is the next number under this prefix; the lock serialises issuers of the same county and day.
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:p))"), {"p": f"platform_cards:{prefix}"})
    last = await session.scalar(
        select(PlatformCard.card_no)
        .where(PlatformCard.card_no.startswith(prefix, autoescape=True))
        .order_by(func.length(PlatformCard.card_no).desc(), PlatformCard.card_no.desc())
        .limit(1)
    )
    seq = int(last[len(prefix) :]) + 1 if last else 1
    inserted = await session.scalar(
        insert(PlatformCard)
        .values(card_no=f"{prefix}{seq:05d}", asset_id=asset_id, payload=payload)
        .on_conflict_do_nothing(index_elements=[PlatformCard.asset_id])
        .returning(PlatformCard.card_no)
    )
    if inserted is not None:
        return str(inserted)
    # A concurrent registration of the same asset committed first: its card stands.
    stored = await get_platform_card(session, asset_id=asset_id)
    assert stored is not None
    return stored.card_no
