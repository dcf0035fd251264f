"""Login rate-limit counters: one row per username and per client address, with the failures of its window and
the attempts being verified right now; rows are locked while an attempt is counted, so every replica counts alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Interval, delete, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import LoginThrottle
from domain.login_throttle import ThrottleScope


@dataclass(frozen=True)
class ThrottleCount:
    """One counter as an attempt found it: failures and attempts in flight in its window, seconds left of it."""

    scope: ThrottleScope
    key: str
    failures: int
    pending: int
    window_started_at: datetime
    seconds_left: int


async def lock_login_throttles(
    session: AsyncSession, *, keys: dict[ThrottleScope, str], window_seconds: int
) -> dict[ThrottleScope, ThrottleCount]:
    """The counters of `keys`, created if missing and started afresh if their window ended, locked until the
    transaction ends; every statement takes rows in one order (address, then username: sorted scopes), so two
    attempts never wait on each other in a cycle."""
    fresh = {"failures": 0, "pending": 0, "window_started_at": func.now()}
    rows = [{"scope": s.value, "key": keys[s], **fresh} for s in sorted(keys)]
    await session.execute(insert(LoginThrottle).values(rows).on_conflict_do_nothing())
    window = literal(timedelta(seconds=window_seconds), Interval())
    mine = or_(*((LoginThrottle.scope == s.value) & (LoginThrottle.key == keys[s]) for s in sorted(keys)))
    found = (
        await session.execute(
            select(LoginThrottle.scope, LoginThrottle.key)
            .where(mine)
            .order_by(LoginThrottle.scope, LoginThrottle.key)  # the order every statement here takes rows in
            .with_for_update()
        )
    ).all()
    assert len(found) == len(keys)
    await session.execute(
        update(LoginThrottle).where(mine, LoginThrottle.window_started_at <= func.now() - window).values(**fresh)
    )
    counts: dict[ThrottleScope, ThrottleCount] = {}
    result = await session.execute(
        select(
            LoginThrottle.scope,
            LoginThrottle.key,
            LoginThrottle.failures,
            LoginThrottle.pending,
            LoginThrottle.window_started_at,
            func.ceil(func.extract("epoch", LoginThrottle.window_started_at + window - func.now())),
        ).where(mine)
    )
    for scope, key, failures, pending, started, left in result.all():
        left = min(window_seconds, max(1, int(left)))
        counts[ThrottleScope(scope)] = ThrottleCount(ThrottleScope(scope), key, failures, pending, started, left)
    return counts


async def update_login_reserved(session: AsyncSession, *, keys: dict[ThrottleScope, str]) -> None:
    """One more attempt of these keys is being verified (their rows are locked by lock_login_throttles)."""
    for scope, key in sorted(keys.items()):
        await session.execute(
            update(LoginThrottle)
            .where(LoginThrottle.scope == scope.value, LoginThrottle.key == key)
            .values(pending=LoginThrottle.pending + 1)
        )


async def update_login_verified(
    session: AsyncSession, *, keys: dict[ThrottleScope, str], limits: dict[ThrottleScope, int], failed: bool
) -> dict[ThrottleScope, int]:
    """The attempt is over: it leaves the in-flight count; a failure is counted (the one that reaches a key's
    limit starts its window afresh, so a lock lasts a whole window however late in it the limit was reached);
    a success starts the username's count afresh. The failures of each key after it."""
    out: dict[ThrottleScope, int] = {}
    for scope, key in sorted(keys.items()):
        row = LoginThrottle
        values: dict[str, object] = {"pending": func.greatest(row.pending - 1, 0)}
        if failed:
            values["failures"] = row.failures + 1
        elif scope is ThrottleScope.USERNAME:
            values["failures"] = 0
        stmt = update(row).where(row.scope == scope.value, row.key == key).values(**values).returning(row.failures)
        failures = (await session.execute(stmt)).scalar_one_or_none() or 0
        if failed and failures == limits[scope]:
            await session.execute(
                update(row).where(row.scope == scope.value, row.key == key).values(window_started_at=func.now())
            )
        out[scope] = failures
    return out


async def delete_ended_login_throttles(session: AsyncSession, *, window_seconds: int) -> int:
    """Forget counters whose window ended (they would start afresh anyway); how many were removed."""
    window = literal(timedelta(seconds=window_seconds), Interval())
    result = await session.execute(delete(LoginThrottle).where(LoginThrottle.window_started_at <= func.now() - window))
    return int(getattr(result, "rowcount", 0) or 0)
