"""Regions: the administrative tree."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Region
from domain.enums import RegionLevel
from domain.regions import region_prefix


async def get_region(session: AsyncSession, *, code: str) -> Region | None:
    """One region by code."""
    return await session.get(Region, code)


async def list_regions(
    session: AsyncSession, *, within_code: str, within_level: RegionLevel, level: RegionLevel | None = None
) -> Sequence[Region]:
    """Regions inside a region (itself included), optionally of one level, by code."""
    stmt = select(Region).where(Region.code.startswith(region_prefix(within_code, within_level)))
    if level is not None:
        stmt = stmt.where(Region.level == level.value)
    return (await session.scalars(stmt.order_by(Region.code))).all()


async def list_regions_by_codes(session: AsyncSession, *, codes: Sequence[str]) -> Sequence[Region]:
    """The regions among `codes` that exist."""
    if not codes:
        return []
    return (await session.scalars(select(Region).where(Region.code.in_(set(codes))))).all()


async def list_regions_page(
    session: AsyncSession,
    *,
    within_code: str,
    within_level: RegionLevel,
    parent_code: str | None,
    level: RegionLevel | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[Region], int]:
    """A page of the regions inside a region (itself included), optionally one parent's children or one level."""
    where = [Region.code.startswith(region_prefix(within_code, within_level))]
    if parent_code is not None:
        where.append(Region.parent_code == parent_code)
    if level is not None:
        where.append(Region.level == level.value)
    total = int(await session.scalar(select(func.count()).select_from(Region).where(*where)) or 0)
    stmt = select(Region).where(*where).order_by(Region.code).limit(limit).offset(offset)
    return (await session.scalars(stmt)).all(), total
