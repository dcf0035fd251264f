"""A region's webhooks and work-group robots (DingTalk 钉钉, WeCom 企业微信): registered, changed and read by the
region's admins, with the delivery log of each (every attempt, its answer and error). Changes are audited."""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import CurrentUser, Principal, SessionDep, SessionsDep
from api.edge import EdgeRoute, IdPath, Offset
from api.errors import conflict, invalid, not_found
from api.notify_schemas import (
    AttemptPublic,
    DeliveriesPublic,
    DeliveryPublic,
    EndpointCreate,
    EndpointPublic,
    EndpointsPublic,
    EndpointUpdate,
)
from db.models import NotificationDelivery, NotificationEndpoint, NotificationEvent, Region
from db.repositories.audit import create_audit_entry
from db.repositories.notifications import (
    create_endpoint,
    get_endpoint,
    list_attempts,
    list_deliveries,
    list_endpoints,
    update_delivery_retry,
)
from domain.enums import Role
from domain.notifications import Channel, DeliveryStatus

router = APIRouter(prefix="/webhooks", tags=["webhooks"], route_class=EdgeRoute)
CHAIN = "notify:endpoints"
Limit = Annotated[int, Query(ge=1, le=200, description="条数 / how many")]
# tokens in a robot's URL (access_token=…, key=…) are secrets: shown masked
_TOKEN = re.compile(r"((?:access_token|key|token|sign)=)([^&]+)", re.IGNORECASE)


def _mask_url(url: str) -> str:
    return _TOKEN.sub(lambda m: m.group(1) + (m.group(2)[:4] + "****" if len(m.group(2)) > 4 else "****"), url)


def public_endpoint(e: NotificationEndpoint, secret: str | None = None) -> EndpointPublic:
    """An endpoint as an admin reads it: URL tokens masked, the secret only when just made."""
    return EndpointPublic(
        id=e.id,
        kind=e.kind,
        region_code=e.region_code,
        name=e.name,
        url=_mask_url(e.url),
        events=list(e.events),
        active=e.active,
        has_secret=bool(e.secret),
        created_at=e.created_at,
        secret=secret,
    )


def public_deliveries(
    rows: list[tuple[NotificationDelivery, NotificationEvent]], attempts: dict[int, list[Any]]
) -> list[DeliveryPublic]:
    """Deliveries with their attempts."""
    return [
        DeliveryPublic(
            id=d.id,
            channel=d.channel,
            event=e.kind,
            event_key=e.event_key,
            idempotency_key=d.idempotency_key,
            status=d.status,
            attempts=d.attempts,
            due_at=d.due_at,
            last_error=d.last_error,
            delivered_at=d.delivered_at,
            created_at=d.created_at,
            user_id=d.user_id,
            endpoint_id=d.endpoint_id,
            log=[
                AttemptPublic(
                    n=a.n, at=a.at, ok=a.ok, status_code=a.status_code, error=a.error, duration_ms=a.duration_ms
                )
                for a in attempts.get(d.id, [])
            ],
        )
        for d, e in rows
    ]


async def _audit(tx: AsyncSession, admin: Principal, action: str, e: NotificationEndpoint, **extra: Any) -> None:
    await create_audit_entry(
        tx,
        chain=CHAIN,
        action=action,
        event_key=f"endpoint:{e.id}:{action}:{uuid.uuid4().hex}",
        payload={"endpoint_id": e.id, "kind": e.kind, "region": e.region_code, "name": e.name, **extra},
        actor_id=admin.id,
        actor_name=admin.username,
    )


async def _mine(
    session: AsyncSession, user: Principal, endpoint_id: int, *, for_update: bool = False
) -> NotificationEndpoint:
    user.require_role(Role.ADMIN)
    e = await get_endpoint(session, endpoint_id=endpoint_id, for_update=for_update)
    if e is None:
        raise not_found(f"webhook {endpoint_id}")
    user.require_region(e.region_code, f"webhook {endpoint_id}")
    return e


def _new_secret(kind: str, given: str | None) -> str:
    if given is not None:
        return given
    # a webhook is always signed; a DingTalk robot only when the group's robot has 加签 on; WeCom has no signing
    return secrets.token_urlsafe(32) if kind == Channel.WEBHOOK.value else ""


@router.post("", status_code=status.HTTP_201_CREATED, response_model=EndpointPublic)
async def create(body: EndpointCreate, user: CurrentUser, sessions: SessionsDep) -> EndpointPublic:
    """Register a webhook or a DingTalk/WeCom group robot for a region inside yours (注册 webhook/群机器人); the
    secret is shown this once."""
    user.require_role(Role.ADMIN)
    user.require_region(body.region_code, f"region {body.region_code}")
    if body.kind == Channel.WECOM.value and body.secret:
        raise invalid([{"field": "secret", "rule": "wecom_unsigned", "message": "WeCom group robots take no secret"}])
    secret = _new_secret(body.kind, body.secret)
    async with sessions.begin() as tx:
        if await tx.get(Region, body.region_code) is None:
            raise invalid([{"field": "region_code", "rule": "exists", "message": f"no region {body.region_code}"}])
        e = await create_endpoint(
            tx,
            values={
                "kind": body.kind,
                "region_code": body.region_code,
                "name": body.name,
                "url": body.url,
                "secret": secret,
                "events": [k.value for k in body.events],
                "active": True,
                "created_by": user.id,
                "created_at": datetime.now(UTC),
            },
        )
        await _audit(tx, user, "endpoint_created", e, events=list(e.events), url=_mask_url(e.url))
        return public_endpoint(e, secret or None)


@router.get("", response_model=EndpointsPublic)
async def list_(user: CurrentUser, session: SessionDep) -> EndpointsPublic:
    """The webhooks and robots of your region and the regions inside it (admins)."""
    user.require_role(Role.ADMIN)
    rows = await list_endpoints(session, region_prefix=user.region_prefix)
    return EndpointsPublic(items=[public_endpoint(e) for e in rows], count=len(rows))


@router.get("/{endpoint_id}", response_model=EndpointPublic)
async def detail(endpoint_id: IdPath, user: CurrentUser, session: SessionDep) -> EndpointPublic:
    """One webhook or robot of your region."""
    return public_endpoint(await _mine(session, user, endpoint_id))


@router.patch("/{endpoint_id}", response_model=EndpointPublic)
async def update(endpoint_id: IdPath, body: EndpointUpdate, user: CurrentUser, sessions: SessionsDep) -> EndpointPublic:
    """Change a webhook or robot: name, URL, events, active; `rotate_secret` makes a new secret (shown once)."""
    async with sessions.begin() as tx:
        e = await _mine(tx, user, endpoint_id, for_update=True)
        changes: dict[str, Any] = {}
        if body.name is not None and body.name != e.name:
            changes["name"], e.name = [e.name, body.name], body.name
        if body.url is not None and body.url != e.url:
            changes["url"], e.url = [_mask_url(e.url), _mask_url(body.url)], body.url
        if body.events is not None:
            events = sorted({k.value for k in body.events})
            if events != list(e.events):
                changes["events"], e.events = [list(e.events), events], events
        if body.active is not None and body.active != e.active:
            changes["active"], e.active = [e.active, body.active], body.active
        secret: str | None = None
        if body.rotate_secret:
            if e.kind == Channel.WECOM.value:
                raise conflict("wecom_unsigned", "WeCom group robots take no secret", {"field": "rotate_secret"})
            secret = secrets.token_urlsafe(32)
            e.secret = secret
            changes["secret"] = "rotated"  # noqa: S105 - the fact of a rotation, never the secret
        if changes:
            await tx.flush()
            await _audit(tx, user, "endpoint_updated", e, changes=changes)
        return public_endpoint(e, secret)


@router.get("/{endpoint_id}/deliveries", response_model=DeliveriesPublic)
async def deliveries(
    endpoint_id: IdPath,
    user: CurrentUser,
    session: SessionDep,
    status: Annotated[
        DeliveryStatus | None, Query(description="状态 / status: pending, sending, delivered, failed")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> DeliveriesPublic:
    """The delivery log of a webhook or robot, newest first: each delivery with every attempt (投递记录)."""
    await _mine(session, user, endpoint_id)
    rows, total = await list_deliveries(
        session, endpoint_id=endpoint_id, status=status.value if status else None, limit=limit, offset=offset
    )
    attempts = await list_attempts(session, delivery_ids=[d.id for d, _ in rows])
    return DeliveriesPublic(items=public_deliveries(rows, attempts), count=total, limit=limit, offset=offset)


@router.post("/{endpoint_id}/deliveries/{delivery_id}/retry", response_model=DeliveryPublic)
async def retry(endpoint_id: IdPath, delivery_id: IdPath, user: CurrentUser, sessions: SessionsDep) -> DeliveryPublic:
    """Try a failed delivery once more, now (重新投递); audited."""
    async with sessions.begin() as tx:
        e = await _mine(tx, user, endpoint_id)
        d = await tx.get(NotificationDelivery, delivery_id)
        if d is None or d.endpoint_id != e.id:
            raise not_found(f"delivery {delivery_id} of webhook {endpoint_id}")
        again = await update_delivery_retry(tx, delivery_id=delivery_id, at=datetime.now(UTC))
        if again is None:
            raise conflict("not_failed", f"delivery {delivery_id} is {d.status}: only a failed one is retried")
        await _audit(tx, user, "delivery_retried", e, delivery_id=delivery_id)
        event = await tx.get(NotificationEvent, again.event_id)
        assert event is not None
        attempts = await list_attempts(tx, delivery_ids=[again.id])
        return public_deliveries([(again, event)], attempts)[0]
