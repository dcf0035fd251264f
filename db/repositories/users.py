"""Users."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Expert, User


async def get_user(session: AsyncSession, *, user_id: int) -> User | None:
    """One user by id."""
    return await session.get(User, user_id)


async def get_user_by_username(session: AsyncSession, *, username: str) -> User | None:
    """One user by login name."""
    return await session.scalar(select(User).where(User.username == username))


async def list_users(session: AsyncSession, *, role: str | None = None) -> Sequence[User]:
    """Users, optionally of one role, by username."""
    stmt = select(User).order_by(User.username)
    if role:
        stmt = stmt.where(User.role == role)
    return (await session.scalars(stmt)).all()


async def create_user(
    session: AsyncSession,
    *,
    username: str,
    full_name: str,
    password_hash: str,
    role: str,
    region_code: str,
    organisation: str = "",
    is_demo: bool = False,
    must_change_password: bool = False,
    email: str | None = None,
) -> User:
    """Add a user (flushes to get its id)."""
    user = User(
        username=username,
        full_name=full_name,
        password_hash=password_hash,
        role=role,
        region_code=region_code,
        organisation=organisation,
        is_demo=is_demo,
        must_change_password=must_change_password,
        email=email,
    )
    session.add(user)
    await session.flush()
    return user


async def count_active_demo_users(session: AsyncSession) -> int:
    """How many demo users can still log in (production refuses to start while any can)."""
    stmt = select(func.count()).select_from(User).where(User.is_demo.is_(True), User.active.is_(True))
    return int(await session.scalar(stmt) or 0)


async def list_usernames(session: AsyncSession, *, user_ids: Sequence[int]) -> dict[int, str]:
    """Login names of the given users, by id."""
    if not user_ids:
        return {}
    rows = await session.execute(select(User.id, User.username).where(User.id.in_(set(user_ids))))
    return {user_id: username for user_id, username in rows.all()}


@dataclass(frozen=True)
class UserFilter:
    """List filters; `scope_prefix` limits to the caller's region, `region_prefix` to a region inside it."""

    scope_prefix: str
    region_prefix: str | None = None
    role: str | None = None
    active: bool | None = None
    text: str | None = None


def _filtered(stmt: Select[Any], f: UserFilter) -> Select[Any]:
    stmt = stmt.where(User.region_code.startswith(f.scope_prefix))
    if f.region_prefix:
        stmt = stmt.where(User.region_code.startswith(f.region_prefix))
    if f.role:
        stmt = stmt.where(User.role == f.role)
    if f.active is not None:
        stmt = stmt.where(User.active.is_(f.active))
    if f.text:
        pattern = "%" + f.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(User.username.ilike(pattern), User.full_name.ilike(pattern)))
    return stmt


async def list_users_in_region(
    session: AsyncSession, *, filters: UserFilter, limit: int, offset: int
) -> tuple[Sequence[User], int]:
    """A page of users by region and login name, and the total that match."""
    total = int(await session.scalar(_filtered(select(func.count()).select_from(User), filters)) or 0)
    stmt = _filtered(select(User), filters).order_by(User.region_code, User.username, User.id)
    return (await session.scalars(stmt.limit(limit).offset(offset))).all(), total


async def update_user(session: AsyncSession, *, user_id: int, values: dict[str, Any]) -> User | None:
    """Change the given columns of one user and return the stored row."""
    if values:
        await session.execute(update(User).where(User.id == user_id).values(**values))
    return await session.get(User, user_id, populate_existing=True)


async def list_expert_links(session: AsyncSession, *, user_ids: Sequence[int]) -> dict[int, int]:
    """The expert each of these users is the login account of, by user id."""
    if not user_ids:
        return {}
    rows = await session.execute(select(Expert.user_id, Expert.id).where(Expert.user_id.in_(set(user_ids))))
    return {user_id: expert_id for user_id, expert_id in rows.all() if user_id is not None}
