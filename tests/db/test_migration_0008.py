"""Migration 0008 records which workflow takes each task's decision and each project's Updates; rows written before
belong to the lifecycle workflow `project-{code}` and keep routing there."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect, text

from db.migrate import alembic_config, upgrade
from tests.db.conftest import seed_regions_and_applicant

# project code → its tasks (a project may have none yet)
TASKS = {"P1": ["P1-township-1", "P1-county-1"], "P2": ["P2-township-1"], "P3": []}


def _seed(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        seed_regions_and_applicant(conn)
        for code, task_ids in TASKS.items():
            conn.execute(
                text(
                    "INSERT INTO projects (code, name, project_type, village_code, township_code, county_code, "
                    "city_code, stage, status, total_budget_fen, planned_start, planned_end, applicant_id, "
                    "application, workflow_id) VALUES (:code, 'p', 'greenhouse', '370115100201', '370115100', "
                    "'370115', '370100', 'township_review', 'active', 1, '2026-12-01', '2027-06-01', 1, '{}', :wf)"
                ),
                {"code": code, "wf": f"project-{code}"},
            )
            for task_id in task_ids:
                conn.execute(
                    text(
                        "INSERT INTO tasks (id, project_code, kind, stage, round, candidate_role, region_code, "
                        "allowed_decisions, status, opened_at, due_at) VALUES (:id, :code, 'township_review', "
                        "'township_review', 1, 'township_reviewer', '370115100', '[\"approve\"]', 'open', "
                        "'2026-11-02T00:00:00Z', '2026-11-09T00:00:00Z')"
                    ),
                    {"id": task_id, "code": code},
                )
    engine.dispose()


def _columns(url: str, table: str) -> set[str]:
    engine = create_engine(url)
    try:
        return {c["name"] for c in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def test_0008_backfills_owners_from_the_lifecycle_workflow_and_downgrades(fresh_url: str) -> None:
    upgrade(fresh_url, "0007")
    _seed(fresh_url)
    upgrade(fresh_url, "0008")
    engine = create_engine(fresh_url)
    with engine.connect() as conn:
        tasks: dict[str, str | None] = {
            r.id: r.workflow_id for r in conn.execute(text("SELECT id, workflow_id FROM tasks"))
        }
        phases: dict[str, str | None] = {
            r.code: r.phase_workflow_id for r in conn.execute(text("SELECT code, phase_workflow_id FROM projects"))
        }
    engine.dispose()
    assert tasks == {task_id: f"project-{code}" for code, ids in TASKS.items() for task_id in ids}
    assert phases == {"P1": "project-P1", "P2": "project-P2", "P3": "project-P3"}

    command.downgrade(alembic_config(fresh_url), "0007")
    assert "workflow_id" not in _columns(fresh_url, "tasks")
    assert "phase_workflow_id" not in _columns(fresh_url, "projects")
    assert "workflow_id" in _columns(fresh_url, "projects")
