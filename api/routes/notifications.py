"""My in-app notifications (站内通知): reminders, escalations and results, and marking them read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentUser, SessionDep, SessionsDep
from api.edge import EdgeRoute, IdPath
from api.errors import not_found
from api.schemas import NotificationPublic, NotificationsPublic
from db.models import Notification
from db.repositories.notifications import (
    count_unread_notifications,
    list_notifications,
    update_notification_read,
)

router = APIRouter(prefix="/notifications", tags=["notifications"], route_class=EdgeRoute)


def _public(n: Notification) -> NotificationPublic:
    return NotificationPublic(
        id=n.id,
        kind=n.kind,
        title=n.title,
        body=n.body,
        project_code=n.project_code,
        task_id=n.task_id,
        created_at=n.created_at,
        read_at=n.read_at,
    )


@router.get("", response_model=NotificationsPublic)
async def mine(
    user: CurrentUser,
    session: SessionDep,
    unread_only: Annotated[bool, Query(description="只看未读 / unread only")] = False,
    limit: Annotated[int, Query(ge=1, le=200, description="条数 / how many")] = 50,
) -> NotificationsPublic:
    """My notifications, newest first, with the number still unread (我的通知)."""
    rows = await list_notifications(session, user_id=user.id, unread_only=unread_only, limit=limit)
    unread = await count_unread_notifications(session, user_id=user.id)
    return NotificationsPublic(items=[_public(n) for n in rows], count=len(rows), unread=unread)


@router.post("/{notification_id}/read", response_model=NotificationPublic)
async def mark_read(notification_id: IdPath, user: CurrentUser, sessions: SessionsDep) -> NotificationPublic:
    """Mark one of my notifications read; reading it again keeps the first time (标记已读)."""
    async with sessions.begin() as tx:
        row = await update_notification_read(tx, user_id=user.id, notification_id=notification_id, at=datetime.now(UTC))
        if row is None:
            raise not_found(f"notification {notification_id}")
        return _public(row)
