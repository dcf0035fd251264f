"""Users."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import User


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
