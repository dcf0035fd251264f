"""Authentication: OAuth2 password flow → JWT bearer, and who am I."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import CurrentUser, SessionDep, SettingsDep
from api.edge import EdgeRoute
from api.errors import unauthorized
from api.schemas import MePublic, TokenPublic
from api.security import create_token, verify_dummy, verify_password
from db.repositories.users import get_user_by_username

router = APIRouter(tags=["auth"], route_class=EdgeRoute)


@router.post("/auth/token", response_model=TokenPublic)
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep, settings: SettingsDep
) -> TokenPublic:
    """Exchange username and password for a bearer token (登录)."""
    user = await get_user_by_username(session, username=form.username)
    await session.close()  # argon2 takes a quarter second: hold no pooled connection meanwhile
    if user is None:
        # argon2 is deliberately slow CPU work: off the event loop, so other requests go on
        await asyncio.to_thread(verify_dummy, form.password)
        raise unauthorized("wrong username or password")
    if not await asyncio.to_thread(verify_password, user.password_hash, form.password) or not user.active:
        raise unauthorized("wrong username or password")
    token = create_token(
        user_id=user.id,
        role=user.role,
        region_code=user.region_code,
        secret=settings.jwt_secret,
        ttl_minutes=settings.jwt_ttl_minutes,
    )
    return TokenPublic(access_token=token, expires_in=settings.jwt_ttl_minutes * 60)


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
