"""Progress reports, completions and registered assets (the construction and registration read model)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Asset, AssetIncomeShare, AssetOwnership, Completion, DecisionRecord, ProgressReport, Task
from db.repositories.notifications import resolve_task_notifications
from domain.enums import Decision, TaskKind, TaskStatus


async def get_last_progress(session: AsyncSession, *, project_code: str) -> ProgressReport | None:
    """The latest reported week of a project."""
    stmt = (
        select(ProgressReport)
        .where(ProgressReport.project_code == project_code)
        .order_by(ProgressReport.week_start.desc())
        .limit(1)
    )
    return await session.scalar(stmt)


async def get_progress_for_week(session: AsyncSession, *, project_code: str, week_start: date) -> ProgressReport | None:
    """The report of one week, if any."""
    stmt = select(ProgressReport).where(
        ProgressReport.project_code == project_code, ProgressReport.week_start == week_start
    )
    return await session.scalar(stmt)


async def list_progress(session: AsyncSession, *, project_code: str) -> Sequence[ProgressReport]:
    """A project's progress reports, oldest week first."""
    stmt = select(ProgressReport).where(ProgressReport.project_code == project_code)
    return (await session.scalars(stmt.order_by(ProgressReport.week_start))).all()


async def create_progress(session: AsyncSession, *, values: dict[str, Any]) -> bool:
    """Store a week's report once (a retry or a second report of the week adds nothing)."""
    stmt = (
        insert(ProgressReport)
        .values(**values)
        .on_conflict_do_nothing(constraint="uq_progress_week")
        .returning(ProgressReport.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def close_progress_reminders(session: AsyncSession, *, project_code: str, at: datetime, by: int | None) -> int:
    """Close the project's open weekly reminders: a report (or completion) answered them."""
    result = await session.execute(
        update(Task)
        .where(
            Task.project_code == project_code,
            Task.kind == TaskKind.PROGRESS_REPORT.value,
            Task.status == TaskStatus.OPEN.value,
        )
        .values(status=TaskStatus.DECIDED.value, decided_at=at, decided_by=by, decision="report")
        .returning(Task.id)
    )
    closed = list(result.scalars())
    await resolve_task_notifications(session, task_ids=closed, at=at)
    return len(closed)


async def count_open_reminders(session: AsyncSession, *, project_code: str) -> int:
    """Open weekly reminders of a project."""
    stmt = select(Task.id).where(
        Task.project_code == project_code,
        Task.kind == TaskKind.PROGRESS_REPORT.value,
        Task.status == TaskStatus.OPEN.value,
    )
    return len((await session.scalars(stmt)).all())


async def get_acceptance_decided_at(session: AsyncSession, *, project_code: str) -> datetime | None:
    """When the county last accepted the project's completion (竣工验收), if it has."""
    stmt = (
        select(DecisionRecord.decided_at)
        .join(Task, Task.id == DecisionRecord.task_id)
        .where(
            DecisionRecord.project_code == project_code,
            Task.kind == TaskKind.ACCEPTANCE.value,
            DecisionRecord.decision == Decision.ACCEPT.value,
        )
        .order_by(DecisionRecord.decided_at.desc())
        .limit(1)
    )
    return await session.scalar(stmt)


async def create_completion(session: AsyncSession, *, values: dict[str, Any]) -> bool:
    """Store a completion report once per id."""
    stmt = insert(Completion).values(**values).on_conflict_do_nothing(index_elements=["id"]).returning(Completion.id)
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def update_completion(session: AsyncSession, *, completion_id: str, values: dict[str, Any]) -> None:
    """Record the county's acceptance or rectification list."""
    await session.execute(update(Completion).where(Completion.id == completion_id).values(**values))


async def list_completions(session: AsyncSession, *, project_code: str) -> Sequence[Completion]:
    """A project's completion reports, oldest first."""
    stmt = select(Completion).where(Completion.project_code == project_code).order_by(Completion.reported_at)
    return (await session.scalars(stmt)).all()


async def delete_draft_assets(session: AsyncSession, *, project_code: str) -> int:
    """Withdraw assets of an earlier registration the county returned (never one with a platform card)."""
    ids = (
        await session.scalars(
            select(Asset.id).where(
                Asset.project_code == project_code,
                Asset.platform_card_no.is_(None),
                Asset.registration_status.in_(("draft", "confirmed")),
            )
        )
    ).all()
    if not ids:
        return 0
    await session.execute(delete(AssetOwnership).where(AssetOwnership.asset_id.in_(ids)))
    await session.execute(delete(AssetIncomeShare).where(AssetIncomeShare.asset_id.in_(ids)))
    await session.execute(delete(Asset).where(Asset.id.in_(ids)))
    return len(ids)


async def create_asset(
    session: AsyncSession,
    *,
    values: dict[str, Any],
    owners: Sequence[tuple[str, int]],
    income: Sequence[tuple[str, int]],
) -> bool:
    """Store an asset with its ownership and income shares, once per asset id."""
    stmt = insert(Asset).values(**values).on_conflict_do_nothing(index_elements=["id"]).returning(Asset.id)
    if (await session.execute(stmt)).scalar_one_or_none() is None:
        return False
    for village, share_bp in owners:
        session.add(AssetOwnership(asset_id=values["id"], village_code=village, share_bp=share_bp))
    for household, shares in income:
        session.add(AssetIncomeShare(asset_id=values["id"], household_code=household, shares=shares))
    await session.flush()
    return True


async def update_project_assets(session: AsyncSession, *, project_code: str, values: dict[str, Any]) -> None:
    """Change every registered (not yet carded) asset of a project, e.g. confirmed by the county."""
    await session.execute(
        update(Asset).where(Asset.project_code == project_code, Asset.platform_card_no.is_(None)).values(**values)
    )
