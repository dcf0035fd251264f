"""The approval chain's records: expert draws, revisions, public notices and objections."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import ApplicationRevision, DecisionRecord, Expert, ExpertDraw, Notice, Objection


async def list_city_experts(session: AsyncSession, *, city_prefix: str) -> Sequence[Expert]:
    """Every expert of the library registered inside a city (active or not: the draw records why not)."""
    stmt = select(Expert).where(Expert.region_code.startswith(city_prefix)).order_by(Expert.id)
    return (await session.scalars(stmt)).all()


async def get_draw(session: AsyncSession, *, draw_key: str) -> ExpertDraw | None:
    """A recorded draw by its key."""
    return await session.scalar(select(ExpertDraw).where(ExpertDraw.draw_key == draw_key))


async def create_draw(session: AsyncSession, *, values: dict[str, Any]) -> ExpertDraw:
    """Record a draw once per key (an activity retry finds the first record)."""
    await session.execute(insert(ExpertDraw).values(**values).on_conflict_do_nothing(index_elements=["draw_key"]))
    draw = await get_draw(session, draw_key=values["draw_key"])
    assert draw is not None
    return draw


async def list_draws(session: AsyncSession, *, project_code: str) -> Sequence[ExpertDraw]:
    """A project's draws, oldest first."""
    stmt = select(ExpertDraw).where(ExpertDraw.project_code == project_code).order_by(ExpertDraw.id)
    return (await session.scalars(stmt)).all()


async def list_declined_experts(session: AsyncSession, *, project_code: str, round_: int) -> set[int]:
    """Library ids of the experts who declined a seat of this project's panel in `round_`."""
    stmt = select(DecisionRecord.details).where(
        DecisionRecord.project_code == project_code, DecisionRecord.decision == "decline"
    )
    return {
        int(d["expert_id"])
        for d in await session.scalars(stmt)
        if d.get("round") == round_ and isinstance(d.get("expert_id"), int)
    }


async def create_revision(session: AsyncSession, *, values: dict[str, Any]) -> bool:
    """Store a revision once per revision task; False when it was stored already."""
    stmt = (
        insert(ApplicationRevision)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["task_id"])
        .returning(ApplicationRevision.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def list_revisions(session: AsyncSession, *, project_code: str) -> Sequence[ApplicationRevision]:
    """A project's revisions, oldest first."""
    stmt = select(ApplicationRevision).where(ApplicationRevision.project_code == project_code)
    return (await session.scalars(stmt.order_by(ApplicationRevision.round))).all()


async def create_notice(session: AsyncSession, *, values: dict[str, Any]) -> None:
    """Open a notice unless it exists (retries)."""
    await session.execute(insert(Notice).values(**values).on_conflict_do_nothing(index_elements=["id"]))


async def update_notice(session: AsyncSession, *, notice_id: str, status: str) -> None:
    """Close a notice as completed or interrupted."""
    await session.execute(update(Notice).where(Notice.id == notice_id).values(status=status))


async def list_notices(session: AsyncSession, *, project_code: str) -> Sequence[Notice]:
    """A project's notices, oldest first."""
    stmt = select(Notice).where(Notice.project_code == project_code).order_by(Notice.starts_at)
    return (await session.scalars(stmt)).all()


async def create_objection(session: AsyncSession, *, values: dict[str, Any]) -> None:
    """Store an objection unless it exists (retries)."""
    await session.execute(insert(Objection).values(**values).on_conflict_do_nothing(index_elements=["id"]))


async def update_objection(
    session: AsyncSession, *, objection_id: str, status: str, resolution: str, resolved_by: int, at: datetime
) -> None:
    """Record the county's resolution of an objection."""
    await session.execute(
        update(Objection)
        .where(Objection.id == objection_id)
        .values(status=status, resolution=resolution, resolved_by=resolved_by, resolved_at=at)
    )


async def list_objections(session: AsyncSession, *, project_code: str) -> Sequence[Objection]:
    """A project's objections, oldest first."""
    stmt = select(Objection).where(Objection.project_code == project_code).order_by(Objection.filed_at)
    return (await session.scalars(stmt)).all()
