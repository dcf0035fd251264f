"""Login accounts (用户管理) for administrators, inside their own region; every change is audited."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import CurrentUser, Principal, PrincipalsDep, SessionDep, SessionsDep, region_filter
from api.edge import EdgeRoute, IdPath, Offset
from api.errors import conflict, forbidden, invalid, not_found
from api.people_schemas import REGION_PATTERN, PasswordResetIn, UserCreate, UserPublic, UsersPublic, UserWithPassword
from api.security import hash_password, temporary_password
from db.models import User
from db.repositories.audit import create_audit_entry, library_chain
from db.repositories.experts import get_expert, update_expert
from db.repositories.regions import get_region, list_regions_by_codes
from db.repositories.users import (
    UserFilter,
    create_user,
    get_user,
    get_user_by_username,
    list_expert_links,
    list_users_in_region,
    update_user,
)
from domain.enums import RegionLevel, Role
from domain.regions import region_prefix
from domain.users import grant_problem, password_problems

router = APIRouter(prefix="/users", tags=["users"], route_class=EdgeRoute)
CHAIN = "users"
EXPERTS_CHAIN = library_chain("experts")


async def _publics(session: AsyncSession, users: list[User]) -> list[UserPublic]:
    names = {r.code: r.name for r in await list_regions_by_codes(session, codes=[u.region_code for u in users])}
    experts = await list_expert_links(session, user_ids=[u.id for u in users])
    return [
        UserPublic(
            id=u.id,
            username=u.username,
            full_name=u.full_name,
            role=Role(u.role),
            region_code=u.region_code,
            region_name=names.get(u.region_code, ""),
            organisation=u.organisation,
            active=u.active,
            must_change_password=u.must_change_password,
            expert_id=experts.get(u.id),
            created_at=u.created_at,
        )
        for u in users
    ]


async def _managed(session: AsyncSession, admin: Principal, user_id: int) -> User:
    """The account `admin` may change: 404 unknown, 403 outside their sway (region, or a peer or higher admin)."""
    admin.require_role(Role.ADMIN)
    account = await get_user(session, user_id=user_id)
    if account is None:
        raise not_found(f"user {user_id}")
    if account.id == admin.id:
        raise forbidden("you may not disable, enable or reset your own account here", "own_account")
    if problem := grant_problem(
        admin_code=admin.region_code,
        admin_level=admin.region_level,
        role=Role(account.role),
        region_code=account.region_code,
    ):
        _, rule, message = problem
        raise forbidden(
            f"user {user_id}: {message}", "region_forbidden" if rule == "in_your_region" else "role_forbidden"
        )
    return account


def _password_errors(password: str | None, username: str) -> list[dict[str, str]]:
    if password is None:
        return []
    return [
        {"field": "password", "rule": rule, "message": message}
        for rule, message in password_problems(password, username=username)
    ]


async def _audit(tx: AsyncSession, admin: Principal, action: str, account: User, **extra: Any) -> None:
    await create_audit_entry(
        tx,
        chain=CHAIN,
        action=action,
        event_key=f"user:{account.id}:{action}:{uuid.uuid4().hex}",
        payload={"user_id": account.id, "username": account.username, **extra},
        actor_id=admin.id,
        actor_name=admin.username,
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=UserWithPassword)
async def create(body: UserCreate, user: CurrentUser, sessions: SessionsDep) -> UserWithPassword:
    """Create a login account inside your region; optionally the login of a library expert (新建用户)."""
    user.require_role(Role.ADMIN)
    errors = _password_errors(body.password, body.username)
    async with sessions() as session:
        region = await get_region(session, code=body.region_code)
        expert = await get_expert(session, expert_id=body.expert_id) if body.expert_id is not None else None
    if region is None:
        errors.append({"field": "region_code", "rule": "exists", "message": f"no region {body.region_code}"})
    elif problem := grant_problem(
        admin_code=user.region_code,
        admin_level=user.region_level,
        role=body.role,
        region_code=body.region_code,
        region_level=RegionLevel(region.level),
    ):
        field, rule, message = problem
        errors.append({"field": field, "rule": rule, "message": message})
    if body.expert_id is not None:
        if body.role is not Role.EXPERT:
            errors.append({"field": "role", "rule": "expert_role", "message": "an expert's login has the role expert"})
        if expert is None:
            errors.append({"field": "expert_id", "rule": "exists", "message": f"no expert {body.expert_id}"})
        elif not user.covers(expert.region_code):
            message = f"expert {expert.id} belongs to a region outside yours"
            errors.append({"field": "expert_id", "rule": "in_your_region", "message": message})
    if errors:
        raise invalid(errors)
    if expert is not None and expert.user_id is not None:
        raise conflict("account_linked", f"expert {expert.id} has a login account already", {"field": "expert_id"})
    generated = temporary_password() if body.password is None else None
    secret = body.password or generated or ""
    password_hash = await asyncio.to_thread(hash_password, secret)
    try:
        async with sessions.begin() as tx:
            if await get_user_by_username(tx, username=body.username) is not None:
                raise conflict("username_taken", f"the login name {body.username} is taken", {"field": "username"})
            account = await create_user(
                tx,
                username=body.username,
                full_name=body.full_name,
                password_hash=password_hash,
                role=body.role.value,
                region_code=body.region_code,
                organisation=body.organisation,
                must_change_password=True,
                email=body.email,
            )
            await _audit(
                tx,
                user,
                "user_created",
                account,
                role=body.role.value,
                region=body.region_code,
                expert_id=body.expert_id,
            )
            if expert is not None:
                linked = await update_expert(tx, expert_id=expert.id, values={"user_id": account.id})
                if linked is None:
                    raise not_found(f"expert {expert.id}")
                await create_audit_entry(
                    tx,
                    chain=EXPERTS_CHAIN,
                    action="expert_updated",
                    event_key=f"expert:{expert.id}:updated:{uuid.uuid4().hex}",
                    payload={"expert_id": expert.id, "changes": {"user_id": [None, account.id]}},
                    actor_id=user.id,
                    actor_name=user.username,
                )
            public = (await _publics(tx, [account]))[0]
    except IntegrityError as err:  # a concurrent request took the name or linked the expert first
        raise conflict("username_taken", "the login name or the expert was taken meanwhile") from err
    return UserWithPassword(**public.model_dump(), temporary_password=generated)


@router.get("", response_model=UsersPublic)
async def list_(
    user: CurrentUser,
    session: SessionDep,
    role: Annotated[Role | None, Query(description="角色 / role")] = None,
    region: Annotated[
        str | None,
        Query(
            pattern=REGION_PATTERN, description="区划（本辖区内，含下级）/ region inside yours, with its sub-regions"
        ),
    ] = None,
    active: Annotated[bool | None, Query(description="是否启用 / may log in")] = None,
    text: Annotated[
        str | None, Query(min_length=1, max_length=100, description="登录名或姓名包含 / login or name contains")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> UsersPublic:
    """Accounts in your region, with filters and paging (用户列表)."""
    user.require_role(Role.ADMIN)
    prefix = None
    if region is not None:
        found = await region_filter(session, user, "region", region)
        prefix = region_prefix(found.code, RegionLevel(found.level))
    rows, total = await list_users_in_region(
        session,
        filters=UserFilter(
            scope_prefix=user.region_prefix,
            region_prefix=prefix,
            role=role.value if role else None,
            active=active,
            text=text,
        ),
        limit=limit,
        offset=offset,
    )
    return UsersPublic(items=await _publics(session, list(rows)), count=total, limit=limit, offset=offset)


@router.get("/{user_id}", response_model=UserPublic)
async def detail(user_id: IdPath, user: CurrentUser, session: SessionDep) -> UserPublic:
    """One account in your region (用户详情)."""
    user.require_role(Role.ADMIN)
    account = await get_user(session, user_id=user_id)
    if account is None:
        raise not_found(f"user {user_id}")
    user.require_region(account.region_code, f"user {user_id}")
    return (await _publics(session, [account]))[0]


async def _set_active(
    user_id: int, user: Principal, sessions: SessionsDep, known: PrincipalsDep, active: bool
) -> UserPublic:
    async with sessions.begin() as tx:
        account = await _managed(tx, user, user_id)
        if account.active != active:
            changed = await update_user(tx, user_id=user_id, values={"active": active})
            assert changed is not None
            account = changed
            await _audit(tx, user, "user_enabled" if active else "user_disabled", account)
        public = (await _publics(tx, [account]))[0]
    known.forget(user_id)
    return public


@router.post("/{user_id}/disable", response_model=UserPublic)
async def disable(user_id: IdPath, user: CurrentUser, sessions: SessionsDep, known: PrincipalsDep) -> UserPublic:
    """Disable an account: it cannot log in, and its tokens stop working — at once on this API process, within
    AUTH_CACHE_SECONDS (5 s) on the others (停用)."""
    return await _set_active(user_id, user, sessions, known, False)


@router.post("/{user_id}/enable", response_model=UserPublic)
async def enable(user_id: IdPath, user: CurrentUser, sessions: SessionsDep, known: PrincipalsDep) -> UserPublic:
    """Enable a disabled account again (启用)."""
    return await _set_active(user_id, user, sessions, known, True)


@router.post("/{user_id}/password-reset", response_model=UserWithPassword)
async def reset_password(
    user_id: IdPath,
    user: CurrentUser,
    sessions: SessionsDep,
    known: PrincipalsDep,
    body: PasswordResetIn | None = None,
) -> UserWithPassword:
    """Set a new password (or generate one, returned once); the user must change it at the next login (重置密码)."""
    chosen = body.password if body is not None else None
    async with sessions() as session:
        account = await _managed(session, user, user_id)
    if errors := _password_errors(chosen, account.username):
        raise invalid(errors)
    generated = temporary_password() if chosen is None else None
    password_hash = await asyncio.to_thread(hash_password, chosen or generated or "")
    async with sessions.begin() as tx:
        account = await _managed(tx, user, user_id)
        changed = await update_user(
            tx, user_id=user_id, values={"password_hash": password_hash, "must_change_password": True}
        )
        assert changed is not None
        await _audit(tx, user, "password_reset", changed, generated=generated is not None)
        public = (await _publics(tx, [changed]))[0]
    known.forget(user_id)
    return UserWithPassword(**public.model_dump(), temporary_password=generated)
