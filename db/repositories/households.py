"""Beneficiary households."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Household, Region
from domain.households import RowError, check_household_rows, household_values


async def list_households_by_codes(session: AsyncSession, *, codes: Sequence[str]) -> Sequence[Household]:
    """The households among `codes` that exist."""
    if not codes:
        return []
    return (await session.scalars(select(Household).where(Household.code.in_(list(codes))))).all()


async def get_household(session: AsyncSession, *, code: str) -> Household | None:
    """One household by its code."""
    return await session.scalar(select(Household).where(Household.code == code))


@dataclass(frozen=True)
class HouseholdFilter:
    """List filters; `scope_prefix` limits to the caller's region, `region_prefix` to a region inside it."""

    scope_prefix: str
    region_prefix: str | None = None
    category: str | None = None
    text: str | None = None


def _filtered(stmt: Select[Any], f: HouseholdFilter) -> Select[Any]:
    stmt = stmt.where(Household.village_code.startswith(f.scope_prefix))
    if f.region_prefix:
        stmt = stmt.where(Household.village_code.startswith(f.region_prefix))
    if f.category:
        stmt = stmt.where(Household.categories.contains([f.category]))
    if f.text:
        pattern = "%" + f.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(Household.code.ilike(pattern), Household.head_name.ilike(pattern)))
    return stmt


async def list_households(
    session: AsyncSession, *, filters: HouseholdFilter, limit: int, offset: int
) -> tuple[Sequence[Household], int]:
    """A page of households by village and code, and the total that match."""
    total = int(await session.scalar(_filtered(select(func.count()).select_from(Household), filters)) or 0)
    stmt = _filtered(select(Household), filters).order_by(Household.village_code, Household.code)
    return (await session.scalars(stmt.limit(limit).offset(offset))).all(), total


async def create_household(session: AsyncSession, *, values: Mapping[str, Any]) -> Household:
    """Add one household (flushes to get its id)."""
    household = Household(**values)
    session.add(household)
    await session.flush()
    return household


async def update_household(session: AsyncSession, *, code: str, values: Mapping[str, Any]) -> Household | None:
    """Change the given columns of one household and return the stored row."""
    if values:
        await session.execute(update(Household).where(Household.code == code).values(**values))
    household = await get_household(session, code=code)
    if household is not None:
        await session.refresh(household)
    return household


async def list_household_row_errors(
    session: AsyncSession,
    rows: Sequence[tuple[int, Mapping[str, str]]],
    *,
    in_scope: Callable[[str], bool] = lambda _: True,
    tick: Callable[[int], None] = lambda _: None,
) -> list[RowError]:
    """Every problem of an import's household rows, looked up against the stored regions and households."""
    villages = {r.get("village_code", "") for _, r in rows} - {""}
    codes = {r.get("code", "") for _, r in rows} - {""}
    levels: dict[str, str] = {}
    if villages:
        found = await session.execute(select(Region.code, Region.level).where(Region.code.in_(villages)))
        levels = {code: level for code, level in found.all()}
    existing: dict[str, str] = {}
    if codes:
        found = await session.execute(select(Household.code, Household.village_code).where(Household.code.in_(codes)))
        existing = {code: village for code, village in found.all()}
    return check_household_rows(rows, region_levels=levels, existing_villages=existing, in_scope=in_scope, tick=tick)


async def update_households(
    session: AsyncSession,
    rows: Sequence[tuple[int, Mapping[str, str]]],
    *,
    tick: Callable[[int], None] = lambda _: None,
) -> int:
    """Insert checked rows, or update the household of the same code; how many were written."""
    for _, r in rows:
        values = household_values(r)
        stmt = insert(Household).values(**values)
        changes = {k: v for k, v in values.items() if k != "code"}
        await session.execute(stmt.on_conflict_do_update(index_elements=[Household.code], set_=changes))
        tick(1)
    return len(rows)
