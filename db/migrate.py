"""Run alembic migrations programmatically (CLI, dev stack, tests, the compose migrate service)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """An alembic Config for our migrations and this database URL."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database to `revision` (blocking: call through asyncio.to_thread from async code)."""
    command.upgrade(alembic_config(url), revision)
