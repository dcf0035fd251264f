"""Engine and session factory, built by the composition roots (never at import time)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

Sessions = async_sessionmaker[AsyncSession]


def make_engine(
    url: str, *, pool_size: int = 10, max_overflow: int | None = None, pool_timeout: float = 10.0
) -> AsyncEngine:
    """An async engine on psycopg 3 with pre-ping, so a restarted database is survived; waiting for a pooled
    connection or for a new one is bounded, so a busy or restarting database is answered (503), not waited on."""
    overflow = pool_size if max_overflow is None else max_overflow
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=overflow,
        pool_pre_ping=True,
        pool_timeout=pool_timeout,
        connect_args={"connect_timeout": 5},
    )


def make_sessions(engine: AsyncEngine) -> Sessions:
    """Sessions that keep loaded attributes after commit (they are read after the transaction)."""
    return async_sessionmaker(engine, expire_on_commit=False)
