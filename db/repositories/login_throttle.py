"""Login rate-limit counters: one row per username and per client address, updated by atomic upserts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Interval, case, delete, func, literal, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import LoginThrottle
from domain.login_throttle import ThrottleScope


@dataclass(frozen=True)
class ThrottleCount:
    """One counter after an attempt was counted: attempts in its window and seconds until the window ends."""

    scope: ThrottleScope
    key: str
    failures: int
    window_started_at: datetime
    seconds_left: int


async def update_login_attempts(
    session: AsyncSession, *, keys: dict[ThrottleScope, str], limits: dict[ThrottleScope, int], window_seconds: int
) -> dict[ThrottleScope, ThrottleCount]:
    """Count one attempt against each key (a new window when the old one ended); the counts after it.

    The attempt that first goes past a key's limit starts its window afresh, so a lock lasts a whole window
    however late in the window it began (no double allowance across a window's edge).
    One INSERT … ON CONFLICT DO UPDATE per call, so concurrent attempts on any replica are counted exactly;
    the clock is the database's, the one clock all replicas share. Rows are locked in scope order (username
    before address), so two attempts never wait on each other in a cycle."""
    window = literal(timedelta(seconds=window_seconds), Interval())
    limit = case(
        (LoginThrottle.scope == ThrottleScope.USERNAME.value, limits[ThrottleScope.USERNAME]),
        else_=limits[ThrottleScope.ADDRESS],
    )
    rows = [{"scope": s.value, "key": keys[s], "failures": 1, "window_started_at": func.now()} for s in sorted(keys)]
    insert_stmt = insert(LoginThrottle).values(rows)
    ended = LoginThrottle.window_started_at <= func.now() - window
    stmt = insert_stmt.on_conflict_do_update(
        index_elements=[LoginThrottle.scope, LoginThrottle.key],
        set_={
            "failures": case((ended, 1), else_=LoginThrottle.failures + 1),
            "window_started_at": case(
                (ended | (LoginThrottle.failures == limit), func.now()), else_=LoginThrottle.window_started_at
            ),
        },
    ).returning(
        LoginThrottle.scope,
        LoginThrottle.key,
        LoginThrottle.failures,
        LoginThrottle.window_started_at,
        func.ceil(func.extract("epoch", LoginThrottle.window_started_at + window - func.now())),
    )
    counts: dict[ThrottleScope, ThrottleCount] = {}
    for scope, key, failures, started, left in (await session.execute(stmt)).all():
        # now() is each transaction's start: one that waited on the row lock may see a window begun "after" it
        left = min(window_seconds, max(1, int(left)))
        counts[ThrottleScope(scope)] = ThrottleCount(ThrottleScope(scope), key, failures, started, left)
    return counts


async def update_login_succeeded(session: AsyncSession, *, username_key: str, address_key: str) -> None:
    """A correct password: the username's counter starts afresh and the address gets its attempt back."""
    await session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.scope == ThrottleScope.USERNAME.value, LoginThrottle.key == username_key
        )
    )
    await session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.scope == ThrottleScope.ADDRESS.value, LoginThrottle.key == address_key)
        .values(failures=func.greatest(LoginThrottle.failures - 1, 0))
    )


async def delete_ended_login_throttles(session: AsyncSession, *, window_seconds: int) -> int:
    """Forget counters whose window ended (they would start afresh anyway); how many were removed."""
    window = literal(timedelta(seconds=window_seconds), Interval())
    result = await session.execute(delete(LoginThrottle).where(LoginThrottle.window_started_at <= func.now() - window))
    return int(getattr(result, "rowcount", 0) or 0)
