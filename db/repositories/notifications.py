"""In-app notifications and the users a task concerns."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Notification, Region, User
from domain.enums import RegionLevel
from domain.regions import ancestors, covers


async def list_users_covering(session: AsyncSession, *, role: str, code: str) -> Sequence[User]:
    """Active users of `role` whose region contains `code` (only the code's own ancestors can: ask for those)."""
    regions = {*ancestors(code).values(), code}
    rows = await session.execute(
        select(User, Region.level)
        .join(Region, Region.code == User.region_code)
        .where(User.role == role, User.active, User.region_code.in_(regions))
    )
    return [u for u, level in rows if covers(u.region_code, RegionLevel(level), code)]


async def create_notifications(
    session: AsyncSession,
    *,
    user_ids: Sequence[int],
    event_key: str,
    kind: str,
    title: str,
    body: str,
    project_code: str | None,
    task_id: str | None,
    at: datetime,
) -> int:
    """One notification per user, once per event (retries add nothing): one multi-row statement."""
    rows = [
        {
            "event_key": event_key,
            "user_id": user_id,
            "kind": kind,
            "title": title,
            "body": body,
            "project_code": project_code,
            "task_id": task_id,
            "created_at": at,
        }
        for user_id in sorted(set(user_ids))
    ]
    if not rows:
        return 0
    stmt = (
        insert(Notification)
        .values(rows)
        .on_conflict_do_nothing(constraint="uq_notification_event_user")
        .returning(Notification.id)
    )
    return len((await session.execute(stmt)).all())


async def list_notifications(
    session: AsyncSession, *, user_id: int, unread_only: bool, limit: int
) -> Sequence[Notification]:
    """A user's notifications, newest first."""
    stmt = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return (
        await session.scalars(stmt.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit))
    ).all()


async def count_unread_notifications(session: AsyncSession, *, user_id: int) -> int:
    """How many of a user's notifications are unread."""
    stmt = select(func.count()).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    return int(await session.scalar(stmt) or 0)


async def update_notification_read(
    session: AsyncSession, *, user_id: int, notification_id: int, at: datetime
) -> Notification | None:
    """Mark one of the user's notifications read (the first reading time stays); None if it is not theirs."""
    result = await session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.user_id == user_id)
        .values(read_at=func.coalesce(Notification.read_at, at))
        .returning(Notification)
    )
    return result.scalar_one_or_none()
