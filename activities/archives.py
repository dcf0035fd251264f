"""Recolouring the three-colour archives (db.repositories.archives) from the activities whose facts change them: a
stage change, a registration, a platform card, a dividend round's step, an approved distribution rule, a check."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import get_settings
from db.repositories.archives import refresh_archives, refresh_many, round_projects


async def recolour(session: AsyncSession, project_codes: Sequence[str], at: datetime) -> int:
    """Recolour the archives of these projects as of `at` (the settings' limits, the local date)."""
    settings = get_settings()
    today = at.astimezone(ZoneInfo(settings.time_zone)).date()
    return await refresh_many(
        session,
        project_codes=project_codes,
        today=today,
        at=at,
        rules=settings.archives.rules(),
        time_zone=settings.time_zone,
    )


async def recolour_round(session: AsyncSession, round_id: str, at: datetime) -> int:
    """Recolour the distribution archives of the projects a round pays."""
    return await recolour(session, await round_projects(session, round_id=round_id), at)


async def refresh_project(session: AsyncSession, project_code: str, at: datetime) -> None:
    """Recolour one project's archives as of `at` (a fact of it changed)."""
    settings = get_settings()
    await refresh_archives(
        session,
        project_code=project_code,
        today=at.astimezone(ZoneInfo(settings.time_zone)).date(),
        at=at,
        rules=settings.archives.rules(),
        time_zone=settings.time_zone,
    )
