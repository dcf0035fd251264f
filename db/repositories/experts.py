"""The expert library (专家库). Conflicts are stored as {"townships": [...], "organisations": [...]}."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Expert


def expert_conflicts(*, townships: Sequence[str], organisations: Sequence[str]) -> dict[str, list[str]]:
    """The one shape of `Expert.conflicts` (the CSV import and the draw use it too)."""
    return {"townships": list(townships), "organisations": list(organisations)}


async def get_expert(session: AsyncSession, *, expert_id: int) -> Expert | None:
    """One expert by id."""
    return await session.get(Expert, expert_id)


async def get_expert_by_identity(
    session: AsyncSession, *, name: str, region_code: str, affiliation: str
) -> Expert | None:
    """The expert with this (name, region, affiliation), which is unique in the library."""
    stmt = select(Expert).where(
        Expert.name == name, Expert.region_code == region_code, Expert.affiliation == affiliation
    )
    return await session.scalar(stmt)


async def get_expert_by_user(session: AsyncSession, *, user_id: int) -> Expert | None:
    """The expert whose login account is this user."""
    return await session.scalar(select(Expert).where(Expert.user_id == user_id))


@dataclass(frozen=True)
class ExpertFilter:
    """List filters; `scope_prefix` limits to the caller's region, `region_prefix` to a region inside it."""

    scope_prefix: str
    region_prefix: str | None = None
    specialty: str | None = None
    active: bool | None = None
    text: str | None = None


def _filtered(stmt: Select[Any], f: ExpertFilter) -> Select[Any]:
    stmt = stmt.where(Expert.region_code.startswith(f.scope_prefix))
    if f.region_prefix:
        stmt = stmt.where(Expert.region_code.startswith(f.region_prefix))
    if f.specialty:
        stmt = stmt.where(Expert.specialties.contains([f.specialty]))
    if f.active is not None:
        stmt = stmt.where(Expert.active.is_(f.active))
    if f.text:
        pattern = "%" + f.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(Expert.name.ilike(pattern), Expert.affiliation.ilike(pattern)))
    return stmt


async def list_experts(
    session: AsyncSession, *, filters: ExpertFilter, limit: int, offset: int
) -> tuple[Sequence[Expert], int]:
    """A page of experts by region and name, and the total that match."""
    total = int(await session.scalar(_filtered(select(func.count()).select_from(Expert), filters)) or 0)
    stmt = _filtered(select(Expert), filters).order_by(Expert.region_code, Expert.name, Expert.id)
    rows = await session.scalars(stmt.limit(limit).offset(offset))
    return rows.all(), total


async def create_expert(
    session: AsyncSession,
    *,
    name: str,
    specialties: Sequence[str],
    region_code: str,
    affiliation: str,
    conflict_townships: Sequence[str],
    conflict_organisations: Sequence[str],
    active: bool,
    user_id: int | None,
) -> Expert:
    """Add an expert to the library (flushes to get its id)."""
    expert = Expert(
        name=name,
        specialties=list(specialties),
        region_code=region_code,
        affiliation=affiliation,
        conflicts=expert_conflicts(townships=conflict_townships, organisations=conflict_organisations),
        active=active,
        user_id=user_id,
    )
    session.add(expert)
    await session.flush()
    return expert


async def update_expert(session: AsyncSession, *, expert_id: int, values: dict[str, Any]) -> Expert | None:
    """Change the given columns of one expert and return the stored row."""
    if values:
        await session.execute(update(Expert).where(Expert.id == expert_id).values(**values))
    return await session.get(Expert, expert_id, populate_existing=True)
