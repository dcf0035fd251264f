"""My notifications (站内通知): the inbox, marking read, my preferences per event kind and my e-mail address; and
for admins, the deliveries of their region that failed (or any status)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import select

from api.deps import CurrentUser, SessionDep, SessionsDep, SettingsDep
from api.edge import EdgeRoute, IdPath, Offset
from api.errors import conflict, not_found
from api.notify_schemas import (
    DeliveriesPublic,
    EmailIn,
    PreferenceIn,
    PreferencePublic,
    PreferencesPublic,
)
from api.routes.webhooks import public_deliveries
from api.schemas import NotificationPublic, NotificationsPublic
from db.models import Notification, User
from db.repositories.audit import create_audit_entry
from db.repositories.notifications import (
    count_unread_notifications,
    list_attempts,
    list_deliveries,
    list_notifications,
    list_preferences,
    update_notification_read,
    update_preference,
)
from db.repositories.users import update_user
from domain.enums import Role
from domain.notifications import (
    DEFAULT_DELIVERY,
    MANDATORY,
    TEMPLATES,
    Channel,
    Delivery,
    DeliveryStatus,
    EventKind,
    preference_refusal,
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
        resolved_at=n.resolved_at,
    )


async def _preferences(session: SessionDep, user_id: int, digest_hour: int) -> PreferencesPublic:
    own = await list_preferences(session, user_id=user_id)
    email = await session.scalar(select(User.email).where(User.id == user_id))
    items = [
        PreferencePublic(
            kind=k,
            delivery=Delivery(own.get(k.value, DEFAULT_DELIVERY[k])),
            default=DEFAULT_DELIVERY[k],
            mandatory=k in MANDATORY,
            title=f"{TEMPLATES[k].title_zh.split('：')[0]} / {TEMPLATES[k].title_en.split(':')[0]}",
        )
        for k in EventKind
    ]
    return PreferencesPublic(items=items, email=email, digest_hour=digest_hour)


@router.get("/preferences", response_model=PreferencesPublic)
async def preferences(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> PreferencesPublic:
    """How each kind of event reaches me: immediately, in the 08:00 daily digest, or not at all (通知偏好)."""
    return await _preferences(session, user.id, settings.notify.digest_hour)


@router.put("/preferences/{kind}", response_model=PreferencesPublic)
async def set_preference(
    kind: Annotated[EventKind, Path(description="事件类型 / event kind")],
    body: PreferenceIn,
    user: CurrentUser,
    sessions: SessionsDep,
    settings: SettingsDep,
) -> PreferencesPublic:
    """Choose how one kind of event reaches me; kinds such as escalations cannot be turned off (409)."""
    if (refusal := preference_refusal(kind, body.delivery)) is not None:
        raise conflict("mandatory_notification", refusal, {"field": "delivery", "rule": "not_off"})
    async with sessions.begin() as tx:
        await update_preference(
            tx, user_id=user.id, kind=kind.value, delivery=body.delivery.value, at=datetime.now(UTC)
        )
        return await _preferences(tx, user.id, settings.notify.digest_hour)


@router.put("/email", response_model=PreferencesPublic)
async def set_email(
    body: EmailIn, user: CurrentUser, sessions: SessionsDep, settings: SettingsDep
) -> PreferencesPublic:
    """Set (or with null remove) the address my notifications are e-mailed to (接收邮箱); audited."""
    async with sessions.begin() as tx:
        await update_user(tx, user_id=user.id, values={"email": body.email})
        await create_audit_entry(
            tx,
            chain="users",
            action="email_changed",
            event_key=f"user:{user.id}:email_changed:{uuid.uuid4().hex}",
            payload={"user_id": user.id, "username": user.username, "set": body.email is not None},
            actor_id=user.id,
            actor_name=user.username,
        )
        return await _preferences(tx, user.id, settings.notify.digest_hour)


@router.get("/deliveries", response_model=DeliveriesPublic)
async def deliveries(
    user: CurrentUser,
    session: SessionDep,
    status: Annotated[DeliveryStatus | None, Query(description="状态 / status (failed: given up)")] = None,
    channel: Annotated[Channel | None, Query(description="渠道 / channel")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="条数 / how many")] = 50,
    offset: Offset = 0,
) -> DeliveriesPublic:
    """The outbox of your region, newest first, with every attempt: e-mails to its users and posts to its webhooks
    and robots; `status=failed` lists what was given up (admins) (投递记录)."""
    user.require_role(Role.ADMIN)
    rows, total = await list_deliveries(
        session,
        region_prefix=user.region_prefix,
        status=status.value if status else None,
        channel=channel.value if channel else None,
        limit=limit,
        offset=offset,
    )
    attempts = await list_attempts(session, delivery_ids=[d.id for d, _ in rows])
    return DeliveriesPublic(items=public_deliveries(rows, attempts), count=total, limit=limit, offset=offset)


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
