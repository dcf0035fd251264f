"""The alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from db.models import Base

# Indexes with text_pattern_ops for prefix search exist only in the migration (the models cannot say it).
MIGRATION_ONLY_INDEXES = {"ix_projects_village_prefix", "ix_tasks_region_prefix"}


def _drift(url: str) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    return [d for d in diff if not (d[0] == "remove_index" and d[1].name in MIGRATION_ONLY_INDEXES)]


def test_migrated_schema_matches_models(database_url: str) -> None:
    assert _drift(database_url) == []
