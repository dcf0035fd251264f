"""Notifications: the events that notify, written with their in-app items and outbox rows in the caller's
transaction (`record_event`); the outbox's claims and outcomes; regions' endpoints; users' preferences."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    Notification,
    NotificationAttempt,
    NotificationDelivery,
    NotificationEndpoint,
    NotificationEvent,
    NotificationPreference,
    Region,
    User,
)
from domain.enums import RegionLevel
from domain.notifications import (
    DEFAULT_DELIVERY,
    MANDATORY,
    Channel,
    DeliveryStatus,
    EventKind,
    Params,
    clean_params,
    next_digest_at,
    render,
)
from domain.regions import ancestors, covers

log = structlog.get_logger(__name__)
DIGEST_ZONE = ZoneInfo("Asia/Shanghai")


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
    """A user's notifications, newest first (unread: neither read nor resolved by its task's closing)."""
    stmt = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None), Notification.resolved_at.is_(None))
    return (
        await session.scalars(stmt.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit))
    ).all()


async def count_unread_notifications(session: AsyncSession, *, user_id: int) -> int:
    """How many of a user's notifications are unread (an item whose task closed no longer asks for attention)."""
    stmt = select(func.count()).where(
        Notification.user_id == user_id, Notification.read_at.is_(None), Notification.resolved_at.is_(None)
    )
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


async def resolve_task_notifications(session: AsyncSession, *, task_ids: Sequence[str], at: datetime) -> int:
    """The in-app items about tasks that closed (decided or cancelled) are resolved: no longer unread."""
    if not task_ids:
        return 0
    result = await session.execute(
        update(Notification)
        .where(Notification.task_id.in_(list(task_ids)), Notification.resolved_at.is_(None))
        .values(resolved_at=at)
        .returning(Notification.id)
    )
    return len(result.all())


# --- events and the outbox ------------------------------------------------------------------------------------


def _region_set(code: str) -> set[str]:
    return {*ancestors(code).values(), code}


@dataclass(frozen=True)
class Recorded:
    """What `record_event` wrote: in-app items and outbox rows (zero of both when the event was recorded before)."""

    in_app: int
    outbox: int


EVENT_BATCH = "assetflow.event_batch"
"""session.info key of the events a transaction records when it ends, with its audit entries in one statement
(activities.projects.transaction sets it; `note_event` adds to it)."""


def event_row(
    *,
    kind: EventKind,
    key: str,
    params: Params,
    user_ids: Iterable[int | None],
    region_code: str | None,
    at: datetime,
    project_code: str | None = None,
    task_id: str | None = None,
) -> dict[str, Any]:
    """One event as the JSON object EVENTS_SQL takes: params masked (no ID numbers, accounts or phones), the
    message rendered, the recipients, and the regions whose endpoints may take it."""
    clean = clean_params(params)
    message = render(kind, clean)
    return {
        "key": key,
        "kind": kind.value,
        "params": clean,
        "region": region_code,
        "project": project_code,
        "task": task_id,
        "at": at.isoformat(),
        "digest_at": next_digest_at(at, DIGEST_ZONE).isoformat(),
        "title": message.title[:200],
        "body": message.text,
        "users": sorted({u for u in user_ids if u is not None}),
        "delivery": DEFAULT_DELIVERY[kind].value,
        "mandatory": kind in MANDATORY,
        "regions": sorted(_region_set(region_code)) if region_code else [],
    }


def events_param(events: Sequence[dict[str, Any]]) -> str:
    """EVENTS_SQL's :events: the rows of `event_row`, each key once (the first)."""
    seen: dict[str, dict[str, Any]] = {}
    for e in events:
        seen.setdefault(e["key"], e)
    return json.dumps(list(seen.values()), ensure_ascii=False)


async def record_event(
    session: AsyncSession,
    *,
    kind: EventKind,
    key: str,
    params: Params,
    user_ids: Iterable[int | None],
    region_code: str | None,
    at: datetime,
    project_code: str | None = None,
    task_id: str | None = None,
) -> Recorded:
    """Record that something happened, in the caller's transaction, now: the event once per `key`, an in-app item
    for each recipient who has not turned the kind off, an e-mail row (now or for the 08:00 digest) for each of
    them with an address, and a row for each webhook or robot of a region containing `region_code` that takes the
    kind. A retry with the same key writes nothing. (`note_event` leaves it to the transaction's end.)"""
    row = event_row(
        kind=kind,
        key=key,
        params=params,
        user_ids=user_ids,
        region_code=region_code,
        at=at,
        project_code=project_code,
        task_id=task_id,
    )
    return await _record(session, row)


async def _record(session: AsyncSession, row: dict[str, Any]) -> Recorded:
    result = (await session.execute(RECORD_EVENTS, {"events": events_param([row])})).one()
    if not result.events_new:
        return Recorded(0, 0)
    log.info("notification event", kind=row["kind"], event_key=row["key"], in_app=result.in_app, outbox=result.outbox)
    return Recorded(int(result.in_app), int(result.outbox))


async def note_event(
    session: AsyncSession,
    *,
    kind: EventKind,
    key: str,
    params: Params,
    user_ids: Iterable[int | None],
    region_code: str | None,
    at: datetime,
    project_code: str | None = None,
    task_id: str | None = None,
) -> None:
    """`record_event`, written when the transaction ends with its audit entries (one statement for both) when the
    transaction collects them (activities.projects.transaction); at once otherwise."""
    row = event_row(
        kind=kind,
        key=key,
        params=params,
        user_ids=user_ids,
        region_code=region_code,
        at=at,
        project_code=project_code,
        task_id=task_id,
    )
    batch: list[dict[str, Any]] | None = session.info.get(EVENT_BATCH)
    if batch is None:
        await _record(session, row)
    else:
        batch.append(row)


# Events (:events, a JSON array of `event_row`s), each written once by its key, and for a new one only: its in-app
# items, its e-mails and its webhooks' and robots' rows. A recipient's choice for the kind decides (a kind that cannot
# be turned off goes at once to who turned it off); a region's endpoints are those of the event's region or one
# containing it taking the kind. Constant text: prepared once, and appended to an audit append's CTEs
# (db.repositories.audit.Rider) so that a transaction's audit entries and events are one statement.
EVENTS_SQL = """
    e AS (
        SELECT * FROM jsonb_to_recordset(CAST(:events AS jsonb)) AS r(key text, kind text, params jsonb, region text,
            project text, task text, at timestamptz, digest_at timestamptz, title text, body text, users jsonb,
            delivery text, mandatory boolean, regions jsonb)
    ), ev AS (
        INSERT INTO notification_events (event_key, kind, params, region_code, project_code, task_id, occurred_at)
        SELECT e.key, e.kind, e.params, e.region, e.project, e.task, e.at FROM e
        ON CONFLICT (event_key) DO NOTHING RETURNING id, event_key
    ), fresh AS (
        SELECT ev.id, e.* FROM ev JOIN e ON e.key = ev.event_key
    ), who AS (
        SELECT f.id AS event_id, f.key, u.id AS user_id, u.active AND u.email IS NOT NULL AS mailable,
               CASE WHEN f.mandatory AND p.delivery = 'off' THEN 'immediate' ELSE coalesce(p.delivery, f.delivery) END
                   AS delivery
        FROM fresh f
        JOIN users u ON u.id IN (SELECT CAST(x AS int) FROM jsonb_array_elements_text(f.users) AS x)
        LEFT JOIN notification_preferences p ON p.user_id = u.id AND p.kind = f.kind
    ), app AS (
        INSERT INTO notifications (event_key, user_id, kind, title, body, project_code, task_id, created_at)
        SELECT f.key, w.user_id, f.kind, f.title, f.body, f.project, f.task, f.at
        FROM fresh f JOIN who w ON w.event_id = f.id WHERE w.delivery <> 'off'
        ON CONFLICT ON CONSTRAINT uq_notification_event_user DO NOTHING RETURNING 1
    ), mail AS (
        INSERT INTO notification_deliveries
            (event_id, channel, user_id, endpoint_id, idempotency_key, status, due_at, attempts, created_at)
        SELECT f.id, 'email', w.user_id, NULL, f.key || '|email|user:' || w.user_id,
               CASE WHEN w.delivery = 'digest' THEN 'digest' ELSE 'pending' END,
               CASE WHEN w.delivery = 'digest' THEN f.digest_at ELSE f.at END, 0, f.at
        FROM fresh f JOIN who w ON w.event_id = f.id WHERE w.delivery <> 'off' AND w.mailable
        ON CONFLICT (idempotency_key) DO NOTHING RETURNING 1
    ), hooks AS (
        INSERT INTO notification_deliveries
            (event_id, channel, user_id, endpoint_id, idempotency_key, status, due_at, attempts, created_at)
        SELECT f.id, n.kind, NULL, n.id, f.key || '|' || n.kind || '|endpoint:' || n.id, 'pending', f.at, 0, f.at
        FROM fresh f JOIN notification_endpoints n
          ON n.active AND n.region_code IN (SELECT jsonb_array_elements_text(f.regions))
         AND (jsonb_array_length(n.events) = 0 OR n.events @> to_jsonb(f.kind))
        ON CONFLICT (idempotency_key) DO NOTHING RETURNING 1
    )
"""
EVENTS_RESULT = (
    "(SELECT count(*) FROM ev) AS events_new, (SELECT count(*) FROM app) AS in_app, "
    "(SELECT count(*) FROM mail) + (SELECT count(*) FROM hooks) AS outbox"
)
RECORD_EVENTS = text(f"WITH {EVENTS_SQL} SELECT {EVENTS_RESULT}")


@dataclass(frozen=True)
class Claimed:
    """A delivery claimed for sending, with what it needs (the address is read here, never carried elsewhere)."""

    id: int
    idempotency_key: str
    channel: str
    attempts: int
    event_key: str
    kind: str
    params: dict[str, Any]
    region_code: str | None
    project_code: str | None
    task_id: str | None
    occurred_at: datetime
    email: str | None
    url: str | None
    secret: str
    endpoint_active: bool = True


def _due(now: datetime, claim: str) -> Any:
    """Rows this claim may take: pending and due, or being sent under this claim (a retried attempt of the activity
    that claimed them takes them up at once) or under a lease that ran out (its claimer died)."""
    return or_(
        and_(NotificationDelivery.status == DeliveryStatus.PENDING.value, NotificationDelivery.due_at <= now),
        and_(
            NotificationDelivery.status == DeliveryStatus.SENDING.value,
            or_(NotificationDelivery.claimed_by == claim, NotificationDelivery.lease_until < now),
        ),
    )


async def claim_deliveries(
    session: AsyncSession, *, now: datetime, claim: str, lease: timedelta, limit: int
) -> list[Claimed]:
    """Claim up to `limit` due deliveries (FOR UPDATE SKIP LOCKED: concurrent dispatchers take different rows), mark
    them `sending` under `claim` until the lease ends, and return what sending them needs."""
    ids = (
        select(NotificationDelivery.id)
        .where(_due(now, claim), NotificationDelivery.channel != Channel.IN_APP.value)
        .order_by(NotificationDelivery.due_at, NotificationDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    claimed = (
        await session.scalars(
            update(NotificationDelivery)
            .where(NotificationDelivery.id.in_(ids))
            .values(status=DeliveryStatus.SENDING.value, claimed_by=claim, lease_until=now + lease)
            .returning(NotificationDelivery.id),
            execution_options={"synchronize_session": False},
        )
    ).all()
    if not claimed:
        return []
    rows = await session.execute(
        select(
            NotificationDelivery,
            NotificationEvent,
            User.email,
            NotificationEndpoint.url,
            NotificationEndpoint.secret,
            NotificationEndpoint.active,
        )
        .join(NotificationEvent, NotificationEvent.id == NotificationDelivery.event_id)
        .outerjoin(User, User.id == NotificationDelivery.user_id)
        .outerjoin(NotificationEndpoint, NotificationEndpoint.id == NotificationDelivery.endpoint_id)
        .where(NotificationDelivery.id.in_(claimed))
        .order_by(NotificationDelivery.id)
    )
    return [
        Claimed(
            id=d.id,
            idempotency_key=d.idempotency_key,
            channel=d.channel,
            attempts=d.attempts,
            event_key=e.event_key,
            kind=e.kind,
            params=dict(e.params),
            region_code=e.region_code,
            project_code=e.project_code,
            task_id=e.task_id,
            occurred_at=e.occurred_at,
            email=email,
            url=url,
            secret=secret or "",
            endpoint_active=active is not False,
        )
        for d, e, email, url, secret, active in rows
    ]


async def update_delivery_outcome(
    session: AsyncSession,
    *,
    delivery_id: int,
    claim: str,
    ok: bool,
    at: datetime,
    status_code: int | None,
    error: str,
    duration_ms: int,
    retry_at: datetime | None,
) -> str | None:
    """Record one attempt and its outcome: delivered, due again at `retry_at`, or failed (no `retry_at`). Only while
    the row is still this claim's (a dispatcher whose lease ran out records nothing); the new status, or None."""
    if ok:
        values: dict[str, Any] = {"status": DeliveryStatus.DELIVERED.value, "delivered_at": at, "last_error": ""}
    elif retry_at is not None:
        values = {"status": DeliveryStatus.PENDING.value, "due_at": retry_at, "last_error": error[:1000]}
    else:
        values = {"status": DeliveryStatus.FAILED.value, "last_error": error[:1000]}
    row = (
        await session.execute(
            update(NotificationDelivery)
            .where(
                NotificationDelivery.id == delivery_id,
                NotificationDelivery.claimed_by == claim,
                NotificationDelivery.status == DeliveryStatus.SENDING.value,
            )
            .values(**values, attempts=NotificationDelivery.attempts + 1, claimed_by=None, lease_until=None)
            .returning(NotificationDelivery.attempts)
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    await session.execute(
        insert(NotificationAttempt)
        .values(
            delivery_id=delivery_id,
            n=row,
            at=at,
            ok=ok,
            status_code=status_code,
            error=error[:1000],
            duration_ms=duration_ms,
        )
        .on_conflict_do_nothing(constraint="uq_notification_attempt")
    )
    return str(values["status"])


async def next_due_at(session: AsyncSession) -> datetime | None:
    """When the next waiting delivery (now or for a digest) falls due; None when none waits."""
    return await session.scalar(
        select(func.min(NotificationDelivery.due_at)).where(
            NotificationDelivery.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.DIGEST.value])
        )
    )


@dataclass(frozen=True)
class DigestItem:
    """One line of a digest."""

    delivery_id: int
    kind: str
    params: dict[str, Any]
    occurred_at: datetime
    attempts: int


async def claim_digest(
    session: AsyncSession, *, now: datetime, user_id: int | None = None
) -> tuple[int, str | None, list[DigestItem]]:
    """Lock (FOR UPDATE SKIP LOCKED) one user's due digest rows, for one mail sent inside this transaction: a
    dispatcher killed while sending leaves them to the next. (user id, address, items); no items: nothing due."""
    stmt = (
        select(NotificationDelivery.user_id)
        .where(NotificationDelivery.status == DeliveryStatus.DIGEST.value, NotificationDelivery.due_at <= now)
        .order_by(NotificationDelivery.due_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if user_id is not None:
        stmt = stmt.where(NotificationDelivery.user_id == user_id)
    uid = await session.scalar(stmt)
    if uid is None:
        return 0, None, []
    rows = await session.execute(
        select(
            NotificationDelivery.id,
            NotificationEvent.kind,
            NotificationEvent.params,
            NotificationEvent.occurred_at,
            NotificationDelivery.attempts,
        )
        .join(NotificationEvent, NotificationEvent.id == NotificationDelivery.event_id)
        .where(
            NotificationDelivery.user_id == uid,
            NotificationDelivery.status == DeliveryStatus.DIGEST.value,
            NotificationDelivery.due_at <= now,
        )
        .order_by(NotificationEvent.occurred_at)
        .with_for_update(of=NotificationDelivery, skip_locked=True)
    )
    items = [DigestItem(i, k, dict(p), at, n) for i, k, p, at, n in rows]
    email = await session.scalar(select(User.email).where(User.id == uid, User.active))
    return uid, email, items


async def update_digest_outcome(
    session: AsyncSession, *, delivery_ids: Sequence[int], ok: bool, at: datetime, error: str, retry_at: datetime | None
) -> None:
    """A digest's rows delivered together, or due again at `retry_at`, or failed; one attempt logged for each."""
    if ok:
        values: dict[str, Any] = {"status": DeliveryStatus.DELIVERED.value, "delivered_at": at, "last_error": ""}
    elif retry_at is not None:
        values = {"due_at": retry_at, "last_error": error[:1000]}
    else:
        values = {"status": DeliveryStatus.FAILED.value, "last_error": error[:1000]}
    attempts = (
        await session.execute(
            update(NotificationDelivery)
            .where(NotificationDelivery.id.in_(list(delivery_ids)))
            .values(**values, attempts=NotificationDelivery.attempts + 1)
            .returning(NotificationDelivery.id, NotificationDelivery.attempts)
        )
    ).all()
    if attempts:
        await session.execute(
            insert(NotificationAttempt)
            .values([{"delivery_id": i, "n": n, "at": at, "ok": ok, "error": error[:1000]} for i, n in attempts])
            .on_conflict_do_nothing(constraint="uq_notification_attempt")
        )


# --- preferences ------------------------------------------------------------------------------------------------


async def list_preferences(session: AsyncSession, *, user_id: int) -> dict[str, str]:
    """A user's own choices by kind (kinds without one take their default)."""
    rows = await session.execute(
        select(NotificationPreference.kind, NotificationPreference.delivery).where(
            NotificationPreference.user_id == user_id
        )
    )
    return {k: d for k, d in rows}


async def update_preference(session: AsyncSession, *, user_id: int, kind: str, delivery: str, at: datetime) -> None:
    """Set a user's choice for a kind (insert or replace)."""
    stmt = insert(NotificationPreference).values(user_id=user_id, kind=kind, delivery=delivery, updated_at=at)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[NotificationPreference.user_id, NotificationPreference.kind],
            set_={"delivery": stmt.excluded.delivery, "updated_at": stmt.excluded.updated_at},
        )
    )


# --- endpoints and the delivery log -----------------------------------------------------------------------------


async def create_endpoint(session: AsyncSession, *, values: dict[str, Any]) -> NotificationEndpoint:
    """A new webhook or robot."""
    endpoint = NotificationEndpoint(**values)
    session.add(endpoint)
    await session.flush()
    return endpoint


async def get_endpoint(
    session: AsyncSession, *, endpoint_id: int, for_update: bool = False
) -> NotificationEndpoint | None:
    """One endpoint by id."""
    return await session.get(NotificationEndpoint, endpoint_id, with_for_update=for_update)


async def list_endpoints(session: AsyncSession, *, region_prefix: str) -> Sequence[NotificationEndpoint]:
    """The endpoints of regions inside a region (by code prefix), oldest first."""
    stmt = select(NotificationEndpoint).where(NotificationEndpoint.region_code.startswith(region_prefix))
    return (await session.scalars(stmt.order_by(NotificationEndpoint.id))).all()


async def list_deliveries(
    session: AsyncSession,
    *,
    endpoint_id: int | None = None,
    region_prefix: str | None = None,
    status: str | None = None,
    channel: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[tuple[NotificationDelivery, NotificationEvent]], int]:
    """Deliveries, newest first, of one endpoint, or of a region (its endpoints' and its users' e-mails)."""
    stmt = select(NotificationDelivery, NotificationEvent).join(
        NotificationEvent, NotificationEvent.id == NotificationDelivery.event_id
    )
    if endpoint_id is not None:
        stmt = stmt.where(NotificationDelivery.endpoint_id == endpoint_id)
    if region_prefix is not None:
        stmt = (
            stmt.outerjoin(User, User.id == NotificationDelivery.user_id)
            .outerjoin(NotificationEndpoint, NotificationEndpoint.id == NotificationDelivery.endpoint_id)
            .where(
                or_(
                    User.region_code.startswith(region_prefix),
                    NotificationEndpoint.region_code.startswith(region_prefix),
                )
            )
        )
    if status:
        stmt = stmt.where(NotificationDelivery.status == status)
    if channel:
        stmt = stmt.where(NotificationDelivery.channel == channel)
    total = int(await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = await session.execute(stmt.order_by(NotificationDelivery.id.desc()).limit(limit).offset(offset))
    return [(d, e) for d, e in rows], total


async def list_attempts(session: AsyncSession, *, delivery_ids: Sequence[int]) -> dict[int, list[NotificationAttempt]]:
    """The attempts of deliveries, in order, by delivery."""
    out: dict[int, list[NotificationAttempt]] = {i: [] for i in delivery_ids}
    if delivery_ids:
        rows = await session.scalars(
            select(NotificationAttempt)
            .where(NotificationAttempt.delivery_id.in_(list(delivery_ids)))
            .order_by(NotificationAttempt.delivery_id, NotificationAttempt.n)
        )
        for a in rows:
            out[a.delivery_id].append(a)
    return out


async def update_delivery_retry(
    session: AsyncSession, *, delivery_id: int, at: datetime
) -> NotificationDelivery | None:
    """A failed delivery is tried again now (one more attempt past the limit); None unless it had failed."""
    return (
        await session.execute(
            update(NotificationDelivery)
            .where(NotificationDelivery.id == delivery_id, NotificationDelivery.status == DeliveryStatus.FAILED.value)
            .values(status=DeliveryStatus.PENDING.value, due_at=at)
            .returning(NotificationDelivery)
        )
    ).scalar_one_or_none()
