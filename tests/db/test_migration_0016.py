"""Migration 0016 gives existing projects their registration and distribution archives, the archives of their open
overdue problems and the list colour of the four; problems get the archive they concern; and it downgrades."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect, text

from db.migrate import alembic_config, upgrade
from tests.db.conftest import seed_regions_and_applicant

# code → stage, construction colour
PROJECTS = {
    "P1": ("asset_registration", "green"),  # registering
    "P2": ("operation", "green"),  # its asset carded, an approved rule not yet paid
    "P3": ("operation", "green"),  # its asset still without a card
    "P4": ("construction", "red"),  # red, with an overdue problem
    "P5": ("township_review", ""),  # no archive yet
}


def _seed(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        seed_regions_and_applicant(conn)
        for code, (stage, construction) in PROJECTS.items():
            conn.execute(
                text(
                    "INSERT INTO projects (code, name, project_type, village_code, township_code, county_code, "
                    "city_code, stage, status, total_budget_fen, planned_start, planned_end, applicant_id, "
                    "application, workflow_id, construction_colour, colour) VALUES (:code, 'p', 'greenhouse', "
                    "'370115100201', '370115100', '370115', '370100', :stage, 'active', 1, '2025-03-01', "
                    "'2025-09-01', 1, '{}', :wf, :construction, 'blue')"
                ),
                {"code": code, "stage": stage, "wf": f"project-{code}", "construction": construction},
            )
        for code, card in (("P2", "SZ1"), ("P3", None)):
            conn.execute(
                text(
                    "INSERT INTO assets (id, project_code, name, asset_class, quantity, unit, value_fen, location, "
                    "village_code, township_code, county_code, status, operator_name, operator_type, contract_mode, "
                    "supervision, registration_status, platform_card_no) VALUES (:id, :code, 'a', 'operating', '1', "
                    "'座', 100, 'x', '370115100201', '370115100', '370115', 'in_use', '', '', '', '{}', 'draft', :card)"
                ),
                {"id": f"{code}-A1", "code": code, "card": card},
            )
        conn.execute(
            text(
                "INSERT INTO distribution_rules (id, asset_id, project_code, fiscal_year, version, status, rule, "
                "proposed_by, proposed_at) VALUES ('r1', 'P2-A1', 'P2', 2025, 1, 'approved', '{}', 1, now())"
            )
        )
        for key, code, source, deadline in (
            ("arrears:1", "P2", "rule", None),
            (None, "P4", "supervision", "2026-01-05"),
        ):
            conn.execute(
                text(
                    "INSERT INTO problems (key, project_code, county_code, township_code, source, description, "
                    "deadline, status, opened_at, region_code) VALUES (:key, :code, '370115', '370115100', :source, "
                    "'d', CAST(:deadline AS date), 'rectifying', now(), '370115100201')"
                ),
                {"key": key, "code": code, "source": source, "deadline": deadline},
            )
    engine.dispose()


def test_0016_backfills_the_archives_and_downgrades(fresh_url: str) -> None:
    upgrade(fresh_url, "0015")
    _seed(fresh_url)
    upgrade(fresh_url, "0016")
    engine = create_engine(fresh_url)
    with engine.connect() as conn:
        rows = {
            r.code: r
            for r in conn.execute(
                text(
                    "SELECT code, registration_colour, distribution_colour, problem_archives, colour, "
                    "construction_red_since FROM projects"
                )
            )
        }
        archives = dict(conn.execute(text("SELECT project_code, archive FROM problems")).all())
    engine.dispose()
    assert {
        c: (r.registration_colour, r.distribution_colour, r.problem_archives, r.colour) for c, r in rows.items()
    } == {
        "P1": ("blue", "", [], "blue"),
        "P2": ("green", "blue", [], "blue"),
        "P3": ("blue", "", [], "blue"),
        "P4": ("", "", ["construction"], "red"),
        "P5": ("", "", [], "blue"),
    }
    assert rows["P4"].construction_red_since is not None  # no audited change to red: the day of the upgrade
    assert archives == {"P2": "operation", "P4": "construction"}

    command.downgrade(alembic_config(fresh_url), "0015")
    engine = create_engine(fresh_url)
    try:
        columns = {c["name"] for c in inspect(engine).get_columns("projects")}
        assert "registration_colour" not in columns
        assert "problem_archives" not in columns
        with engine.connect() as conn:
            assert conn.execute(text("SELECT colour FROM projects WHERE code = 'P4'")).scalar_one() == "red"
    finally:
        engine.dispose()
