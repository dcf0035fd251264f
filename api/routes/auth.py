"""Authentication: OAuth2 password flow → JWT bearer, and who am I."""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import CurrentUser, PasswordChangerDep, PrincipalsDep, SessionsDep, SettingsDep
from api.edge import EdgeRoute
from api.errors import invalid, too_many_attempts, unauthorized
from api.people_schemas import PasswordChange
from api.schemas import MePublic, TokenPublic
from api.security import create_token, hash_password, verify_dummy, verify_password
from api.throttle import client_address
from db.repositories.audit import create_audit_entry
from db.repositories.login_throttle import (
    ThrottleCount,
    delete_ended_login_throttles,
    lock_login_throttles,
    update_login_reserved,
    update_login_verified,
)
from db.repositories.users import get_user, get_user_by_username, update_user
from domain.login_throttle import ThrottleScope, audit_key, printable, throttle_key
from domain.users import password_problems

router = APIRouter(tags=["auth"], route_class=EdgeRoute)
SECURITY_CHAIN = "security:login"
USERS_CHAIN = "users"
# One login in this many also sweeps counters whose window ended, so the table stays small without a job.
SWEEP_ONE_IN = 100
TOO_MANY: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "登录失败次数过多，稍后再试 / too many failed logins: wait `Retry-After` seconds",
        "headers": {"Retry-After": {"description": "等待秒数 / seconds to wait", "schema": {"type": "integer"}}},
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["code", "message", "details"],
                    "properties": {
                        "code": {"type": "string", "enum": ["too_many_attempts"], "description": "错误代码 / code"},
                        "message": {"type": "string", "description": "说明 / message"},
                        "details": {
                            "type": "object",
                            "properties": {
                                "retry_after_seconds": {"type": "integer", "description": "等待秒数 / seconds"},
                                "limits": {
                                    "type": "array",
                                    "items": {"type": "string", "enum": ["username", "address"]},
                                    "description": "触发的限制 / the limits reached",
                                },
                            },
                        },
                    },
                }
            }
        },
    }
}


@router.post("/auth/token", response_model=TokenPublic, responses=TOO_MANY)
async def login(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    sessions: SessionsDep,
    settings: SettingsDep,
) -> TokenPublic | JSONResponse:
    """Exchange username and password for a bearer token; failed logins are rate-limited (登录)."""
    limits = settings.login_throttle
    address = client_address(request, limits.trusted_proxies)
    keys = {ThrottleScope.USERNAME: throttle_key(form.username), ThrottleScope.ADDRESS: throttle_key(address)}
    maxima = {
        ThrottleScope.USERNAME: limits.max_failures_per_username,
        ThrottleScope.ADDRESS: limits.max_failures_per_address,
    }
    # An attempt is reserved before the password is checked (failures and attempts in flight together never pass
    # the limit, so concurrent guesses verify no more passwords than it allows), and only a failure stays counted.
    async with sessions.begin() as tx:
        user = None if "\x00" in form.username else await get_user_by_username(tx, username=form.username)
        counts = await lock_login_throttles(tx, keys=keys, window_seconds=limits.window_seconds)
        locked = [c for c in counts.values() if c.failures >= maxima[c.scope]]
        busy = [c for c in counts.values() if c.failures + c.pending >= maxima[c.scope]]
        for count in locked:  # audited once per lock (the event key names the key and its window)
            await _audit_lock(tx, count, username=form.username, address=address, user_id=user.id if user else None)
        if not busy:
            await update_login_reserved(tx, keys=keys)
        if random.randrange(SWEEP_ONE_IN) == 0:  # spreading the sweep, not a secret
            await delete_ended_login_throttles(tx, window_seconds=limits.window_seconds)
    if locked:
        # Refused before the password is looked at, so a correct password while locked is refused alike.
        wait = max(c.seconds_left for c in locked)
        return too_many_attempts(
            f"too many failed logins; try again in {wait} s",
            wait,
            {"retry_after_seconds": wait, "limits": sorted(c.scope.value for c in locked)},
        )
    if busy:
        # as many attempts are being checked right now as failures are still allowed: wait for their outcome
        return too_many_attempts(
            "too many logins at once for this account or address; try again in 1 s",
            1,
            {"retry_after_seconds": 1, "limits": sorted(c.scope.value for c in busy)},
        )
    # argon2 takes a quarter second: the transaction above is over, so no pooled connection is held meanwhile
    ok = False
    try:
        if user is None:
            # argon2 is deliberately slow CPU work: off the event loop, so other requests go on
            await asyncio.to_thread(verify_dummy, form.password)
        else:
            ok = await asyncio.to_thread(verify_password, user.password_hash, form.password) and user.active
    finally:  # the reservation is given back whatever happens (a dropped client included)
        async with sessions.begin() as tx:
            await update_login_verified(tx, keys=keys, limits=maxima, failed=not ok)
    if not ok or user is None:
        raise unauthorized("wrong username or password")
    token = create_token(
        user_id=user.id,
        role=user.role,
        region_code=user.region_code,
        secret=settings.jwt_secret,
        ttl_minutes=settings.jwt_ttl_minutes,
    )
    return TokenPublic(
        access_token=token,
        expires_in=settings.jwt_ttl_minutes * 60,
        must_change_password=user.must_change_password,
    )


async def _audit_lock(
    tx: AsyncSession, count: ThrottleCount, *, username: str, address: str, user_id: int | None
) -> None:
    """Record that a username or address was locked out (never the password)."""
    await create_audit_entry(
        tx,
        chain=SECURITY_CHAIN,
        action="login_locked",
        event_key=audit_key(count.scope, count.key, int(count.window_started_at.timestamp())),
        payload={
            "scope": count.scope.value,
            "username": printable(username, 64),
            "address": printable(address, 64),
            "failures": count.failures,
            "locked_seconds": count.seconds_left,
        },
        actor_id=user_id,
        actor_name=printable(username, 100) or "anonymous",
    )


@router.get("/me", response_model=MePublic)
async def me(user: CurrentUser) -> MePublic:
    """The logged-in user: role and region (当前用户)."""
    return MePublic(
        id=user.id,
        username=user.username,
        full_name=user.full_name,
        role=user.role.value,
        region_code=user.region_code,
        region_level=user.region_level.value,
        region_name=user.region_name,
    )


@router.post("/me/password", status_code=204)
async def change_password(
    body: PasswordChange, user: PasswordChangerDep, sessions: SessionsDep, known: PrincipalsDep
) -> None:
    """Change your own password: the current one, then a new one (修改密码); required after an admin set it."""
    async with sessions() as session:
        account = await get_user(session, user_id=user.id)
    assert account is not None  # the dependency found this active user a moment ago
    errors = [
        {"field": "new_password", "rule": rule, "message": message}
        for rule, message in password_problems(body.new_password, username=user.username, old=body.old_password)
    ]
    # argon2 is deliberately slow CPU work: off the event loop, and with no pooled connection held
    if not await asyncio.to_thread(verify_password, account.password_hash, body.old_password):
        errors.insert(0, {"field": "old_password", "rule": "current_password", "message": "not your current password"})
    if errors:
        raise invalid(errors)
    new_hash = await asyncio.to_thread(hash_password, body.new_password)
    async with sessions.begin() as tx:
        await update_user(tx, user_id=user.id, values={"password_hash": new_hash, "must_change_password": False})
        await create_audit_entry(
            tx,
            chain=USERS_CHAIN,
            action="password_changed",
            event_key=f"user:{user.id}:password_changed:{uuid.uuid4().hex}",
            payload={"user_id": user.id, "username": user.username, "by": "self"},
            actor_id=user.id,
            actor_name=user.username,
        )
    known.forget(user.id)
