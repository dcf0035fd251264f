"""Beneficiary households."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Household


async def list_households_by_codes(session: AsyncSession, *, codes: Sequence[str]) -> Sequence[Household]:
    """The households among `codes` that exist."""
    if not codes:
        return []
    return (await session.scalars(select(Household).where(Household.code.in_(list(codes))))).all()
