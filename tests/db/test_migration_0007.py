"""Migration 0007 (issue 9) recomputes stored contract ends and list colours with today's rules."""

from __future__ import annotations

from datetime import date

from alembic import command
from sqlalchemy import create_engine, text

from db.migrate import alembic_config, upgrade
from domain.assets import contract_end
from domain.colours import project_colour
from tests.db.conftest import seed_regions_and_applicant

# (asset id, start, term in years, the end the old code stored)
OLD_ENDS = [
    ("A1", date(2026, 12, 1), 10, date(2036, 12, 1)),
    ("A2", date(2028, 2, 29), 10, date(2038, 2, 28)),  # the old code clamped 29 Feb to the 28th
    ("A3", date(2028, 2, 29), 4, date(2032, 2, 29)),
    ("A4", date(2027, 3, 1), 1, date(2028, 3, 1)),
]
HAND_SET = ("A5", date(2024, 7, 1), 2, date(2026, 6, 30))  # not an end the old code computed: it stays
# (project code, overdue, construction archive colour)
PROJECTS = [("P1", False, "green"), ("P2", True, "green"), ("P3", False, ""), ("P4", False, "yellow")]


def _seed(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        seed_regions_and_applicant(conn)
        for code, overdue, archive in PROJECTS:
            conn.execute(
                text(
                    "INSERT INTO projects (code, name, project_type, village_code, township_code, county_code, "
                    "city_code, stage, status, total_budget_fen, planned_start, planned_end, applicant_id, "
                    "application, workflow_id, overdue, colour, construction_colour) VALUES (:code, 'p', "
                    "'greenhouse', '370115100201', '370115100', '370115', '370100', 'construction', 'active', 1, "
                    "'2026-12-01', '2027-06-01', 1, '{}', :wf, :overdue, :colour, :archive)"
                ),
                {
                    "code": code,
                    "wf": f"project-{code}",
                    "overdue": overdue,
                    "colour": "red" if overdue else "blue",  # what the old code kept
                    "archive": archive,
                },
            )
        for asset_id, start, years, end in [*OLD_ENDS, HAND_SET]:
            conn.execute(
                text(
                    "INSERT INTO assets (id, project_code, name, asset_class, quantity, unit, value_fen, location, "
                    "village_code, township_code, county_code, status, operator_name, operator_type, contract_mode, "
                    "contract_start, contract_end, contract_term_years, supervision, registration_status) VALUES "
                    "(:id, 'P1', 'a', 'operating', '1', '个', 1, 'x', '370115100201', '370115100', '370115', "
                    "'leased', 'op', 'cooperative', 'lease', :start, :end, :years, '{}', 'confirmed')"
                ),
                {"id": asset_id, "start": start, "end": end, "years": years},
            )
    engine.dispose()


def _read(url: str) -> tuple[dict[str, date], dict[str, str]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        ends = {r.id: r.contract_end for r in conn.execute(text("SELECT id, contract_end FROM assets"))}
        colours = {r.code: r.colour for r in conn.execute(text("SELECT code, colour FROM projects"))}
    engine.dispose()
    return ends, colours


def test_0007_recomputes_contract_ends_and_list_colours(fresh_url: str) -> None:
    upgrade(fresh_url, "0006")
    _seed(fresh_url)
    upgrade(fresh_url, "0007")
    ends, colours = _read(fresh_url)
    assert {a: ends[a] for a, *_ in OLD_ENDS} == {a: contract_end(start, years) for a, start, years, _ in OLD_ENDS}
    assert ends["A1"] == date(2036, 11, 30)
    assert ends[HAND_SET[0]] == HAND_SET[3]
    assert colours == {code: project_colour(overdue=o, archives=[a]) for code, o, a in PROJECTS}
    assert colours == {"P1": "green", "P2": "red", "P3": "blue", "P4": "yellow"}

    command.downgrade(alembic_config(fresh_url), "0006")
    ends, colours = _read(fresh_url)
    assert {a: ends[a] for a, *_ in OLD_ENDS} == {a: end for a, _, _, end in OLD_ENDS}
    assert colours == {"P1": "blue", "P2": "red", "P3": "blue", "P4": "blue"}
